package storetest

import (
	"context"
	"testing"

	"github.com/txpipe/txpipe"
)

// ProfileStore is what the profile stores (sqlite, s3store) implement.
type ProfileStore interface {
	PutProfile(ctx context.Context, p txpipe.StoredProfile) (bool, error)
	GetProfile(ctx context.Context, name string) (txpipe.StoredProfile, error)
	DeleteProfile(ctx context.Context, name string) error
	ListProfiles(ctx context.Context) ([]txpipe.StoredProfile, error)
}

// TestProfileStore checks a profile store: put creates then replaces, get
// returns the YAML as put, list is by name, delete removes, and a missing
// name is ENOTFOUND for get and delete.
func TestProfileStore(t *testing.T, s ProfileStore) {
	ctx := context.Background()
	if _, err := s.GetProfile(ctx, "bank"); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Fatalf("get of a missing profile: %v, want ENOTFOUND", err)
	}
	if err := s.DeleteProfile(ctx, "bank"); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Fatalf("delete of a missing profile: %v, want ENOTFOUND", err)
	}
	v1 := "# Sparkasse\ndelimiter: \";\"\ncolumns:\n  amount: Betrag\n"
	created, err := s.PutProfile(ctx, txpipe.StoredProfile{Name: "bank", YAML: v1})
	if err != nil || !created {
		t.Fatalf("first put: created %v, %v", created, err)
	}
	if _, err := s.PutProfile(ctx, txpipe.StoredProfile{Name: "card-processor", YAML: "delimiter: \"\\t\"\n"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetProfile(ctx, "bank")
	if err != nil || got.YAML != v1 || got.Name != "bank" || got.UpdatedAt.IsZero() {
		t.Fatalf("get: %+v, %v", got, err)
	}
	v2 := v1 + "ignore_extra_columns: true\n"
	created, err = s.PutProfile(ctx, txpipe.StoredProfile{Name: "bank", YAML: v2})
	if err != nil || created {
		t.Fatalf("second put: created %v, %v", created, err)
	}
	if got, err := s.GetProfile(ctx, "bank"); err != nil || got.YAML != v2 {
		t.Fatalf("get after replace: %q, %v", got.YAML, err)
	}
	list, err := s.ListProfiles(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "bank" || list[1].Name != "card-processor" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if err := s.DeleteProfile(ctx, "bank"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetProfile(ctx, "bank"); txpipe.ErrorCode(err) != txpipe.ENOTFOUND {
		t.Fatalf("get after delete: %v, want ENOTFOUND", err)
	}
	if list, err := s.ListProfiles(ctx); err != nil || len(list) != 1 {
		t.Fatalf("list after delete: %+v, %v", list, err)
	}
}
