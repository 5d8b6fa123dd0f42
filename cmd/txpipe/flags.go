package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe/httpapi"
)

// Environment variables that stand in for flags. A flag given on the
// command line wins; help names the variable and never shows its value.
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

// fromEnv returns the value of flag name of cmd: the command line's if
// given, else the environment variable env's if set, else the flag's
// default.
func fromEnv(cmd *cobra.Command, name, env string) string {
	f := cmd.Flags().Lookup(name)
	if !f.Changed {
		if v := os.Getenv(env); v != "" {
			return v
		}
	}
	return f.Value.String()
}

// clientFlags are the flags every API client command takes.
type clientFlags struct {
	cmd              *cobra.Command
	endpoint, apiKey string
	json             bool
}

func addClientFlags(cmd *cobra.Command) *clientFlags {
	c := &clientFlags{cmd: cmd}
	cmd.Flags().StringVar(&c.endpoint, "endpoint", defaultEndpoint, "the API's base URL ($"+envEndpoint+")")
	cmd.Flags().StringVar(&c.apiKey, "api-key", "", "the API key (default $"+envAPIKey+")")
	cmd.Flags().BoolVar(&c.json, "json", false, "print JSON")
	return c
}

func (c *clientFlags) client() *httpapi.Client {
	return &httpapi.Client{Endpoint: fromEnv(c.cmd, "endpoint", envEndpoint), APIKey: fromEnv(c.cmd, "api-key", envAPIKey)}
}

// addDataDirFlag adds --data-dir; dataDir(cmd) reads it.
func addDataDirFlag(cmd *cobra.Command, what string) {
	cmd.Flags().String("data-dir", defaultDataDir, what+" ($"+envDataDir+")")
}

func dataDir(cmd *cobra.Command) string { return fromEnv(cmd, "data-dir", envDataDir) }

// wantArgs accepts exactly n positional arguments, called name in errors.
func wantArgs(n int, name string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			if n == 0 {
				return usageErrorf("unexpected arguments %q", args)
			}
			return usageErrorf("want one %s, got %d", name, len(args))
		}
		return nil
	}
}
