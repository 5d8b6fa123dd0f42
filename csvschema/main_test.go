package csvschema_test

import (
	"testing"

	"github.com/txpipe/txpipe/internal/fuzzmin"
)

// TestMain bounds the fuzz engine's minimisation of each new input (see
// package fuzzmin): FuzzDialect and FuzzValidate showed 0 execs/s while it
// ran.
func TestMain(m *testing.M) { fuzzmin.Main(m) }
