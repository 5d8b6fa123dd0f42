package profile_test

import (
	"testing"

	"github.com/txpipe/txpipe/internal/fuzzmin"
)

// TestMain bounds the fuzz engine's minimisation of each new input (see
// package fuzzmin): FuzzParse showed 0 execs/s while it ran.
func TestMain(m *testing.M) { fuzzmin.Main(m) }
