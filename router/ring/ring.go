// Package ring places accounts on cluster nodes by weighted rendezvous
// hashing (highest random weight, HRW) over xxhash.
//
// Every account has its own order of preference over the nodes: node i
// scores hash(account) mixed with hash(node i), weighted, and the best score
// wins. The order depends only on the account, the node names and their
// weights, never on the order the nodes were listed in, on map iteration or
// on randomness, so every proxy instance computes the same answer with no
// coordination.
//
// A node marked down (SetDown) is skipped: its accounts go to their own
// next node, and only its accounts move. When the node is marked up again
// exactly those accounts come back. Removing a node from the list has the
// same effect, and adding it back returns them.
//
// Locate does not allocate or lock and is safe for concurrent use with
// SetDown. See README.md for why rendezvous hashing was chosen over Maglev
// and a ring with virtual nodes.
package ring

import (
	"fmt"
	"math"
	"sort"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Node is one cluster member: a destination id and its relative weight.
type Node struct {
	Name string
	// Weight is the node's share relative to the others (n1 = 2 gets about
	// twice the accounts of a node of weight 1). Zero means 1.
	Weight float64
}

// MaxNodes bounds the cluster size. Lookups cost one hash mix per node.
const MaxNodes = 1024

// Ring is an immutable set of weighted nodes plus mutable health flags.
type Ring struct {
	names    []string  // sorted by name: ties (improbable) break by name
	seeds    []uint64  // hash of each name
	invW     []float64 // 1/weight
	weights  []float64
	weighted bool // weights differ: score with the logarithm
	down     []atomic.Bool
	index    map[string]int
	k        int      // entries per bucket in table: min(nodes, TableDepth)
	table    []uint16 // per bucket, its first k nodes in order of preference
}

// Accounts are hashed into 2^BucketBits buckets (placement groups) and
// rendezvous hashing orders the nodes per bucket. The first TableDepth
// nodes of every bucket's order are precomputed, so a lookup is one xxhash
// and one table read whatever the number of nodes or their weights; only
// when all of them are down does Locate score the nodes one by one. The
// bucket count is fixed (never derived from the node count) so that adding
// or removing a node changes no bucket's order among the other nodes.
const (
	BucketBits = 18
	TableDepth = 4
)

// New builds a ring over nodes. Names must be unique and non-empty;
// weights must be finite and not negative (zero means 1).
func New(nodes []Node) (*Ring, error) {
	if len(nodes) > MaxNodes {
		return nil, fmt.Errorf("ring: %d nodes, at most %d", len(nodes), MaxNodes)
	}
	ns := append([]Node(nil), nodes...)
	sort.Slice(ns, func(i, j int) bool { return ns[i].Name < ns[j].Name })
	r := &Ring{
		names:   make([]string, len(ns)),
		seeds:   make([]uint64, len(ns)),
		invW:    make([]float64, len(ns)),
		weights: make([]float64, len(ns)),
		down:    make([]atomic.Bool, len(ns)),
		index:   make(map[string]int, len(ns)),
	}
	for i, n := range ns {
		if n.Name == "" {
			return nil, fmt.Errorf("ring: node %d has an empty name", i)
		}
		if i > 0 && ns[i-1].Name == n.Name {
			return nil, fmt.Errorf("ring: node %q is listed twice", n.Name)
		}
		w := n.Weight
		switch {
		case w == 0:
			w = 1
		case w < 0 || math.IsNaN(w) || math.IsInf(w, 0):
			return nil, fmt.Errorf("ring: node %q: weight %v must be a positive number", n.Name, n.Weight)
		}
		r.names[i] = n.Name
		r.seeds[i] = xxhash.Sum64String(n.Name)
		r.weights[i] = w
		r.invW[i] = 1 / w
		r.index[n.Name] = i
		if w != r.weights[0] {
			r.weighted = true
		}
	}
	r.build()
	return r, nil
}

// bucketKey spreads bucket numbers over 64 bits before they are mixed with
// each node's seed.
func bucketKey(b uint64) uint64 { return b * 0x9e3779b97f4a7c15 }

func bucketOf(id string) uint64 { return xxhash.Sum64String(id) >> (64 - BucketBits) }

// build precomputes each bucket's first k nodes by rendezvous order.
func (r *Ring) build() {
	n := len(r.names)
	r.k = min(n, TableDepth)
	if r.k == 0 {
		return
	}
	r.table = make([]uint16, (1<<BucketBits)*r.k)
	top := make([]int, 0, r.k)
	for b := uint64(0); b < 1<<BucketBits; b++ {
		h := bucketKey(b)
		top = top[:0]
		for i := 0; i < n; i++ {
			// insert i into top (kept best first), dropping the k+1th
			j := len(top)
			for j > 0 && r.better(h, i, top[j-1]) {
				j--
			}
			if j >= r.k {
				continue
			}
			if len(top) < r.k {
				top = append(top, 0)
			}
			copy(top[j+1:], top[j:len(top)-1])
			top[j] = i
		}
		row := r.table[int(b)*r.k:]
		for j, i := range top {
			row[j] = uint16(i)
		}
	}
}

// mix is a 64-bit finalizer (from SplitMix64): every input bit affects
// every output bit, so hash(account) ^ hash(node) gives independent scores.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// weightedScore is -ln(u)/w for u uniform in (0,1) drawn from s: the
// smallest wins. Each node's value is exponentially distributed with rate
// w, so node i wins with probability w_i / sum(w).
func weightedScore(s uint64, invW float64) float64 {
	u := (float64(s>>11) + 0.5) * (1.0 / (1 << 53))
	return -math.Log(u) * invW
}

// Locate returns the node for the normalized account id, skipping nodes
// marked down. ok is false when every node is down (or there are none).
func (r *Ring) Locate(id string) (string, bool) {
	i := r.locate(bucketOf(id), nil)
	if i < 0 {
		return "", false
	}
	return r.names[i], true
}

// LocateFunc is Locate with an extra per-call condition: a node is used
// only when it is not marked down and usable(node) reports true (for
// example a per-protocol circuit breaker). usable is called only for
// nodes that would otherwise win, in the account's order of preference.
func (r *Ring) LocateFunc(id string, usable func(node string) bool) (string, bool) {
	i := r.locate(bucketOf(id), usable)
	if i < 0 {
		return "", false
	}
	return r.names[i], true
}

// locate returns the index of bucket b's first node that is up (and
// usable), or -1.
func (r *Ring) locate(b uint64, usable func(string) bool) int {
	if r.k == 0 {
		return -1
	}
	row := r.table[int(b)*r.k : int(b+1)*r.k]
	for _, i := range row {
		if !r.down[i].Load() && (usable == nil || usable(r.names[i])) {
			return int(i)
		}
	}
	if r.k == len(r.names) {
		return -1
	}
	return r.pickOrdered(bucketKey(b), r.k, usable)
}

// better reports whether node i beats node j for hash h (both >= 0).
func (r *Ring) better(h uint64, i, j int) bool {
	si, sj := mix(h^r.seeds[i]), mix(h^r.seeds[j])
	if !r.weighted {
		if si != sj {
			return si > sj
		}
		return i < j
	}
	wi, wj := weightedScore(si, r.invW[i]), weightedScore(sj, r.invW[j])
	if wi != wj {
		return wi < wj
	}
	return i < j
}

// pickOrdered walks the preference order for bucket key h, from position
// skip on, until a node is up and usable. Without allocating: each round
// selects the best node that ranks strictly after the previous round's
// choice.
func (r *Ring) pickOrdered(h uint64, skip int, usable func(string) bool) int {
	prev := -1
	for pos := range r.names {
		cur := -1
		for i := range r.names {
			if prev >= 0 && !r.better(h, prev, i) {
				continue // ranks at or before prev: already considered
			}
			if cur < 0 || r.better(h, i, cur) {
				cur = i
			}
		}
		if cur < 0 {
			return -1
		}
		if pos >= skip && !r.down[cur].Load() && (usable == nil || usable(r.names[cur])) {
			return cur
		}
		prev = cur
	}
	return -1
}

// Order appends the account's nodes to dst in its order of preference,
// ignoring health: Locate returns the first one that is up.
func (r *Ring) Order(id string, dst []string) []string {
	h := bucketKey(bucketOf(id))
	idx := make([]int, len(r.names))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return r.better(h, idx[a], idx[b]) })
	for _, i := range idx {
		dst = append(dst, r.names[i])
	}
	return dst
}

// SetDown marks a node down (skipped by Locate) or up again. It reports
// false when the ring has no such node.
func (r *Ring) SetDown(node string, down bool) bool {
	i, ok := r.index[node]
	if ok {
		r.down[i].Store(down)
	}
	return ok
}

// Down reports whether node is marked down (false for an unknown node).
func (r *Ring) Down(node string) bool {
	i, ok := r.index[node]
	return ok && r.down[i].Load()
}

// Nodes returns the nodes, sorted by name, with their effective weights.
func (r *Ring) Nodes() []Node {
	out := make([]Node, len(r.names))
	for i := range r.names {
		out[i] = Node{Name: r.names[i], Weight: r.weights[i]}
	}
	return out
}

// Has reports whether node is a member of the ring.
func (r *Ring) Has(node string) bool { _, ok := r.index[node]; return ok }
