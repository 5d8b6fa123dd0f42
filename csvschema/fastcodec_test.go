package csvschema

import (
	"bytes"
	"math/rand"
	"testing"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// TestByteDecoder: the table decoder gives x/text's charmap decoding, for
// every byte and any split of the input.
func TestByteDecoder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, cm := range []*charmap.Charmap{charmap.Windows1252, charmap.ISO8859_1} {
		for i := range 200 {
			src := make([]byte, rng.Intn(300))
			for j := range src {
				if rng.Intn(4) == 0 || i == 0 {
					src[j] = byte(rng.Intn(256))
				} else {
					src[j] = byte('a' + rng.Intn(26))
				}
			}
			want, err := cm.NewDecoder().Bytes(src)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := transform.Bytes(newByteDecoder(cm), src)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%v: %q -> %q, want %q (%v)", cm, src, got, want, err)
			}
			var out bytes.Buffer
			r := &decodeReader{r: bytes.NewReader(src), t: newByteDecoder(cm), src: make([]byte, 1+rng.Intn(16))}
			buf := make([]byte, 1+rng.Intn(20))
			for {
				n, err := r.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Fatalf("decodeReader: %q, want %q", out.Bytes(), want)
			}
		}
	}
}

// TestFixedLayout: what parsing by position takes, time.ParseInLocation
// takes too, with the same time; and it takes the layout's own output.
func TestFixedLayout(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	layouts := []string{"02.01.2006 15:04:05", "02.01.2006", "2006-01-02 15:04", "01/02/2006", "2006/01/02 15:04:05"}
	for _, l := range layouts {
		f, ok := compileFixed(l)
		if !ok {
			t.Fatalf("%q is not fixed", l)
		}
		rng := rand.New(rand.NewSource(2))
		base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for range 2000 {
			v := base.Add(time.Duration(rng.Int63n(int64(3 * 365 * 24 * time.Hour)))).Format(l)
			if _, ok := f.parse([]byte(v), berlin); !ok {
				t.Fatalf("%q: does not take %q", l, v)
			}
			if rng.Intn(5) == 0 { // break a digit or a separator
				b := []byte(v)
				b[rng.Intn(len(b))] = "0123456789:./- x"[rng.Intn(16)]
				v = string(b)
			}
			want, werr := time.ParseInLocation(l, v, berlin)
			got, gok := f.parse([]byte(v), berlin)
			// A value it does not take goes to time.ParseInLocation (which
			// is laxer, e.g. about spaces): only what it takes must agree.
			if gok && (werr != nil || !got.Equal(want)) {
				t.Fatalf("%q %q: fixed %v %v, time.Parse %v %v", l, v, got, gok, want, werr)
			}
		}
	}
	for _, l := range []string{"Jan 2, 2006", "2006-01-02T15:04:05Z07:00", "02.01.06", "2.1.2006", "02.01.2006 15:04:05.000", "15:04"} {
		if _, ok := compileFixed(l); ok {
			t.Errorf("%q taken as fixed", l)
		}
	}
}

// TestDecodeReaderShortReads: UTF-16 read a byte at a time decodes as a
// whole.
func TestDecodeReaderShortReads(t *testing.T) {
	src := []byte("\xFF\xFEa\x00\xE4\x00\x34\xD8\x1E\xDD\n\x00") // a ä 𝄞 \n
	want := "a\u00e4\U0001D11E\n"
	in, err := openInput(bytes.NewReader(src), "", "")
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, 1)
	for {
		n, err := in.r.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	if string(out) != "\uFEFF"+want && string(out) != want {
		t.Fatalf("%q, want %q", out, want)
	}
}
