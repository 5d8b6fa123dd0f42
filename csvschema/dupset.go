package csvschema

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

// hashSet is the first-pass duplicate check: an open-addressing set of
// 64-bit hashes of the ids (linear probing, at most 3/4 full). A hash seen
// before makes a row a candidate only, resolved by comparing the real ids
// on a second read (resolveCandidates), so the check is exact. Sized for a
// file it keeps 32-bit fingerprints (about 6 bytes a row); an input that
// cannot be read twice keeps the ids. Costs and why: docs/duplicates.md.
type hashSet struct {
	seed  maphash.Seed
	slots []uint64 // 0 is empty; a hash of 0 is stored as 1
	n     int
	// compact mode
	fps  [][]uint32 // fingerprint tables, 0 is empty; inserts go to the last
	fpn  int        // entries in the last table
	free []func()   // return the tables' memory (release)
	// touched keeps addHashes's reads of slots ahead of their inserts
	// from being optimised away.
	touched uint32
	// exact mode
	exact bool
	offs  []uint64 // per slot: 1 + the id's place in ids: chunk<<chunkBits | offset
	ids   [][]byte // chunks of ids, each entry: its length (1 byte), first line (4 bytes), the id
}

// The ids of exact mode are kept in chunks, so keeping them never copies
// them (as growing one slice would).
const (
	chunkBits  = 20
	chunkSize  = 1 << chunkBits
	firstChunk = 4 << 10 // a chunk's first capacity
)

func newHashSet(seed maphash.Seed, exact bool) *hashSet {
	s := &hashSet{seed: seed, exact: exact}
	s.resize(64)
	return s
}

// slot maps a hash to a slot index in [0, len(s.slots)).
func (s *hashSet) slot(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(s.slots)))
	return int(hi)
}

// reserve makes room for rows entries in all without growing. Called on an
// empty set in hash mode, it turns to compact mode.
func (s *hashSet) reserve(rows int) {
	want := rows/3*4 + 1
	if !s.exact && s.n == 0 && s.fps == nil {
		s.slots = nil
		s.fps = [][]uint32{s.table(max(want, 1<<10))}
		return
	}
	if want > len(s.slots) {
		s.resize(want)
	}
}

// table returns a new fingerprint table of n slots (allocTable).
func (s *hashSet) table(n int) []uint32 {
	t, free := allocTable(n)
	s.free = append(s.free, free)
	return t
}

// release returns the fingerprint tables' memory: nothing may use the set
// but its hash after it.
func (s *hashSet) release() {
	for _, f := range s.free {
		f()
	}
	s.free, s.fps, s.slots = nil, nil, nil
}

// addFingerprint is addHash in compact mode.
func (s *hashSet) addFingerprint(h uint64) bool {
	fp := uint32(h)
	if fp == 0 {
		fp = 1
	}
	last := len(s.fps) - 1
tables:
	for t, tab := range s.fps {
		hi, _ := bits.Mul64(h, uint64(len(tab)))
		for i := int(hi); ; {
			switch tab[i] {
			case 0:
				if t < last {
					continue tables // not in this table
				}
				if s.fpn >= len(tab)/4*3 {
					total := 0
					for _, t := range s.fps {
						total += len(t)
					}
					s.fps = append(s.fps, s.table(total))
					s.fpn = 0
					return s.addFingerprint(h)
				}
				tab[i] = fp
				s.fpn++
				s.n++
				return false
			case fp:
				return true
			}
			if i++; i == len(tab) {
				i = 0
			}
		}
	}
	return false // not reached: the last table always has an empty slot
}

// addHashes is addHash for each of hs; it appends the hashes already in the
// set to cands. In compact mode it reads the first slot of a group of
// hashes before inserting them, so that their cache misses (the table is
// megabytes, each hash lands anywhere) overlap instead of coming one
// after the other.
func (s *hashSet) addHashes(hs, cands []uint64) []uint64 {
	const group = 8
	for len(hs) > 0 {
		g := hs[:min(group, len(hs))]
		hs = hs[len(g):]
		if len(s.fps) == 1 {
			tab := s.fps[0]
			var touch uint32
			for _, h := range g {
				hi, _ := bits.Mul64(h, uint64(len(tab)))
				touch |= tab[hi]
			}
			s.touched += touch
		}
		for _, h := range g {
			if s.addHash(h) {
				cands = append(cands, h)
			}
		}
	}
	return cands
}

func (s *hashSet) full() bool { return s.n >= len(s.slots)/4*3 }

func (s *hashSet) grow() { s.resize(len(s.slots) + len(s.slots)/2) }

// resize moves the entries to a table of size slots.
func (s *hashSet) resize(size int) {
	old, oldOffs := s.slots, s.offs
	s.slots = make([]uint64, size)
	if s.exact {
		s.offs = make([]uint64, size)
	}
	for j, h := range old {
		if h == 0 {
			continue
		}
		i := s.slot(h)
		for s.slots[i] != 0 {
			if i++; i == len(s.slots) {
				i = 0
			}
		}
		s.slots[i] = h
		if s.exact {
			s.offs[i] = oldOffs[j]
		}
	}
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
	if s.fps != nil {
		return s.addFingerprint(h)
	}
	if s.full() {
		s.grow()
	}
	for i := s.slot(h); ; {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			s.n++
			return false
		case h:
			return true
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}

// add adds an id first met on line and reports whether its hash (in exact
// mode: the id) was already in the set; in exact mode first is then the line
// the id was first met on.
func (s *hashSet) add(id []byte, line int) (first int, seen bool) {
	h := s.hash(id)
	if !s.exact {
		return 0, s.addHash(h)
	}
	if s.full() {
		s.grow()
	}
	for i := s.slot(h); ; {
		switch s.slots[i] {
		case 0:
			s.slots[i] = h
			if len(s.ids) == 0 || len(s.ids[len(s.ids)-1])+5+len(id) > chunkSize {
				s.ids = append(s.ids, make([]byte, 0, firstChunk))
			}
			c := len(s.ids) - 1
			if need := len(s.ids[c]) + 5 + len(id); need > cap(s.ids[c]) {
				// A chunk starts small and doubles up to chunkSize, so a
				// small file's set stays small.
				b := make([]byte, len(s.ids[c]), min(max(2*cap(s.ids[c]), need), chunkSize))
				copy(b, s.ids[c])
				s.ids[c] = b
			}
			s.offs[i] = uint64(c)<<chunkBits | uint64(len(s.ids[c])) + 1
			e := append(s.ids[c], byte(len(id)))
			e = binary.LittleEndian.AppendUint32(e, uint32(line))
			s.ids[c] = append(e, id...)
			s.n++
			return 0, false
		case h:
			o := s.offs[i] - 1
			e := s.ids[o>>chunkBits][o&(chunkSize-1):]
			if l := int(e[0]); bytes.Equal(e[5:5+l], id) {
				return int(binary.LittleEndian.Uint32(e[1:])), true
			}
		}
		if i++; i == len(s.slots) {
			i = 0
		}
	}
}
