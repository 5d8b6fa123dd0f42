package offheap_test

import (
	"testing"

	"github.com/txpipe/txpipe/internal/offheap"
)

// A table is zeroed, holds what is written to every slot, and can be
// returned; sizes around the huge-page boundary included.
func TestAlloc(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 2 << 20 / 4, 2<<20/4 + 1, 3 << 20} {
		for _, huge := range []bool{false, true} {
			s, free := offheap.Alloc[[2]uint32](n, huge)
			if len(s) != n {
				t.Fatalf("Alloc(%d, %v): %d values", n, huge, len(s))
			}
			for i := range s {
				if s[i] != [2]uint32{} {
					t.Fatalf("Alloc(%d, %v): value %d is %v, want zero", n, huge, i, s[i])
				}
				s[i] = [2]uint32{uint32(i), ^uint32(i)}
			}
			for i := range s {
				if s[i] != [2]uint32{uint32(i), ^uint32(i)} {
					t.Fatalf("Alloc(%d, %v): value %d reads %v", n, huge, i, s[i])
				}
			}
			free()
		}
	}
}
