package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
	"github.com/txpipe/txpipe/sqlite"
)

const apikeyUsage = `usage: txpipe apikey create --name NAME [--quota-per-day 1000] [--rate-per-second 10] [--data-dir DIR] [--json]

Creates an API key in the local store of the data dir and prints it. The key
is shown only once: only its hash is stored.`

// keyCreator stores API keys (implemented by *sqlite.DB).
type keyCreator interface {
	CreateKey(ctx context.Context, k txpipe.APIKey) error
}

// createAPIKey makes a new key called name with the given daily quota and
// rate (requests a second, with bursts of twice as many), stores its hash
// and returns its secret.
func createAPIKey(ctx context.Context, keys keyCreator, name string, quota int64, rate float64) (secret string, err error) {
	secret, hash, err := httpapi.NewAPIKey()
	if err != nil {
		return "", err
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("make key id: %w", err)
	}
	k := txpipe.APIKey{
		ID: "key_" + hex.EncodeToString(id[:]), Name: name, Hash: hash,
		QuotaPerDay: quota, RatePerSecond: rate, Burst: max(1, int(math.Ceil(2*rate))),
		CreatedAt: time.Now().UTC(),
	}
	if err := keys.CreateKey(ctx, k); err != nil {
		return "", fmt.Errorf("store API key %q: %w", name, err)
	}
	return secret, nil
}

func runAPIKey(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, apikeyUsage)
			return exitOK
		}
		fmt.Fprintln(stderr, apikeyUsage)
		return exitUsage
	}
	fs := newClientFlagSet("apikey create", apikeyUsage, stderr)
	name := fs.String("name", "", "the key's name (required)")
	quota := fs.Int64("quota-per-day", httpapi.DefaultQuotaPerDay, "requests a day (UTC)")
	rate := fs.Float64("rate-per-second", httpapi.DefaultRatePerSecond, "requests a second, with bursts of twice as many")
	dataDir := fs.String("data-dir", envOr(envDataDir, defaultDataDir), "the local data dir (env "+envDataDir+")")
	jsonOut := fs.Bool("json", false, "print JSON")
	rest, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagExit(err)
	}
	switch {
	case len(rest) > 0:
		err = fmt.Errorf("unexpected arguments %q", rest)
	case *name == "":
		err = fmt.Errorf("--name is required")
	case *quota < 1:
		err = fmt.Errorf("--quota-per-day must be at least 1")
	case !(*rate > 0) || math.IsInf(*rate, 0):
		err = fmt.Errorf("--rate-per-second must be above 0")
	}
	if err != nil {
		fmt.Fprintf(stderr, "txpipe apikey create: %v\n%s\n", err, apikeyUsage)
		return exitUsage
	}

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		fmt.Fprintf(stderr, "txpipe apikey create: %v\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := sqlite.Open(ctx, filepath.Join(*dataDir, "txpipe.db"), logger)
	if err != nil {
		fmt.Fprintf(stderr, "txpipe apikey create: %v\n", err)
		return exitUsage
	}
	secret, err := createAPIKey(ctx, db, *name, *quota, *rate)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close database: %w", cerr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "txpipe apikey create: %v\n", err)
		return exitUsage
	}
	if *jsonOut {
		return printJSON(stdout, stderr, struct {
			Name        string `json:"name"`
			APIKey      string `json:"api_key"`
			QuotaPerDay int64  `json:"quota_per_day"`
		}{*name, secret, *quota})
	}
	fmt.Fprintf(stdout, "%s\n", secret)
	fmt.Fprintf(stderr, "created API key %q (%d requests a day, %g a second); it is shown only once\n", *name, *quota, *rate)
	return exitOK
}
