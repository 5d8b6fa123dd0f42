package offheap

import "syscall"

// adviseHuge asks for transparent huge pages; without them the mapping
// uses 4 KiB pages.
func adviseHuge(b []byte) { _ = syscall.Madvise(b, syscall.MADV_HUGEPAGE) }
