package imapload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/switchyard-mail/switchyard/bench/imapclient"
	"github.com/switchyard-mail/switchyard/bench/internal/imapwire"
	"github.com/switchyard-mail/switchyard/bench/stats"
)

// FetchOptions configure the bulk-transfer scenario: each of Concurrency
// clients logs in once, selects INBOX, then repeats FETCH 1 (BODY[]) until
// Duration has passed, reading each literal into a large buffer and
// throwing it away.
type FetchOptions struct {
	Options
	// Duration of the transfer phase (default 10 s, at most MaxDuration);
	// logging in is not part of it.
	Duration time.Duration
	// BufferSize is the read buffer of each client (default 256 KiB).
	BufferSize int
}

// FetchResult is a Result (Ops = completed fetches, Latency = per fetch)
// with the bytes moved.
type FetchResult struct {
	Result
	// Bytes of literal data read during the transfer phase, including the
	// part of fetches cut by the end of the run.
	Bytes         int64   `json:"bytes"`
	MBPerSec      float64 `json:"mb_per_sec"` // 1 MB = 10^6 bytes
	FetchesPerSec float64 `json:"fetches_per_sec"`
	// LiteralSize is the size of the fetched message (last literal seen).
	LiteralSize int64 `json:"literal_size"`
	// CPUSecondsPerGB is the target's CPU time per 10^9 bytes moved (with
	// a sampler).
	CPUSecondsPerGB float64 `json:"cpu_s_per_gb,omitempty"`
}

// fetcher is one logged-in client in the transfer phase.
type fetcher struct {
	conn net.Conn
	br   *bufio.Reader
	buf  []byte
	tag  []byte
	cmd  []byte
	n    uint64
}

var errNoLiteral = errors.New("no literal in the FETCH response")

// readLine returns one line without CRLF; valid until the next read.
func (f *fetcher) readLine() ([]byte, error) {
	line, err := f.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, imapclient.ErrLineTooLong
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// fetchOnce sends FETCH 1 (BODY[]) and reads the answer, adding literal
// bytes to moved as they arrive. It returns the size of the last literal.
func (f *fetcher) fetchOnce(moved *atomic.Int64) (int64, error) {
	f.n++
	f.tag = strconv.AppendUint(append(f.tag[:0], 'f'), f.n, 10)
	f.cmd = append(append(f.cmd[:0], f.tag...), " FETCH 1 (BODY[])\r\n"...)
	if _, err := f.conn.Write(f.cmd); err != nil {
		return 0, err
	}
	var lit int64 = -1
	for {
		line, err := f.readLine()
		if err != nil {
			return 0, err
		}
		if len(line) > len(f.tag) && line[len(f.tag)] == ' ' && bytes.Equal(line[:len(f.tag)], f.tag) {
			st, text, _ := bytes.Cut(line[len(f.tag)+1:], []byte{' '})
			if string(st) != "OK" {
				return 0, &imapclient.StatusError{Cmd: "FETCH", Status: string(st), Text: string(text)}
			}
			if lit < 0 {
				return 0, errNoLiteral
			}
			return lit, nil
		}
		if !bytes.HasPrefix(line, []byte("* ")) {
			return 0, fmt.Errorf("unexpected line %q", clip(line))
		}
		for {
			n, ok := imapwire.LiteralSize(line)
			if !ok {
				break
			}
			lit = n
			if err := f.copyLiteral(n, moved); err != nil {
				return 0, err
			}
			if line, err = f.readLine(); err != nil {
				return 0, err
			}
		}
	}
}

// copyLiteral reads n bytes and discards them, through f.buf.
func (f *fetcher) copyLiteral(n int64, moved *atomic.Int64) error {
	for n > 0 {
		k, err := f.br.Read(f.buf[:min(n, int64(len(f.buf)))])
		n -= int64(k)
		moved.Add(int64(k))
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}

// RunFetch runs the bulk-transfer scenario. The target is sampled once
// every client is logged in ("start") and when the transfer phase ends
// ("end"), so its CPU time is that of moving bytes only.
func RunFetch(ctx context.Context, o FetchOptions) (*FetchResult, error) {
	d, err := o.dialer()
	if err != nil {
		return nil, err
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Duration > MaxDuration {
		o.Duration = MaxDuration
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 256 << 10
	}
	if o.BufferSize < 4096 || o.BufferSize > 64<<20 {
		return nil, fmt.Errorf("buffer size %d: want 4 KiB..64 MiB", o.BufferSize)
	}
	var (
		ph      Phases
		fetchH  stats.Histogram
		errs    stats.Errors
		moved   atomic.Int64
		fetches atomic.Int64
		lastLit atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex
	)
	res := &FetchResult{Result: Result{Scenario: "fetch", Target: o.Target, TLS: o.TLS, Auth: o.Auth,
		Concurrency: o.Concurrency, Sources: o.Sources, Started: time.Now()}}

	// Log every client in and select INBOX.
	var ready []*fetcher
	for w := 0; w < o.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, oerr := open(ctx, &o.Options, d, o.Accounts[w%len(o.Accounts)], &ph, false, 4096, 1024)
			if oerr != nil {
				errs.Add(oerr.kind())
				return
			}
			if _, err := c.Select("INBOX"); err != nil {
				c.Close()
				errs.Add(fail("select", err).kind())
				return
			}
			if c.Buffered() != 0 {
				c.Close()
				errs.Add("select: unexpected data after the answer")
				return
			}
			conn := c.Conn()
			conn.SetDeadline(time.Time{})
			f := &fetcher{conn: conn, br: bufio.NewReaderSize(conn, 64<<10), buf: make([]byte, o.BufferSize)}
			mu.Lock()
			ready = append(ready, f)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	defer func() {
		for _, f := range ready {
			f.conn.Close()
		}
	}()
	res.Established = len(ready)
	if len(ready) == 0 {
		res.Errors = errs.Total()
		res.ErrorsByKind = errs.Sorted()
		res.Phases = ph.Summaries(o.TLS, false)
		return res, errors.New("no client could log in")
	}

	// Transfer.
	smp := stats.NewRunSampling(o.Sampler)
	smp.Take("start")
	t0 := time.Now()
	end := t0.Add(o.Duration)
	tctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var lastB int64
	var lastT time.Duration
	stopProgress := startProgress(&o.Options, func(el time.Duration) string {
		b := moved.Load()
		rate := float64(b-lastB) / 1e6 / (el - lastT).Seconds()
		lastB, lastT = b, el
		return fmt.Sprintf("%.0f MB/s, %d fetches, errors %d", rate, fetches.Load(), errs.Total())
	})
	stopTimeline := stats.StartTimeline(o.Timeline, o.Sampler, fetches.Load, errs.Total, moved.Load, &fetchH)
	for _, f := range ready {
		wg.Add(1)
		go func(f *fetcher) {
			defer wg.Done()
			for tctx.Err() == nil {
				ts := time.Now()
				dl := ts.Add(o.Timeout)
				if dl.After(end) {
					dl = end
				}
				f.conn.SetDeadline(dl)
				n, err := f.fetchOnce(&moved)
				if err != nil {
					if tctx.Err() != nil || !time.Now().Before(end) {
						return // cut by the end of the run
					}
					errs.Add(fail("fetch", err).kind())
					return // the session's state is unknown: stop it
				}
				fetchH.RecordDuration(time.Since(ts))
				fetches.Add(1)
				lastLit.Store(n)
			}
		}(f)
	}
	// Interrupt in-flight reads when the caller cancels.
	stopWatch := context.AfterFunc(tctx, func() {
		if ctx.Err() != nil {
			mu.Lock()
			for _, f := range ready {
				f.conn.SetDeadline(time.Now())
			}
			mu.Unlock()
		}
	})
	defer stopWatch()
	wg.Wait()
	res.Timeline = stopTimeline()
	wall := time.Since(t0)
	if wall > o.Duration && ctx.Err() == nil {
		wall = o.Duration // reads stop at the deadline; the rest is teardown
	}
	smp.Take("end")
	stopProgress()

	res.SetCounts(wall, fetches.Load(), &errs, &fetchH)
	res.Phases = ph.Summaries(o.TLS, false)
	res.Bytes = moved.Load()
	res.MBPerSec = float64(res.Bytes) / 1e6 / wall.Seconds()
	res.FetchesPerSec = res.OpsPerSec
	res.LiteralSize = lastLit.Load()
	res.Result.SetCost(smp, "")
	if c := res.TargetCost; c != nil && res.Bytes > 0 {
		res.CPUSecondsPerGB = c.CPUSeconds / (float64(res.Bytes) / 1e9)
	}
	if res.Bytes == 0 && res.Errors > 0 {
		return res, errors.New("no data could be fetched")
	}
	return res, nil
}

// WriteText prints r as a table: the common part, then the transfer.
func (r *FetchResult) WriteText(w io.Writer) error {
	if err := r.Result.WriteText(w); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "clients logged in\t%d of %d\n", r.Established, r.Concurrency)
	fmt.Fprintf(tw, "message size\t%d bytes\n", r.LiteralSize)
	fmt.Fprintf(tw, "moved\t%.1f MB in %.2f s: %.1f MB/s, %.1f fetches/s\n", float64(r.Bytes)/1e6, r.WallSeconds, r.MBPerSec, r.FetchesPerSec)
	if r.CPUSecondsPerGB > 0 {
		fmt.Fprintf(tw, "target per GB\t%.3f CPU-s/GB\n", r.CPUSecondsPerGB)
	}
	return tw.Flush()
}

// WriteJSON writes r, indented, to path.
func (r *FetchResult) WriteJSON(path string) error {
	b, err := jsonIndent(r)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
