package csvschema

import (
	"encoding/binary"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// byteDecoder decodes a single-byte encoding (Windows-1252, ISO-8859-1) to
// UTF-8 with a table built from x/text's charmap, eight ASCII bytes at a
// time: the charmap's own decoder goes byte by byte, and decoding runs on
// the one goroutine that reads the file.
type byteDecoder struct {
	transform.NopResetter
	tab [256][4]byte // UTF-8 of each byte; tab[b][3] is its length
}

func newByteDecoder(cm *charmap.Charmap) *byteDecoder {
	d := &byteDecoder{}
	for b := range 256 {
		r := cm.DecodeByte(byte(b))
		n := utf8.EncodeRune(d.tab[b][:3], r)
		d.tab[b][3] = byte(n)
	}
	return d
}

func (d *byteDecoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	const hi = 0x8080808080808080
	for nSrc < len(src) {
		if nSrc+8 <= len(src) && nDst+8 <= len(dst) && binary.LittleEndian.Uint64(src[nSrc:])&hi == 0 {
			copy(dst[nDst:nDst+8], src[nSrc:nSrc+8])
			nDst, nSrc = nDst+8, nSrc+8
			continue
		}
		c := src[nSrc]
		if c < utf8.RuneSelf {
			if nDst >= len(dst) {
				return nDst, nSrc, transform.ErrShortDst
			}
			dst[nDst] = c
			nDst, nSrc = nDst+1, nSrc+1
			continue
		}
		e := &d.tab[c]
		n := int(e[3])
		if nDst+n > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		copy(dst[nDst:], e[:n])
		nDst, nSrc = nDst+n, nSrc+1
	}
	return nDst, nSrc, nil
}
