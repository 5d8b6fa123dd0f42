package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newVersionCmd) }

// buildInfo is what `txpipe version` prints.
type buildInfo struct {
	Version   string `json:"version"`            // the module version, "(devel)" for a local build
	Commit    string `json:"commit,omitempty"`   // vcs.revision
	Modified  bool   `json:"modified,omitempty"` // vcs.modified: built from a changed tree
	GoVersion string `json:"go_version"`
}

func readBuildInfo() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return buildInfo{Version: "unknown"}
	}
	info := buildInfo{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version, commit and Go version",
		Args:  wantArgs(0, ""),
	}
	jsonOut := cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		info := readBuildInfo()
		if *jsonOut {
			return printJSON(cmd.OutOrStdout(), info)
		}
		commit := info.Commit
		if commit == "" {
			commit = "unknown"
		} else if info.Modified {
			commit += " (modified)"
		}
		_, err := fmt.Fprintf(cmd.OutOrStdout(), "txpipe %s\ncommit %s\n%s\n", info.Version, commit, info.GoVersion)
		return err
	}
	return cmd
}
