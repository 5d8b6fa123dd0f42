package sqlite

import "github.com/txpipe/txpipe/internal/offheap"

// allocGroupBlocks returns n zeroed group blocks outside the Go heap:
// filters hold no pointers and live as long as their shard, and on the
// heap they would count twice towards the garbage collector's target (100
// MB of filters at 50M rows stored made serve's RSS 400 MB). free returns
// the memory; nothing may use the blocks after it.
func allocGroupBlocks(n int) (blocks [][groupSize][8]uint32, free func()) {
	return offheap.Alloc[[groupSize][8]uint32](n, false)
}
