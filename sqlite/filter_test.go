package sqlite

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// A generation's filter never misses a hash it holds, and names a hash it
// does not hold rarely (the cost of one index lookup each time): at its
// capacity, with hashes of real ids.
func TestHashFilter(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	gs := &generations{bits: genBits}
	f := newHashFilter(gs.capacity())
	ids := func(n int, prefix string) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = idHash(prefix + string(rune('a'+rng.IntN(26))) + strconv.FormatInt(rng.Int64(), 10))
		}
		return out
	}
	held := ids(gs.capacity(), "held-")
	for _, h := range held {
		f.add(h)
	}
	for _, h := range held {
		if !f.has(h) {
			t.Fatalf("filter misses hash %d it was given", h)
		}
	}
	others := 1_000_000
	if testing.Short() {
		others = 400_000 // still dozens of false positives to count
	}
	other := ids(others, "other-")
	fp := 0
	for _, h := range other {
		if f.has(h) {
			fp++
		}
	}
	rate := float64(fp) / float64(len(other))
	t.Logf("false positives: %d of %d (%.3f%%) at %d bits a hash", fp, len(other), 100*rate, filterBitsPerKey)
	if rate > 0.0005 {
		t.Errorf("false positive rate %.3f%%, want at most 0.05%%", 100*rate)
	}
}

// BenchmarkFilterChecks: a shard's batch (500 rows, sorted by hash) asked
// of the filters of 48 older generations (50M rows stored over two
// shards), as PutTransactions does.
func BenchmarkFilterChecks(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	gs := &generations{bits: genBits}
	for n := range int64(49) {
		g := gs.open(n)
		for range 1 << genBits {
			g.filter.add(int64(rng.Uint64()))
		}
	}
	rows := make([]putRow, 500)
	named := 0
	for b.Loop() {
		for i := range rows {
			rows[i].hash = int64(rng.Uint64())
		}
		slices.SortFunc(rows, func(a, b putRow) int { return cmp.Compare(a.hash, b.hash) })
		_, maybe := gs.named(48, rows)
		for _, m := range maybe {
			if m {
				named++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	b.ReportMetric(float64(named)/float64(b.N*len(rows)), "named/row")
}

// A sealed filter stored at the former 16 bits a hash is read back into a
// group of its own size (checked with the others, not alone), and still
// holds every hash it was given; a filter of today's size goes to another
// group.
func TestDecodeOldSizeFilter(t *testing.T) {
	t.Parallel()
	gs := &generations{bits: 12}
	defer gs.release()
	rng := rand.New(rand.NewPCG(9, 10))
	n := filterBlocksAt(gs.capacity(), oldFilterBitsPerKey)
	if n == filterBlocks(gs.capacity()) {
		t.Fatalf("old and new filters both have %d blocks", n)
	}
	old := &hashFilter{nblocks: n, own: make([][8]uint32, n)}
	held := make([]int64, gs.capacity())
	for i := range held {
		held[i] = int64(rng.Uint64())
		old.add(held[i])
	}
	g0 := &generation{n: 0}
	f0, err := gs.decodeFilter(g0, old.encode())
	if err != nil {
		t.Fatal(err)
	}
	g0.filter = f0
	gs.list = append(gs.list, g0)
	if f0.grp == nil || f0.nblocks != n {
		t.Fatalf("old-size filter: group %v, %d blocks; want a group, %d blocks", f0.grp != nil, f0.nblocks, n)
	}
	rows := make([]putRow, len(held))
	for i, h := range held {
		if !f0.has(h) {
			t.Fatalf("decoded filter misses hash %d", h)
		}
		rows[i].hash = h
	}
	slices.SortFunc(rows, func(a, b putRow) int { return cmp.Compare(a.hash, b.hash) })
	g1 := gs.open(1)
	if g1.filter.grp == nil || g1.filter.grp == f0.grp {
		t.Fatalf("a new filter shares the old-size filters' group (or has none)")
	}
	byGen, maybe := gs.named(1, rows)
	if len(byGen[0]) != len(rows) {
		t.Fatalf("named %d of %d rows in generation 0, want all", len(byGen[0]), len(rows))
	}
	for i, m := range maybe {
		if !m {
			t.Fatalf("row %d not named", i)
		}
	}
}
