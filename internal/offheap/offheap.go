// Package offheap gives long-lived, pointer-free tables memory mapped
// outside the Go heap: the garbage collector neither scans them nor counts
// them towards its target, and large ones can use transparent huge pages.
package offheap

import "unsafe"

// Alloc returns n zeroed values of T and the func that returns their
// memory; nothing may use the slice after it. T must hold no pointers.
// With hugePages the mapping is aligned to 2 MiB and advised to use
// transparent huge pages (Linux), which saves a page fault per 4 KiB when
// a large table is written in random order. Where no mapping can be made,
// the slice is an ordinary one and free does nothing.
func Alloc[T any](n int, hugePages bool) (s []T, free func()) {
	var zero T
	mem, unmap := mapAnon(n*int(unsafe.Sizeof(zero)), hugePages)
	if mem == nil {
		return make([]T, n), func() {}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n), unmap
}
