package csvschema

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"
	"sync"
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

// TestAddHashesConcurrent adds hashes from several goroutines at once, as
// the first pass's workers do: every hash added more than once must come
// back as a candidate, and no hash added once may, whatever the order.
func TestAddHashesConcurrent(t *testing.T) {
	s := newHashSet(maphash.MakeSeed(), false)
	s.reserve(1000) // far too small: the shards must grow while shared
	const workers, per = 4, 50_000
	results := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch []uint64
			for start := 0; start < per; start += 4096 {
				var batch []uint64
				for i := start; i < min(start+4096, per); i++ {
					// every worker's own hashes, and every 10th shared by two workers
					id := fmt.Sprint("w", w, "-", i)
					if i%10 == 0 {
						id = fmt.Sprint("shared", w/2, "-", i)
					}
					batch = append(batch, s.hash([]byte(id)))
				}
				results[w] = s.addHashes(batch, &scratch, results[w])
			}
		}()
	}
	wg.Wait()
	got := map[uint64]bool{}
	for _, r := range results {
		for _, h := range r {
			got[h] = true
		}
	}
	want := map[uint64]bool{}
	for p := range workers / 2 {
		for i := 0; i < per; i += 10 {
			want[s.hash([]byte(fmt.Sprint("shared", p, "-", i)))] = true
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d candidates, want %d", len(got), len(want))
	}
	for h := range want {
		if !got[h] {
			t.Fatalf("hash %x added twice is not a candidate", h)
		}
	}
	n := 0
	for _, sh := range s.shards {
		n += sh.n
	}
	if wantN := workers*per - len(want); n != wantN {
		t.Errorf("the set holds %d hashes, want %d", n, wantN)
	}
}
