//go:build unix

package sqlite

import (
	"syscall"
	"unsafe"
)

// allocGroupBlocks returns n zeroed group blocks in memory mapped outside
// the Go heap: filters hold no pointers and live as long as their shard,
// and on the heap they would count twice towards the garbage collector's
// target (100 MB of filters at 50M rows stored made serve's RSS 400 MB).
// free returns the memory; nothing may use the blocks after it.
func allocGroupBlocks(n int) (blocks [][groupSize][8]uint32, free func()) {
	size := n * int(unsafe.Sizeof([groupSize][8]uint32{}))
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([][groupSize][8]uint32, n), func() {}
	}
	return unsafe.Slice((*[groupSize][8]uint32)(unsafe.Pointer(unsafe.SliceData(mem))), n), func() { _ = syscall.Munmap(mem) }
}
