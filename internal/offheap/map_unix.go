//go:build unix

package offheap

import (
	"syscall"
	"unsafe"
)

const hugePage = 2 << 20

// mapAnon returns size bytes of a private anonymous mapping (nil if it
// cannot be made) and the func that unmaps it.
func mapAnon(size int, hugePages bool) ([]byte, func()) {
	if size <= 0 {
		return nil, nil
	}
	if !hugePages {
		mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return nil, nil
		}
		return mem, func() { _ = syscall.Munmap(mem) }
	}
	// Whole huge pages, aligned: a part of one that is not advised faults
	// in 4 KiB pages.
	rounded := (size + hugePage - 1) &^ (hugePage - 1)
	mem, err := syscall.Mmap(-1, 0, rounded+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil
	}
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(mem))) & (hugePage - 1))
	adviseHuge(mem[off : off+rounded])
	return mem[off : off+size], func() { _ = syscall.Munmap(mem) }
}
