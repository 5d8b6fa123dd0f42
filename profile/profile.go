// Package profile reads and writes column-mapping profiles (YAML) and
// suggests one for a file whose headers do not match the schema.
//
// A profile is a csvschema.Profile; docs/contract.md describes the format.
// Parse is strict: an unknown key, a second document or a value of the
// wrong type is an error naming its line, so a typo never silently drops a
// mapping.
package profile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/txpipe/txpipe/csvschema"
)

// MaxBytes is the largest profile accepted.
const MaxBytes = 64 << 10

// ErrInvalid is the reason of a profile that cannot be read or used.
var ErrInvalid = errors.New("invalid profile")

// CheckName reports whether name can name a stored profile: 1 to 64
// letters, digits, '.', '_' or '-', starting with a letter or digit.
func CheckName(name string) error {
	if !validName(name) {
		return fmt.Errorf("%w: name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// validName is ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, without a regular
// expression compiled at every start of the binaries.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i, c := range []byte(name) {
		alnum := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

// Parse reads a profile from YAML and checks it.
func Parse(data []byte) (*csvschema.Profile, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrInvalid, len(data), MaxBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p csvschema.Profile
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty document", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: more than one YAML document", ErrInvalid)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, strings.TrimPrefix(err.Error(), csvschema.ErrFormat.Error()+": profile: "))
	}
	return &p, nil
}

// Marshal writes p as YAML.
func Marshal(p *csvschema.Profile) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode profile: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode profile: %w", err)
	}
	return b.Bytes(), nil
}
