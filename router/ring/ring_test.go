package ring

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
)

// numAccounts is 1M as the properties require; -short (the race run)
// uses fewer.
func numAccounts() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

var (
	accountsOnce sync.Once
	accounts     []string
)

// synthAccounts returns 1M (-short: 100k) synthetic, distinct account identifiers.
func synthAccounts(tb testing.TB) []string {
	tb.Helper()
	accountsOnce.Do(func() {
		accounts = make([]string, numAccounts())
		for i := range accounts {
			accounts[i] = "user" + strconv.Itoa(i) + "@example" + strconv.Itoa(i%97) + ".com"
		}
	})
	return accounts
}

func names(n int) []Node {
	out := make([]Node, n)
	for i := range out {
		out[i] = Node{Name: "n" + strconv.Itoa(i+1)}
	}
	return out
}

func mustNew(tb testing.TB, nodes []Node) *Ring {
	tb.Helper()
	r, err := New(nodes)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// assign locates every account and returns the chosen node of each.
func assign(tb testing.TB, r *Ring, ids []string) []string {
	tb.Helper()
	out := make([]string, len(ids))
	for i, id := range ids {
		d, ok := r.Locate(id)
		if !ok {
			tb.Fatalf("no node for %q", id)
		}
		out[i] = d
	}
	return out
}

func counts(a []string) map[string]int {
	m := map[string]int{}
	for _, d := range a {
		m[d]++
	}
	return m
}

func TestBalanceEqualWeights(t *testing.T) {
	ids := synthAccounts(t)
	for _, n := range []int{3, 5, 10} {
		r := mustNew(t, names(n))
		c := counts(assign(t, r, ids))
		if len(c) != n {
			t.Fatalf("%d nodes: only %d used", n, len(c))
		}
		mean := float64(len(ids)) / float64(n)
		maxLoad := 0
		for _, v := range c {
			maxLoad = max(maxLoad, v)
		}
		ratio := float64(maxLoad) / mean
		t.Logf("%2d nodes: busiest %.4f x mean", n, ratio)
		if ratio > 1.10 {
			t.Errorf("%d nodes: busiest node has %.3f x the mean load (want <= 1.10): %v", n, ratio, c)
		}
	}
}

func TestRemoveAndAddBackMovesOnlyThatNode(t *testing.T) {
	ids := synthAccounts(t)
	for _, n := range []int{3, 5, 10} {
		all := names(n)
		before := assign(t, mustNew(t, all), ids)
		gone := all[n/2].Name
		rest := append(append([]Node(nil), all[:n/2]...), all[n/2+1:]...)
		after := assign(t, mustNew(t, rest), ids)
		moved := 0
		for i := range ids {
			if before[i] != after[i] {
				moved++
				if before[i] != gone {
					t.Fatalf("%d nodes: %q moved from %s to %s though %s was removed", n, ids[i], before[i], after[i], gone)
				}
			} else if before[i] == gone {
				t.Fatalf("%d nodes: %q still on removed node %s", n, ids[i], gone)
			}
		}
		frac := float64(moved) / float64(len(ids))
		t.Logf("%2d nodes: removing one moved %.4f of accounts (1/N = %.4f)", n, frac, 1/float64(n))
		if frac > 1/float64(n)+0.01 {
			t.Errorf("%d nodes: %.4f of accounts moved, want <= %.4f", n, frac, 1/float64(n)+0.01)
		}
		// Adding it back (listed last this time) restores every account.
		back := assign(t, mustNew(t, append(rest, all[n/2])), ids)
		for i := range ids {
			if back[i] != before[i] {
				t.Fatalf("%d nodes: %q on %s after re-adding, was on %s", n, ids[i], back[i], before[i])
			}
		}
	}
}

func TestSetDownEqualsRemovalAndHeals(t *testing.T) {
	ids := synthAccounts(t)[:100_000]
	all := names(5)
	r := mustNew(t, all)
	before := assign(t, r, ids)
	without := assign(t, mustNew(t, append(append([]Node(nil), all[:2]...), all[3:]...)), ids)
	if !r.SetDown("n3", true) || !r.Down("n3") {
		t.Fatal("SetDown(n3) refused")
	}
	down := assign(t, r, ids)
	for i := range ids {
		if down[i] != without[i] {
			t.Fatalf("%q: %s with n3 down but %s with n3 removed", ids[i], down[i], without[i])
		}
		if before[i] != "n3" && down[i] != before[i] {
			t.Fatalf("%q moved from %s though only n3 is down", ids[i], before[i])
		}
	}
	// Each account's fallback is its own second choice.
	for _, id := range ids[:2000] {
		order := r.Order(id, nil)
		want := order[0]
		if want == "n3" {
			want = order[1]
		}
		if got, _ := r.Locate(id); got != want {
			t.Fatalf("%q: order %v, located %s with n3 down", id, order, got)
		}
	}
	r.SetDown("n3", false)
	healed := assign(t, r, ids)
	for i := range ids {
		if healed[i] != before[i] {
			t.Fatalf("%q on %s after n3 healed, was on %s", ids[i], healed[i], before[i])
		}
	}
}

// With more nodes down than the precomputed table holds, Locate scores the
// nodes one by one: the answer must still be the ring without those nodes.
func TestManyDownBeyondTable(t *testing.T) {
	ids := synthAccounts(t)[:100_000]
	for _, weighted := range []bool{false, true} {
		all := names(8)
		if weighted {
			all[0].Weight, all[5].Weight = 3, 0.5
		}
		r := mustNew(t, all)
		var up []Node
		for i, n := range all {
			if i%4 == 3 || i == 0 {
				up = append(up, n)
			} else {
				r.SetDown(n.Name, true)
			}
		}
		want := assign(t, mustNew(t, up), ids)
		got := assign(t, r, ids)
		for i := range ids {
			if got[i] != want[i] {
				t.Fatalf("weighted=%v %q: %s with 5 of 8 down, %s on a ring of the other 3", weighted, ids[i], got[i], want[i])
			}
		}
	}
}

func TestAllDownAndEmpty(t *testing.T) {
	r := mustNew(t, names(2))
	r.SetDown("n1", true)
	r.SetDown("n2", true)
	if d, ok := r.Locate("a@b"); ok {
		t.Fatalf("located %q with every node down", d)
	}
	if d, ok := r.LocateFunc("a@b", func(string) bool { return true }); ok {
		t.Fatalf("LocateFunc located %q with every node down", d)
	}
	e := mustNew(t, nil)
	if _, ok := e.Locate("a@b"); ok {
		t.Fatal("empty ring located a node")
	}
	if r.SetDown("zz", true) || r.Down("zz") || r.Has("zz") {
		t.Fatal("unknown node accepted")
	}
}

func TestWeights(t *testing.T) {
	ids := synthAccounts(t)
	r := mustNew(t, []Node{{Name: "n1", Weight: 2}, {Name: "n2"}, {Name: "n3", Weight: 1}, {Name: "n4", Weight: 0.5}})
	c := counts(assign(t, r, ids))
	total := 2 + 1 + 1 + 0.5
	for name, w := range map[string]float64{"n1": 2, "n2": 1, "n3": 1, "n4": 0.5} {
		want := float64(len(ids)) * w / total
		got := float64(c[name])
		t.Logf("%s weight %.1f: %d accounts (%.4f x its share)", name, w, c[name], got/want)
		if math.Abs(got/want-1) > 0.02 {
			t.Errorf("%s (weight %v): %d accounts, want about %.0f", name, w, c[name], want)
		}
	}
	// Weighted rings keep the minimal-movement property.
	before := assign(t, r, ids)
	r.SetDown("n1", true)
	after := assign(t, r, ids)
	for i := range ids {
		if before[i] != "n1" && after[i] != before[i] {
			t.Fatalf("%q moved from %s with only n1 down", ids[i], before[i])
		}
	}
}

func TestDeterministic(t *testing.T) {
	// The same set in any order gives the same answers, and the answers are
	// pinned: a change here would move accounts between releases.
	a := mustNew(t, []Node{{Name: "n1"}, {Name: "n2"}, {Name: "n3"}})
	b := mustNew(t, []Node{{Name: "n3"}, {Name: "n1"}, {Name: "n2"}})
	for _, id := range synthAccounts(t)[:10000] {
		x, _ := a.Locate(id)
		y, _ := b.Locate(id)
		if x != y {
			t.Fatalf("%q: %s vs %s depending on list order", id, x, y)
		}
	}
	golden := map[string]string{}
	for _, id := range []string{"alice@example.com", "bob@example.com", "carol@example.org", "dave@example.net", "erin@example.com", "frank@example.com"} {
		golden[id], _ = a.Locate(id)
	}
	got := fmt.Sprint(golden)
	const want = "map[alice@example.com:n1 bob@example.com:n2 carol@example.org:n2 dave@example.net:n1 erin@example.com:n2 frank@example.com:n2]"
	if got != want {
		t.Fatalf("placements changed:\n got %s\nwant %s", got, want)
	}
}

func TestLocateFuncMatchesOrder(t *testing.T) {
	for _, nodes := range [][]Node{names(6), {{Name: "a", Weight: 3}, {Name: "b"}, {Name: "c", Weight: 0.25}, {Name: "d"}}} {
		r := mustNew(t, nodes)
		for _, id := range synthAccounts(t)[:3000] {
			order := r.Order(id, nil)
			if len(order) != len(nodes) {
				t.Fatalf("order %v", order)
			}
			if first, _ := r.Locate(id); first != order[0] {
				t.Fatalf("%q: Locate %s, order %v", id, first, order)
			}
			// Refuse the first two: the third in order wins.
			var asked []string
			got, ok := r.LocateFunc(id, func(n string) bool {
				asked = append(asked, n)
				return n != order[0] && n != order[1]
			})
			if !ok || got != order[2] {
				t.Fatalf("%q: LocateFunc gave %s, order %v", id, got, order)
			}
			if fmt.Sprint(asked) != fmt.Sprint(order[:3]) {
				t.Fatalf("%q: asked %v, order %v", id, asked, order)
			}
		}
	}
}

func TestLocateDoesNotAllocate(t *testing.T) {
	r := mustNew(t, names(10))
	w := mustNew(t, []Node{{Name: "a", Weight: 2}, {Name: "b"}})
	r.SetDown("n2", true)
	usable := func(n string) bool { return n != "n1" }
	if a := testing.AllocsPerRun(1000, func() {
		r.Locate("someone@example.com")
		w.Locate("someone@example.com")
		r.LocateFunc("someone@example.com", usable)
	}); a != 0 {
		t.Fatalf("%v allocations per lookup", a)
	}
}

func TestNewErrors(t *testing.T) {
	for _, nodes := range [][]Node{
		{{Name: ""}},
		{{Name: "a"}, {Name: "a"}},
		{{Name: "a", Weight: -1}},
		{{Name: "a", Weight: math.NaN()}},
		{{Name: "a", Weight: math.Inf(1)}},
		make([]Node, MaxNodes+1),
	} {
		if _, err := New(nodes); err == nil {
			t.Errorf("New(%v...) accepted", nodes[0])
		}
	}
	r := mustNew(t, []Node{{Name: "b", Weight: 2}, {Name: "a"}})
	if fmt.Sprint(r.Nodes()) != "[{a 1} {b 2}]" {
		t.Fatalf("Nodes() = %v", r.Nodes())
	}
}

func TestConcurrentSetDown(t *testing.T) {
	r := mustNew(t, names(4))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r.SetDown("n1", i%2 == 0)
		}
	}()
	for _, id := range synthAccounts(t)[:50000] {
		if d, ok := r.Locate(id); !ok || !r.Has(d) {
			t.Fatalf("%q: %q %v", id, d, ok)
		}
	}
	close(stop)
	wg.Wait()
}
