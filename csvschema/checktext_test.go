package csvschema

import (
	"testing"
	"unicode/utf8"
)

// TestCheckText compares the word-at-a-time check with a byte loop.
func TestCheckText(t *testing.T) {
	slow := func(v []byte) error {
		for _, c := range v {
			if c < 0x20 && c != '\t' {
				return ErrControlChar
			}
		}
		if !utf8.Valid(v) {
			return ErrNotUTF8
		}
		return nil
	}
	for _, s := range []string{"", "a", "abcdefgh", "abcdefg\x1f", "\x00bcdefghij", "tab\there and more", "Café Zürich GmbH", "abcdefgh\xff", "abc\x7f\x80", "\x1fabcdefgh", "abcdefghijklmno\x01"} {
		for cut := 0; cut <= len(s); cut++ {
			v := []byte(s[cut:])
			if got, want := checkText(v), slow(v); got != want {
				t.Errorf("checkText(%q) = %v, want %v", v, got, want)
			}
		}
	}
}
