//go:build linux

package splice

import (
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-mail/switchyard/internal/testnet"
)

// Benchmarks move b.N MiB from a source peer to a sink peer over loopback,
// through the bridge (or directly, for the ceiling). Both peers run in this
// process on the same 2 vCPUs, so throughput is a lower bound. For the epoll
// bridge, relay-CPU-s/GB is the CPU time of the loop threads alone (from
// /proc/self/task/<tid>/stat, 10 ms ticks); process-CPU-s/GB counts the
// peers too (compare with BenchmarkDirect's for the relay's share).

const benchChunk = 1 << 20

type stream struct{ src, dst net.Conn }

func runStreams(b *testing.B, streams []stream, eb *epBridge) {
	chunk := randomBytes(benchChunk, 77)
	b.SetBytes(benchChunk)
	per := make([]int, len(streams))
	for i := range b.N {
		per[i%len(streams)]++
	}
	cpu0, proc0 := loopCPU(eb), processCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range per[i] {
				if _, err := s.src.Write(chunk); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			left := int64(per[i]) * benchChunk
			for left > 0 {
				n, err := s.dst.Read(buf[:min(int64(len(buf)), left)])
				left -= int64(n)
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if b.N > 0 {
		gb := float64(b.N) * benchChunk / 1e9
		b.ReportMetric((processCPU()-proc0).Seconds()/gb, "process-CPU-s/GB")
		if eb != nil {
			b.ReportMetric((loopCPU(eb)-cpu0).Seconds()/gb, "relay-CPU-s/GB")
		}
	}
}

// processCPU is the CPU time of this whole process (peers included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU is the CPU time used so far by the bridge's loop threads.
func loopCPU(eb *epBridge) time.Duration {
	if eb == nil {
		return 0
	}
	var total time.Duration
	for _, l := range eb.loops {
		data, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(int(l.tid.Load())) + "/stat")
		if err != nil {
			continue
		}
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.Atoi(fields[11])
		stime, _ := strconv.Atoi(fields[12])
		total += time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return total
}

func plainStreams(b *testing.B, br Bridge, n int) []stream {
	ln := testnet.Listen(b)
	out := make([]stream, n)
	for i := range out {
		bs := bridge(b, br, ln, nil, nil)
		out[i] = stream{src: bs.client, dst: bs.backend}
	}
	return out
}

func directStreams(b *testing.B, n int) []stream {
	ln := testnet.Listen(b)
	out := make([]stream, n)
	for i := range out {
		c, a := testnet.Pair(b, ln)
		out[i] = stream{src: c, dst: a}
	}
	return out
}

func benchBridge(b *testing.B, cfg Config, n int) {
	br := newBridge(b, cfg)
	eb, _ := br.(*epBridge)
	runStreams(b, plainStreams(b, br, n), eb)
}

func BenchmarkDirect(b *testing.B)        { runStreams(b, directStreams(b, 1), nil) }
func BenchmarkDirect100(b *testing.B)     { runStreams(b, directStreams(b, 100), nil) }
func BenchmarkSplice1Stream(b *testing.B) { benchBridge(b, Config{}, 1) }
func BenchmarkSplice100Streams(b *testing.B) {
	benchBridge(b, Config{}, 100)
}
func BenchmarkSplice1Stream64KiBPipes(b *testing.B) { benchBridge(b, Config{PipeSize: 64 << 10}, 1) }
func BenchmarkCopyFallback1Stream(b *testing.B)     { benchBridge(b, Config{MaxPipes: -1}, 1) }
func BenchmarkCopyFallback100Streams(b *testing.B) {
	benchBridge(b, Config{MaxPipes: -1}, 100)
}
func BenchmarkPortable1Stream(b *testing.B) { benchBridge(b, Config{Portable: true}, 1) }

// BenchmarkTLSLeg: backend → bridge (plaintext read, crypto/tls encrypt) →
// TLS client (decrypts in this process too).
func BenchmarkTLSLeg(b *testing.B) {
	for _, portable := range []bool{false, true} {
		name := "epoll"
		if portable {
			name = "portable"
		}
		b.Run(name, func(b *testing.B) {
			br := newBridge(b, Config{Portable: portable})
			ts := startTLS(b, br, testnet.Listen(b), false, nil)
			eb, _ := br.(*epBridge)
			runStreams(b, []stream{{src: ts.backend, dst: ts.client}}, eb)
			ts.backend.Close()
			_, _ = io.Copy(io.Discard, ts.client)
		})
	}
}
