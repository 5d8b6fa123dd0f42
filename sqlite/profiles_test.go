package sqlite_test

import (
	"testing"

	"github.com/txpipe/txpipe/storetest"
)

func TestProfileStore(t *testing.T) {
	t.Parallel()
	storetest.TestProfileStore(t, openDB(t))
}
