package mockimap_test

import (
	"crypto/tls"
	"encoding/pem"
)

func certPEM(c *tls.Config) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificates[0].Certificate[0]})
}
