package prototest

// Cuts turns fuzzer bytes into growing prefix lengths of data (steps of
// 1..16 octets as cuts says, all of data at once when cuts is empty),
// ending with all of it: the writes a fuzz target feeds a machine.
func Cuts(data, cuts []byte) []int {
	var ends []int
	for i, end := 0, 0; end < len(data); i++ {
		step := len(data)
		if len(cuts) > 0 {
			step = int(cuts[i%len(cuts)]%16) + 1
		}
		end = min(end+step, len(data))
		ends = append(ends, end)
	}
	return ends
}
