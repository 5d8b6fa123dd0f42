//go:build !unix

package offheap

// mapAnon makes no mapping here: Alloc falls back to the heap.
func mapAnon(int, bool) ([]byte, func()) { return nil, nil }
