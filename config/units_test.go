package config

import "testing"

// TestSizesInFile: both forms of a size decode from the file (the parsing
// itself is tested in package units).
func TestSizesInFile(t *testing.T) {
	c := mustParse(t, "[http]\nmax_head_size = \"16KiB\"\nbody_extract_cap = 4096\n")
	if c.HTTP.MaxHeadSize != 16<<10 || c.HTTP.BodyExtractCap != 4096 {
		t.Fatalf("sizes: %+v", c.HTTP)
	}
}
