package csvschema

import (
	"bytes"
	"hash/maphash"
)

// hashSet is the first-pass duplicate check: an open-addressing set of 64-bit
// hashes of the transaction ids, with linear probing.
//
// Cost: one 8-byte slot per table entry, and the table is kept between 3/8
// and 3/4 full (it doubles at 3/4), so 11 to 21 bytes per row: 16 MiB for 1M
// rows, 128 MiB for 10M rows (plus the old table while it doubles).
//
// Exactness: equal ids have equal hashes, so a duplicate always finds its
// hash in the set: no duplicate is ever accepted. A hash already in the set
// makes the row a candidate only; candidates are resolved by comparing the
// real ids on a second read of the file (resolveCandidates), so a unique id
// whose hash collides with another's is never rejected. With a per-run random
// seed, two distinct ids collide with probability 2^-64, so the candidates
// are, in practice, the true duplicates.
//
// When the input cannot be read twice, the set keeps the ids themselves
// (exact mode): then it also costs each id's length plus 9 bytes per row.
type hashSet struct {
	seed  maphash.Seed
	slots []uint64 // 0 is empty; a hash of 0 is stored as 1
	n     int
	// exact mode
	exact bool
	offs  []uint64 // per slot: 1 + offset of the id in ids
	ids   []byte   // length-prefixed ids
}

func newHashSet(seed maphash.Seed, exact bool) *hashSet {
	s := &hashSet{seed: seed, exact: exact, slots: make([]uint64, 1<<10)}
	if exact {
		s.offs = make([]uint64, 1<<10)
	}
	return s
}

func (s *hashSet) hash(id []byte) uint64 {
	h := maphash.Bytes(s.seed, id)
	if h == 0 {
		h = 1
	}
	return h
}

// addHash adds the hash of an id (not in exact mode) and reports whether it
// was already in the set.
func (s *hashSet) addHash(h uint64) bool {
	if s.n >= len(s.slots)/4*3 {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.n++
			return false
		case h:
			return true
		}
	}
}

// add adds an id and reports whether its hash (in exact mode: the id) was
// already in the set.
func (s *hashSet) add(id []byte) bool {
	h := s.hash(id)
	if !s.exact {
		return s.addHash(h)
	}
	if s.n >= len(s.slots)/4*3 {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			if s.exact {
				s.offs[i] = uint64(len(s.ids)) + 1
				s.ids = append(s.ids, byte(len(id)))
				s.ids = append(s.ids, id...)
			}
			s.n++
			return false
		case h:
			if !s.exact {
				return true
			}
			o := s.offs[i] - 1
			l := uint64(s.ids[o])
			if bytes.Equal(s.ids[o+1:o+1+l], id) {
				return true
			}
		}
	}
}

func (s *hashSet) grow() {
	old, oldOffs := s.slots, s.offs
	s.slots = make([]uint64, 2*len(old))
	if s.exact {
		s.offs = make([]uint64, 2*len(old))
	}
	mask := uint64(len(s.slots) - 1)
	for j, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = h
		if s.exact {
			s.offs[i] = oldOffs[j]
		}
	}
}
