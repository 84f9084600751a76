package ring

// The two schemes rendezvous hashing was measured against (README.md):
// a Maglev lookup table and a ring with virtual nodes. Test-only.

import (
	"sort"
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

type locator interface {
	Locate(id string) (string, bool)
}

// vnodeRing: each node owns vnodes points on a 64-bit circle; an account
// goes to the first point at or after its hash.
type vnodeRing struct {
	points []uint64
	owner  []int
	names  []string
}

func newVnodeRing(names []string, vnodes int) *vnodeRing {
	type pt struct {
		h uint64
		o int
	}
	var pts []pt
	for i, n := range names {
		seed := xxhash.Sum64String(n)
		for k := 0; k < vnodes; k++ {
			pts = append(pts, pt{mix(seed ^ uint64(k)*0x9e3779b97f4a7c15), i})
		}
	}
	sort.Slice(pts, func(a, b int) bool { return pts[a].h < pts[b].h })
	r := &vnodeRing{names: names}
	for _, p := range pts {
		r.points = append(r.points, p.h)
		r.owner = append(r.owner, p.o)
	}
	return r
}

func (r *vnodeRing) Locate(id string) (string, bool) {
	h := xxhash.Sum64String(id)
	i := sort.Search(len(r.points), func(i int) bool { return r.points[i] >= h })
	if i == len(r.points) {
		i = 0
	}
	return r.names[r.owner[i]], true
}

// maglev: Google's Maglev table (M = 65537 entries), filled from each
// node's own permutation.
type maglev struct {
	table []int32
	names []string
}

const maglevM = 65537

func newMaglev(names []string) *maglev {
	m := &maglev{table: make([]int32, maglevM), names: names}
	for i := range m.table {
		m.table[i] = -1
	}
	off := make([]uint64, len(names))
	skip := make([]uint64, len(names))
	next := make([]uint64, len(names))
	for i, n := range names {
		h := xxhash.Sum64String(n)
		off[i] = h % maglevM
		skip[i] = mix(h)%(maglevM-1) + 1
	}
	filled := 0
	for filled < maglevM {
		for i := range names {
			for {
				c := (off[i] + next[i]*skip[i]) % maglevM
				next[i]++
				if m.table[c] < 0 {
					m.table[c] = int32(i)
					filled++
					break
				}
			}
			if filled == maglevM {
				break
			}
		}
	}
	return m
}

func (m *maglev) Locate(id string) (string, bool) {
	return m.names[m.table[xxhash.Sum64String(id)%maglevM]], true
}

func hrwRing(ns []string) *Ring {
	nodes := make([]Node, len(ns))
	for i, n := range ns {
		nodes[i].Name = n
	}
	r, _ := New(nodes)
	return r
}

func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "n" + strconv.Itoa(i+1)
	}
	return out
}

// hrwDirect scores every node per lookup (rendezvous hashing without the
// bucket table).
type hrwDirect struct{ r *Ring }

func (d hrwDirect) Locate(id string) (string, bool) {
	h := xxhash.Sum64String(id)
	best := -1
	if !d.r.weighted {
		var bs uint64
		for i, seed := range d.r.seeds {
			if s := mix(h ^ seed); best < 0 || s > bs {
				best, bs = i, s
			}
		}
	} else {
		var bs float64
		for i, seed := range d.r.seeds {
			if s := weightedScore(mix(h^seed), d.r.invW[i]); best < 0 || s < bs {
				best, bs = i, s
			}
		}
	}
	return d.r.names[best], true
}

type candidate struct {
	name string
	make func(names []string) locator
}

var candidates = []candidate{
	{"hrw-table", func(ns []string) locator { return hrwRing(ns) }},
	{"hrw-direct", func(ns []string) locator { return hrwDirect{hrwRing(ns)} }},
	{"maglev", func(ns []string) locator { return newMaglev(ns) }},
	{"vnodes100", func(ns []string) locator { return newVnodeRing(ns, 100) }},
	{"vnodes1000", func(ns []string) locator { return newVnodeRing(ns, 1000) }},
}

// BenchmarkCandidates measures each scheme on 1M accounts: lookup cost,
// the busiest node's load over the mean ("max/mean"), and the share of all
// accounts that move when the middle node is removed ("moved%") against
// the minimum 1/N ("min%").
func BenchmarkCandidates(b *testing.B) {
	ids := synthAccounts(b)
	for _, n := range []int{3, 10, 50} {
		ns := nodeNames(n)
		rest := append(append([]string(nil), ns[:n/2]...), ns[n/2+1:]...)
		for _, c := range candidates {
			b.Run(c.name+"/nodes="+strconv.Itoa(n), func(b *testing.B) {
				full, less := c.make(ns), c.make(rest)
				cnt := map[string]int{}
				moved := 0
				for _, id := range ids {
					x, _ := full.Locate(id)
					y, _ := less.Locate(id)
					cnt[x]++
					if x != y {
						moved++
					}
				}
				busiest := 0
				for _, v := range cnt {
					busiest = max(busiest, v)
				}
				b.ReportAllocs()
				b.ResetTimer()
				i := 0
				for b.Loop() {
					full.Locate(ids[i&(1<<19-1)])
					i++
				}
				b.ReportMetric(float64(busiest)*float64(n)/float64(len(ids)), "max/mean")
				b.ReportMetric(100*float64(moved)/float64(len(ids)), "moved%")
				b.ReportMetric(100/float64(n), "min%")
			})
		}
	}
}
