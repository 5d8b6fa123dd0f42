package txgen_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"testing"

	"github.com/txpipe/txpipe/internal/txgen"
)

func TestWriteDeterministicAndCSV(t *testing.T) {
	var a, b bytes.Buffer
	opts := txgen.Options{Rows: 2000, Seed: 7, BadShare: 0.1}
	if err := txgen.Write(&a, opts); err != nil {
		t.Fatal(err)
	}
	if err := txgen.Write(&b, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same options wrote different bytes")
	}
	r := csv.NewReader(&a)
	r.FieldsPerRecord = -1
	n := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("record %d: %v", n, err)
		}
		n++
	}
	if got, want := n, 2001; got != want {
		t.Errorf("records = %d, want %d", got, want)
	}
}
