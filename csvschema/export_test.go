package csvschema

import "hash/maphash"

// FixHashSeed makes every validation hash ids with one seed until restore
// is called, so that a fuzz target's coverage is the same each time it
// reads an input (the engine minimises an input by keeping its new
// coverage, and a random seed per validation made that coverage flaky).
func FixHashSeed() (restore func()) {
	s := maphash.MakeSeed()
	fixedSeed.Store(&s)
	return func() { fixedSeed.Store(nil) }
}

// SetChunkLimit has the parallel first pass cut its input into chunks of at
// most n bytes where a record ends before that (0: as large as the buffer).
func SetChunkLimit(n int) (restore func()) {
	old := chunkLimit.Swap(int64(n))
	return func() { chunkLimit.Store(old) }
}
