package ring

import (
	"strconv"
	"testing"
)

// BenchmarkLocate: one lookup per iteration over varied accounts. ns/op
// converts to lookups per second per core (1e9 / ns).
func BenchmarkLocate(b *testing.B) {
	ids := synthAccounts(b)[:1<<16]
	type ring struct {
		name string
		r    *Ring
	}
	var rings []ring
	for _, n := range []int{3, 5, 10, 20} {
		rings = append(rings, ring{"equal/nodes=" + strconv.Itoa(n), mustNew(b, names(n))})
	}
	for _, n := range []int{3, 10} {
		nodes := names(n)
		nodes[0].Weight = 2
		rings = append(rings, ring{"weighted/nodes=" + strconv.Itoa(n), mustNew(b, nodes)})
	}
	r := mustNew(b, names(10))
	r.SetDown("n3", true)
	rings = append(rings, ring{"one-down/nodes=10", r})
	for _, rg := range rings {
		b.Run(rg.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rg.r.Locate(ids[i&(1<<16-1)])
				i++
			}
		})
	}
	usable := func(n string) bool { return n != "n4" }
	b.Run("func/nodes=10", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r.LocateFunc(ids[i&(1<<16-1)], usable)
			i++
		}
	})
}

// BenchmarkNew: building the bucket table (done once per configuration).
func BenchmarkNew(b *testing.B) {
	for _, n := range []int{10, 100} {
		nodes := names(n)
		b.Run("nodes="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				mustNew(b, nodes)
			}
		})
	}
}
