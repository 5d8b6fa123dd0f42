package csvschema

import (
	"syscall"
	"unsafe"
)

// hugeTableBytes is the size from which a fingerprint table is mapped
// with transparent huge pages.
const hugeTableBytes = 1 << 20

// allocTable returns a zeroed fingerprint table of n slots and a func that
// returns its memory. A table of a megabyte or more is an anonymous
// mapping outside the Go heap, aligned to 2 MiB and advised to use
// transparent huge pages: the inserts touch its pages in random order, and
// faulting in 4 KiB pages cost about 20 us each (a 6 MB table, 1M rows:
// 20-35 ms of CPU) in this VM, and a TLB miss per insert after that; with
// huge pages it is a few faults (docs/performance.md). Where the kernel
// gives no huge pages it is an ordinary mapping.
func allocTable(n int) ([]uint32, func()) {
	size := n * 4
	if size < hugeTableBytes {
		return make([]uint32, n), func() {}
	}
	// The table's whole huge pages: a part of one that is not advised
	// (the end of the table) faults in 4 KiB pages.
	const huge = 2 << 20
	rounded := (size + huge - 1) &^ (huge - 1)
	mem, err := syscall.Mmap(-1, 0, rounded+huge, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]uint32, n), func() {}
	}
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(mem))) & (huge - 1))
	_ = syscall.Madvise(mem[off:off+rounded], syscall.MADV_HUGEPAGE) // advice: without it, 4 KiB pages
	return unsafe.Slice((*uint32)(unsafe.Pointer(&mem[off])), n), func() { _ = syscall.Munmap(mem) }
}
