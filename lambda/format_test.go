package lambda_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/internal/awstest"
	"github.com/txpipe/txpipe/s3store"
	"github.com/txpipe/txpipe/sqlite/sqlitetest"
	"github.com/txpipe/txpipe/workflow"
)

// TestStateMachineOnS3WithFormat: a two-step upload declared with an
// encoding and a profile (POST /uploads) lands in S3 (gofakes3); the
// EventBridge event starts the run and the validator reads the bytes from
// S3 with the declared format, the profile read from the bucket's
// profiles/ (as on AWS). The stored transactions are those of the plain
// comma file, and the record names the profile and the dialect. A
// declaration whose profile was deleted before the bytes came is rejected
// saying so.
func TestStateMachineOnS3WithFormat(t *testing.T) {
	ctx := context.Background()
	client := newBucket(t, awstest.Config(awstest.StartS3(t)))
	store := s3store.New(client, uploadBucket)
	profiles := s3store.NewProfiles(client, uploadBucket)
	db := sqlitetest.Open(t)
	dialects := filepath.Join("..", "csvschema", "testdata", "dialects")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dialects, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := profiles.PutProfile(ctx, txpipe.StoredProfile{Name: "bank", YAML: string(read("bank.profile.yaml")), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	invoke := stepInvoker(ctx, &workflow.Tasks{Files: store, Uploads: store, Statuses: db, Profiles: profiles},
		&workflow.Tasks{Files: store, Transactions: db, Statuses: db}, &workflow.Tasks{Statuses: db, Notifier: &notes{}})
	// upload declares data with d, puts it under incoming/ and runs the
	// machine from the EventBridge event; it returns the file's record.
	upload := func(data []byte, d workflow.Declaration) *txpipe.FileStatus {
		t.Helper()
		sum := sha256.Sum256(data)
		hexSum := hex.EncodeToString(sum[:])
		d.SizeBytes, d.SHA256 = int64(len(data)), hexSum
		rec, _, err := (&workflow.Uploads{Statuses: db}).Declare(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Format == nil || *rec.Format != d.Format() || rec.Profile != d.Profile {
			t.Fatalf("declared record: format %+v profile %q, want %+v", rec.Format, rec.Profile, d.Format())
		}
		putIncoming(t, client, data)
		if end, _, err := newMachine(t, workflow.Pipeline(), invoke).run(startFromEvent(t, hexSum, len(data))); err != nil {
			t.Fatalf("execution failed at %s: %v", end, err)
		}
		st, err := db.GetStatus(ctx, txpipe.FileIDFromSHA256(hexSum))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	bank := read("semicolon-windows1252.csv")
	st := upload(bank, workflow.Declaration{Filename: "bank.csv", Encoding: "windows-1252", Profile: "bank"})
	if st.Status != txpipe.StatusCompleted || st.Rows != 20 || st.Profile != "bank" || st.Format != nil ||
		st.Dialect == nil || *st.Dialect != (txpipe.Dialect{Delimiter: ";", Encoding: "windows-1252"}) {
		t.Fatalf("record: status %s rows %d profile %q format %+v dialect %+v: %+v", st.Status, st.Rows, st.Profile, st.Format, st.Dialect, st.Errors)
	}
	// The same transactions as the comma file.
	d := csvschema.NewDecoder(bytes.NewReader(read("comma-utf8.csv")))
	for {
		var want txpipe.Transaction
		if err := d.Decode(&want); err != nil {
			break
		}
		page, err := db.ListTransactions(ctx, txpipe.TxQuery{From: want.Timestamp, To: want.Timestamp.Add(time.Second), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, got := range page.Items {
			if got.ID == want.ID {
				found = got.Amount == want.Amount && got.Currency == want.Currency && got.Merchant == want.Merchant && got.Status == want.Status && got.Timestamp.Equal(want.Timestamp)
			}
		}
		if !found {
			t.Errorf("transaction %s (%s %s at %s) not stored as the comma file has it", want.ID, want.Amount, want.Currency, want.Timestamp)
		}
	}

	// Without its format the same bytes are rejected on line 1 (the check
	// stops at the header; the rest is still read, so the hash covers the
	// whole file and the record is REJECTED, not a hash mismatch).
	other := append(bytes.Clone(bank), "\r\n"...) // other bytes, another file id
	st = upload(other, workflow.Declaration{Filename: "bank-undeclared.csv", Delimiter: ";"})
	if st.Status != txpipe.StatusRejected || len(st.Errors) != 1 || st.Errors[0].Line != 1 || !strings.Contains(st.Errors[0].Message, "not valid UTF-8") {
		t.Fatalf("record without the declared encoding: %s %+v", st.Status, st.Errors)
	}

	// The profile deleted between the declaration and the bytes.
	tab := read("tab-utf16le-bom.csv")
	st = upload(tab, workflow.Declaration{Filename: "card.csv", Profile: "gone"})
	if st.Status != txpipe.StatusRejected || st.Profile != "gone" || len(st.Errors) != 1 || !strings.Contains(st.Errors[0].Message, `no profile named "gone"`) {
		t.Fatalf("record with a deleted profile: %s %q %+v", st.Status, st.Profile, st.Errors)
	}
}
