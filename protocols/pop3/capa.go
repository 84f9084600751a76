package pop3

// capa answers CAPA (RFC 2449) for the current TLS state. USER and SASL
// are listed only where a login may happen (TLS, or cleartext allowed);
// STLS only before TLS. UTF8 has no USER argument: the proxy passes user
// names on as they come but cannot promise what the backend accepts.
func (s *Server) capa(out []byte) []byte {
	out = append(out, "+OK Capability list follows\r\n"...)
	out = append(out, "TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"...)
	if !s.cfg.NoUTF8 {
		out = append(out, "UTF8\r\n"...)
	}
	if s.cfg.StartTLS && !s.TLS {
		out = append(out, "STLS\r\n"...)
	}
	if s.cleartextOK() {
		out = append(out, "USER\r\n"...)
		if len(s.mechs) > 0 {
			out = append(out, "SASL"...)
			for _, m := range s.mechs {
				out = append(out, ' ')
				out = append(out, m...)
			}
			out = append(out, "\r\n"...)
		}
	}
	return append(out, ".\r\n"...)
}
