package prototest

import "testing"

// CheckGreetingReady checks the GreetingReady of a protocol whose greeting
// is one line: every line is final, the ready ones are ready and the
// others not.
func CheckGreetingReady(t *testing.T, judge func(line []byte) (ready, final bool), ready, notReady []string) {
	t.Helper()
	for _, want := range []bool{true, false} {
		lines := ready
		if !want {
			lines = notReady
		}
		for _, line := range lines {
			if r, final := judge([]byte(line)); r != want || !final {
				t.Errorf("%q: ready %v final %v, want %v true", line, r, final, want)
			}
		}
	}
}
