package s3store

import (
	"strings"
	"testing"

	"github.com/txpipe/txpipe/storetest"
)

// TestProfilesContract runs the profile store checks on gofakes3, and
// checks that profiles are encrypted objects under profiles/, out of the
// uploads/ prefix.
func TestProfilesContract(t *testing.T) {
	c, bucket, rec := newClient(t)
	storetest.TestProfileStore(t, NewProfiles(c, bucket))
	puts := 0
	for _, r := range rec.sse {
		if !strings.HasPrefix(r, "PUT /"+bucket+"/") {
			continue // the bucket's creation
		}
		puts++
		if !strings.HasPrefix(r, "PUT /"+bucket+"/profiles/") || !strings.HasSuffix(r, "sse=AES256") {
			t.Errorf("profile put: %s", r)
		}
	}
	if puts != 3 {
		t.Errorf("%d object puts, want 3", puts)
	}
}
