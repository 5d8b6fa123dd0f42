package csvschema

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"
	"testing"
)

// TestResolveCandidates feeds the second pass candidate hashes as a hash
// collision would: the hash of an id seen once must not reject it, and true
// duplicates are reported on their later lines with their first line, also
// when the candidates take several passes.
func TestResolveCandidates(t *testing.T) {
	var b strings.Builder
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	ids := []string{"a", "b", "c", "a", "d", "b", "a", "e"}
	for _, id := range ids {
		fmt.Fprintf(&b, "%s,1,USD,2024-01-15T10:30:00Z,m,completed\n", id)
	}
	set := newHashSet(maphash.MakeSeed(), false)
	cands := []uint64{set.hash([]byte("a")), set.hash([]byte("b")), set.hash([]byte("c")), set.hash([]byte("e"))}
	for _, perPass := range []int{1, 2, 100} {
		v := &validation{rep: &Report{}, perPass: perPass}
		dups, err := v.resolveCandidates(context.Background(), func() (io.Reader, error) { return strings.NewReader(b.String()), nil }, set, append([]uint64(nil), cands...))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range dups.Errors {
			if !errors.Is(e, ErrDuplicateID) {
				t.Errorf("error %v is not ErrDuplicateID", e)
			}
			got = append(got, fmt.Sprintf("%d:%s:%v", e.Line, e.Value, e.Err))
		}
		want := []string{
			"5:a:duplicate transaction_id: first on line 2",
			"7:b:duplicate transaction_id: first on line 3",
			"8:a:duplicate transaction_id: first on line 2",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || dups.ErrorCount != 3 {
			t.Errorf("perPass %d: got %v (count %d), want %v", perPass, got, dups.ErrorCount, want)
		}
	}
}

// TestExactSetCollision puts two different ids under one hash in exact mode.
func TestExactSetCollision(t *testing.T) {
	s := newHashSet(maphash.MakeSeed(), true)
	for i := 0; i < 5000; i++ {
		if _, seen := s.add([]byte(fmt.Sprint("id", i)), i+2); seen {
			t.Fatalf("id%d reported as seen", i)
		}
	}
	for i := 0; i < 5000; i++ {
		if first, seen := s.add([]byte(fmt.Sprint("id", i)), 9000+i); !seen || first != i+2 {
			t.Fatalf("id%d: seen %v first %d, want true %d", i, seen, first, i+2)
		}
	}
}

// TestCompactSetOverflow sizes the set for fewer ids than come (an estimate
// that was short): the extra tables keep every id, so each one seen again
// is reported, and no distinct one is.
func TestCompactSetOverflow(t *testing.T) {
	set := newHashSet(maphash.MakeSeed(), false)
	set.reserve(1000)
	if set.fps == nil {
		t.Fatal("a set sized before its first id is not compact")
	}
	const n = 20_000
	for i := range n {
		if set.addHash(set.hash(fmt.Appendf(nil, "id-%d", i))) {
			t.Fatalf("id %d is new but was reported seen", i)
		}
	}
	if len(set.fps) < 3 || len(set.fps) > 6 {
		t.Errorf("%d tables for %d ids sized for 1000", len(set.fps), n)
	}
	for i := range n {
		if !set.addHash(set.hash(fmt.Appendf(nil, "id-%d", i))) {
			t.Fatalf("id %d seen again was not reported", i)
		}
	}
	if set.n != n {
		t.Errorf("%d entries, want %d", set.n, n)
	}
}

// TestLargeTablesAreMapped: tables of a megabyte or more (on Linux
// outside the Go heap, in huge pages: allocTable) keep every id, the
// overflow tables too, and release returns them.
func TestLargeTablesAreMapped(t *testing.T) {
	set := newHashSet(maphash.MakeSeed(), false)
	set.reserve(300_000) // 400,000 slots: 1.6 MB
	const n = 700_000    // overflow tables of 400,000 and 800,000 slots
	for i := range n {
		if set.addHash(set.hash(fmt.Appendf(nil, "id-%d", i))) {
			t.Fatalf("id %d is new but was reported seen", i)
		}
	}
	if len(set.fps) != 3 || len(set.free) != 3 {
		t.Fatalf("%d tables, %d to free", len(set.fps), len(set.free))
	}
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = set.hash(fmt.Appendf(nil, "id-%d", i))
	}
	if cands := set.addHashes(hs, nil); len(cands) != n {
		t.Fatalf("%d of %d ids seen again reported", len(cands), n)
	}
	set.release()
	if set.fps != nil || set.free != nil {
		t.Error("release kept the tables")
	}
}

// BenchmarkAddHashes adds 1M distinct hashes to a compact set sized for
// them, one at a time and in groups (addHashes reads a group's slots
// before inserting it).
func BenchmarkAddHashes(b *testing.B) {
	const n = 1 << 20
	set := newHashSet(maphash.MakeSeed(), false)
	hs := make([]uint64, n)
	for i := range hs {
		hs[i] = set.hash(fmt.Appendf(nil, "id-%d", i))
	}
	for _, grouped := range []bool{false, true} {
		b.Run(fmt.Sprintf("grouped=%v", grouped), func(b *testing.B) {
			for range b.N {
				set := newHashSet(set.seed, false)
				set.reserve(n)
				var cands []uint64
				if grouped {
					for i := 0; i < n; i += 1000 {
						cands = set.addHashes(hs[i:min(i+1000, n)], cands)
					}
				} else {
					for _, h := range hs {
						if set.addHash(h) {
							cands = append(cands, h)
						}
					}
				}
				if len(cands) != 0 {
					b.Fatalf("%d candidates among distinct ids", len(cands))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/hash")
		})
	}
}
