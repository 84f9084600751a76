package stats

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux platform Go supports).
const ClockTicks = 100

// ProcSample is one observation of a process.
type ProcSample struct {
	Label string    `json:"label"`
	At    time.Time `json:"at"`
	// CPUSeconds is utime+stime so far.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSKiB is VmRSS; HWMKiB the peak RSS (VmHWM).
	RSSKiB  int64 `json:"rss_kib"`
	HWMKiB  int64 `json:"hwm_kib"`
	Threads int   `json:"threads"`
	// FDs is the number of open descriptors (-1 if /proc/<pid>/fd is not
	// readable).
	FDs int `json:"fds"`
	// Goroutines comes from a net/http/pprof endpoint when one is given
	// (-1 otherwise).
	Goroutines int `json:"goroutines"`
}

// Sampler observes one process. The zero PID means "no process": Sample
// then returns an error.
type Sampler struct {
	PID int
	// PprofURL is the base URL of a net/http/pprof handler (for example
	// switchyard's https://127.0.0.1:9443/debug/pprof/ with --pprof) or the
	// goroutine profile itself.
	PprofURL string
	// PprofToken, when set, is sent as "Authorization: Bearer <token>"
	// (switchyard serves pprof on its admin API, behind the admin token).
	PprofToken string
	// ProcRoot defaults to /proc (tests point it elsewhere).
	ProcRoot string
	// Client is used for PprofURL (default: a client with a 5 s timeout).
	Client *http.Client
}

// Sample takes one observation.
func (s *Sampler) Sample(label string) (ProcSample, error) {
	out := ProcSample{Label: label, At: time.Now(), FDs: -1, Goroutines: -1}
	if s == nil || s.PID <= 0 {
		return out, errors.New("stats: no pid to sample")
	}
	root := s.ProcRoot
	if root == "" {
		root = "/proc"
	}
	dir := root + "/" + strconv.Itoa(s.PID)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return out, err
	}
	if out.CPUSeconds, err = ParseStatCPU(stat); err != nil {
		return out, err
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return out, err
	}
	out.RSSKiB, out.HWMKiB, out.Threads = ParseStatus(status)
	if ents, err := os.ReadDir(dir + "/fd"); err == nil {
		out.FDs = len(ents)
	}
	if s.PprofURL != "" {
		n, err := s.goroutines()
		if err != nil {
			return out, fmt.Errorf("stats: goroutine count: %w", err)
		}
		out.Goroutines = n
	}
	return out, nil
}

// ParseStatCPU returns utime+stime in seconds from the contents of
// /proc/<pid>/stat. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func ParseStatCPU(stat []byte) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stats: malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	// After the name: field 3 (state) is f[0]; utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, errors.New("stats: short stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("stats: malformed utime/stime")
	}
	return float64(ut+st) / ClockTicks, nil
}

// ParseStatus returns VmRSS and VmHWM (KiB) and Threads from the contents
// of /proc/<pid>/status; missing fields are 0.
func ParseStatus(status []byte) (rssKiB, hwmKiB int64, threads int) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			rssKiB = n
		case "VmHWM":
			hwmKiB = n
		case "Threads":
			threads = int(n)
		}
	}
	return rssKiB, hwmKiB, threads
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

func (s *Sampler) goroutines() (int, error) {
	u := s.PprofURL
	if !strings.Contains(u, "goroutine") {
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		u += "goroutine?debug=1"
	}
	c := s.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	if s.PprofToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.PprofToken)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", u, resp.Status)
	}
	// The first line names the total; read only a bounded prefix.
	head, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, err
	}
	m := goroutineTotal.FindSubmatch(head)
	if m == nil {
		return 0, fmt.Errorf("%s: no goroutine total (is debug=1 set?)", u)
	}
	return strconv.Atoi(string(m[1]))
}

// ProcDelta compares two samples of the same process.
type ProcDelta struct {
	From string `json:"from"`
	To   string `json:"to"`
	// Seconds of wall time and of CPU time between the samples;
	// CPUPercent is CPU/wall (100 = one core busy).
	WallSeconds float64 `json:"wall_seconds"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	CPUPercent  float64 `json:"cpu_percent"`
	RSSDeltaKiB int64   `json:"rss_delta_kib"`
	FDDelta     int     `json:"fd_delta"`
	// GoroutineDelta is 0 when goroutines were not sampled.
	GoroutineDelta int `json:"goroutine_delta"`
}

// Delta returns b minus a.
func Delta(a, b ProcSample) ProcDelta {
	d := ProcDelta{
		From:        a.Label,
		To:          b.Label,
		WallSeconds: b.At.Sub(a.At).Seconds(),
		CPUSeconds:  b.CPUSeconds - a.CPUSeconds,
		RSSDeltaKiB: b.RSSKiB - a.RSSKiB,
	}
	if d.WallSeconds > 0 {
		d.CPUPercent = 100 * d.CPUSeconds / d.WallSeconds
	}
	if a.FDs >= 0 && b.FDs >= 0 {
		d.FDDelta = b.FDs - a.FDs
	}
	if a.Goroutines >= 0 && b.Goroutines >= 0 {
		d.GoroutineDelta = b.Goroutines - a.Goroutines
	}
	return d
}

// CPUText is the CPU cell of the result tables: "cpu S s<span> (P% of a
// core, U µs/<unit>)", with U to prec decimals and left out when perOp is
// 0 (this process's own row has none).
func CPUText(seconds, percent float64, span string, perOp float64, prec int, unit string) string {
	s := fmt.Sprintf("cpu %.2f s%s (%.0f%% of a core", seconds, span, percent)
	if perOp > 0 {
		s += fmt.Sprintf(", %.*f µs/%s", prec, perOp, unit)
	}
	return s + ")"
}
