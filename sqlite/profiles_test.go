package sqlite_test

import (
	"testing"

	"github.com/txpipe/txpipe/storetest"
)

func TestProfileStore(t *testing.T) {
	storetest.TestProfileStore(t, openDB(t))
}
