package csvschema

import "github.com/txpipe/txpipe/internal/offheap"

// hugeTableBytes is the size from which a fingerprint table is mapped
// outside the Go heap in transparent huge pages.
const hugeTableBytes = 1 << 20

// allocTable returns a zeroed fingerprint table of n slots and a func that
// returns its memory. The inserts touch a table's pages in random order:
// faulting in 4 KiB pages cost about 20 us each in this VM (a 6 MB table,
// 1M rows: 20-35 ms of CPU), and a TLB miss per insert after that, so a
// table of a megabyte or more uses huge pages (docs/performance.md).
func allocTable(n int) ([]uint32, func()) {
	if n*4 < hugeTableBytes {
		return make([]uint32, n), func() {}
	}
	return offheap.Alloc[uint32](n, true)
}
