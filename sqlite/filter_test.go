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
		others = 200_000 // still hundreds of false positives to count
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
	if rate > 0.003 {
		t.Errorf("false positive rate %.3f%%, want at most 0.3%%", 100*rate)
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
