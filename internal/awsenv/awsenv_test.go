package awsenv_test

import (
	"strings"
	"testing"

	"github.com/txpipe/txpipe/internal/awsenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNeedNamesEveryMissingVariable(t *testing.T) {
	got, err := awsenv.Need(env(map[string]string{awsenv.Bucket: "b"}), awsenv.Bucket, awsenv.StatusTable, awsenv.TopicARN)
	if err == nil || !strings.Contains(err.Error(), awsenv.StatusTable) || !strings.Contains(err.Error(), awsenv.TopicARN) {
		t.Fatalf("Need = %v, %v; want an error naming both missing variables", got, err)
	}
	got, err = awsenv.Need(env(map[string]string{awsenv.Bucket: "b"}), awsenv.Bucket)
	if err != nil || got[awsenv.Bucket] != "b" {
		t.Fatalf("Need = %v, %v", got, err)
	}
}

func TestDynamoOptions(t *testing.T) {
	for _, tc := range []struct {
		val     string
		n       int
		wantErr bool
	}{{"", 1, false}, {"4", 2, false}, {"0", 0, true}, {"x", 0, true}} {
		opts, err := awsenv.DynamoOptions(env(map[string]string{awsenv.TimeShards: tc.val}))
		if (err != nil) != tc.wantErr || len(opts) != tc.n {
			t.Errorf("%s=%q: %d options, err %v; want %d options, error %v", awsenv.TimeShards, tc.val, len(opts), err, tc.n, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		val     string
		n       int
		wantErr bool
	}{{"", 1, false}, {"on", 1, false}, {"off", 0, false}, {"no", 0, true}} {
		opts, err := awsenv.DynamoOptions(env(map[string]string{awsenv.Volumes: tc.val}))
		if (err != nil) != tc.wantErr || len(opts) != tc.n {
			t.Errorf("%s=%q: %d options, err %v; want %d options, error %v", awsenv.Volumes, tc.val, len(opts), err, tc.n, tc.wantErr)
		}
	}
}
