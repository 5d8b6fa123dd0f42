package main

import "os"

// Environment variables that stand in for flags.
const (
	envEndpoint = "TXPIPE_ENDPOINT"
	envAPIKey   = "TXPIPE_API_KEY"
	envDataDir  = "TXPIPE_DATA_DIR"
	envAddr     = "TXPIPE_ADDR"
)

// Flag defaults.
const (
	defaultAddr     = "127.0.0.1:8080"
	defaultDataDir  = "data"
	defaultEndpoint = "http://127.0.0.1:8080"
)

// envOr returns the value of the environment variable name, or def when it
// is unset or empty.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
