package stats

import "os"

// RunSampling collects, over one run, labelled samples of the target
// process (the proxy) and the CPU of this process (the bench itself). The
// scenarios of imapload, mixload and protoload fill their results from it.
type RunSampling struct {
	target  *Sampler
	self    Sampler
	selfA   ProcSample
	samples []ProcSample
	err     error
}

// NewRunSampling starts sampling this process, and t when it has a PID.
func NewRunSampling(t *Sampler) *RunSampling {
	s := &RunSampling{target: t, self: Sampler{PID: os.Getpid()}}
	s.selfA, _ = s.self.Sample("start")
	return s
}

// Take samples the target, labelled; the first error is kept for Err.
func (s *RunSampling) Take(label string) {
	if s.target == nil || s.target.PID <= 0 {
		return
	}
	p, err := s.target.Sample(label)
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.samples = append(s.samples, p)
}

// Find returns the target's sample with label.
func (s *RunSampling) Find(label string) (ProcSample, bool) {
	for _, p := range s.samples {
		if p.Label == label {
			return p, true
		}
	}
	return ProcSample{}, false
}

// Samples are the target's samples, in the order taken.
func (s *RunSampling) Samples() []ProcSample { return s.samples }

// SamplerError is the first sampling error's text, or "".
func (s *RunSampling) SamplerError() string {
	if s.err == nil {
		return ""
	}
	return s.err.Error()
}

// SelfCPU samples this process again and returns its cost since
// NewRunSampling, or nil when it could not be sampled.
func (s *RunSampling) SelfCPU() *ProcDelta {
	b, err := s.self.Sample("end")
	if err != nil || s.selfA.Label == "" {
		return nil
	}
	d := Delta(s.selfA, b)
	return &d
}
