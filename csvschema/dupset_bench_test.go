package csvschema

import (
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// BenchmarkAddHashes adds 1M random hashes in batches of 4096 to a set sized
// for them, as the first pass does.
func BenchmarkAddHashes(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	hs := make([]uint64, 1<<20)
	for i := range hs {
		hs[i] = rng.Uint64() | 1
	}
	var scratch, cands []uint64
	for b.Loop() {
		s := newHashSet(maphash.MakeSeed(), false)
		s.reserve(len(hs) * 9 / 8)
		for i := 0; i < len(hs); i += 4096 {
			cands = s.addHashes(hs[i:i+4096], &scratch, cands[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(hs)), "ns/hash")
}
