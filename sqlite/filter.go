package sqlite

import (
	"encoding/binary"
	"fmt"
)

// hashFilter is a split-block Bloom filter of id hashes (the layout of
// Parquet's): a hash sets 8 bits in one 256-bit block, picked by the
// hash's top bits, in the order PutTransactions sorts a batch. The filters
// of generations of the usual size share filterGroups, where the blocks of
// one index for up to groupSize generations are next to each other, so a
// row is checked against all of them in one or two cache misses instead
// of one per generation (measured: 59 ns per generation and row, one
// filter after the other).
type hashFilter struct {
	nblocks int
	own     [][8]uint32  // its blocks, or
	grp     *filterGroup // its slot of a group
	slot    int
}

// groupSize is the number of generations a filterGroup holds.
const groupSize = 8

type filterGroup struct {
	blocks [][groupSize][8]uint32
	free   func() // returns the blocks' memory (allocGroupBlocks)
	gens   [groupSize]*generation
	used   int
}

var filterSalts = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

func filterBlocks(keys int) int { return filterBlocksAt(keys, filterBitsPerKey) }

func filterBlocksAt(keys, bitsPerKey int) int { return max((keys*bitsPerKey+255)/256, 1) }

// oldFilterBitsPerKey is the filters' size before filterBitsPerKey: the
// sealed filters stored then are still grouped when a shard opens.
const oldFilterBitsPerKey = 16

// newHashFilter returns a filter of its own for keys hashes.
func newHashFilter(keys int) *hashFilter {
	n := filterBlocks(keys)
	return &hashFilter{nblocks: n, own: make([][8]uint32, n)}
}

// newFilter returns an empty filter of capacity() hashes for g, in the
// last group (or a new one).
func (gs *generations) newFilter(g *generation) *hashFilter {
	return gs.groupFilter(g, filterBlocks(gs.capacity()))
}

// groupFilter returns an empty filter of n blocks for g, in the last group
// if its filters have n blocks (or a new one).
func (gs *generations) groupFilter(g *generation, n int) *hashFilter {
	if k := len(gs.groups); k == 0 || gs.groups[k-1].used == groupSize || len(gs.groups[k-1].blocks) != n {
		blocks, free := allocGroupBlocks(n)
		gs.groups = append(gs.groups, &filterGroup{blocks: blocks, free: free})
	}
	grp := gs.groups[len(gs.groups)-1]
	grp.gens[grp.used] = g
	grp.used++
	return &hashFilter{nblocks: n, grp: grp, slot: grp.used - 1}
}

// decodeFilter returns g's filter from its encoding: in a group if it has
// the usual size (or the usual size of oldFilterBitsPerKey).
func (gs *generations) decodeFilter(g *generation, b []byte) (*hashFilter, error) {
	if len(b) == 0 || len(b)%32 != 0 {
		return nil, fmt.Errorf("filter of %d bytes, want a multiple of 32", len(b))
	}
	var f *hashFilter
	if n := len(b) / 32; n == filterBlocks(gs.capacity()) || n == filterBlocksAt(gs.capacity(), oldFilterBitsPerKey) {
		f = gs.groupFilter(g, n)
	} else {
		f = &hashFilter{nblocks: len(b) / 32, own: make([][8]uint32, len(b)/32)}
	}
	for i := range f.nblocks {
		blk := f.block(i)
		for j := range blk {
			blk[j] = binary.LittleEndian.Uint32(b[(i*8+j)*4:])
		}
	}
	return f, nil
}

func (f *hashFilter) block(i int) *[8]uint32 {
	if f.grp != nil {
		return &f.grp.blocks[i][f.slot]
	}
	return &f.own[i]
}

// locate returns h's block index among n and the bits it sets there.
// Signed order of hashes is the order of their blocks.
func locate(h int64, n int) (int, uint32) {
	u := uint64(h) ^ 1<<63
	return int((u >> 32) * uint64(n) >> 32), uint32((u * 0xbf58476d1ce4e5b9) >> 32)
}

func matches(b *[8]uint32, x uint32) bool {
	m := masks(x)
	return matchesMasks(b, &m)
}

// masks are the bits x sets in each word of its block.
func masks(x uint32) (m [8]uint32) {
	for i, s := range filterSalts {
		m[i] = 1 << ((x * s) >> 27)
	}
	return m
}

func matchesMasks(b, m *[8]uint32) bool {
	for i := range b {
		if b[i]&m[i] == 0 {
			return false
		}
	}
	return true
}

// encode is the filter's blocks, little-endian.
func (f *hashFilter) encode() []byte {
	b := make([]byte, 0, f.nblocks*32)
	for i := range f.nblocks {
		for _, w := range f.block(i) {
			b = binary.LittleEndian.AppendUint32(b, w)
		}
	}
	return b
}

func (f *hashFilter) add(h int64) {
	i, x := locate(h, f.nblocks)
	b := f.block(i)
	for k, s := range filterSalts {
		b[k] |= 1 << ((x * s) >> 27)
	}
}

// has reports whether h may have been added; false means it was not.
func (f *hashFilter) has(h int64) bool {
	i, x := locate(h, f.nblocks)
	return matches(f.block(i), x)
}

// named returns the rows (sorted by hash) whose hash the filter of a
// generation other than n may hold, by generation, and marks them in
// maybe. The writer calls it.
func (gs *generations) named(n int64, rows []putRow) (byGen map[int64][]int, maybe []bool) {
	byGen = map[int64][]int{}
	maybe = make([]bool, len(rows))
	for _, grp := range gs.groups {
		nb := len(grp.blocks)
		for i := range rows {
			k, x := locate(rows[i].hash, nb)
			m := masks(x)
			blks := &grp.blocks[k]
			for s := range grp.used {
				if g := grp.gens[s]; g.n != n && matchesMasks(&blks[s], &m) {
					byGen[g.n] = append(byGen[g.n], i)
					maybe[i] = true
				}
			}
		}
	}
	for _, g := range gs.list {
		if g.filter.grp != nil || g.n == n {
			continue
		}
		for i := range rows {
			if g.filter.has(rows[i].hash) {
				byGen[g.n] = append(byGen[g.n], i)
				maybe[i] = true
			}
		}
	}
	return byGen, maybe
}

// release returns the filters' memory when the shard closes; the writer is
// closed, so nothing uses them again.
func (gs *generations) release() {
	for _, grp := range gs.groups {
		grp.free()
		grp.blocks = nil
	}
	gs.groups = nil
	gs.list = nil
}
