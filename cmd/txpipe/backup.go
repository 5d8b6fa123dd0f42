package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/txpipe/txpipe/sqlite"
)

func init() { commands = append(commands, newBackupCmd, newRestoreCmd) }

func newBackupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup [--data-dir DIR] [--json] DEST",
		Short: "Copy the data dir's database and files into DEST, consistently, while the server runs",
		Args:  wantArgs(1, "DEST"),
	}
	addDataDirFlag(cmd, "the local server's data dir")
	cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		dest := args[0]
		db, err := openLocalStore(cmd)
		if err != nil {
			return err
		}
		defer db.Close()
		written, err := db.Backup(cmd.Context(), dest)
		if err != nil {
			return err
		}
		// The files after the database: every file a copied record names
		// was stored before it. Files are immutable (named by their hash).
		n, err := copyTree(filepath.Join(dataDir(cmd), "files"), filepath.Join(dest, "files"))
		if err != nil {
			return fmt.Errorf("back up files: %w", err)
		}
		if jsonFlag(cmd) {
			return printJSON(cmd.OutOrStdout(), map[string]any{"dest": dest, "databases": written, "files": n})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "backed up %d database files and %d stored files to %s\n", len(written), n, dest)
		return nil
	}
	return cmd
}

func newRestoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore [--data-dir DIR] [--json] SRC",
		Short: "Make a new data dir from a backup (the server stopped; DIR must hold no database)",
		Args:  wantArgs(1, "SRC"),
	}
	addDataDirFlag(cmd, "the data dir to restore into")
	cmd.Flags().Bool("json", false, "print JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		src, dst := args[0], dataDir(cmd)
		if _, err := os.Stat(filepath.Join(src, "txpipe.db")); err != nil {
			return usageErrorf("%s holds no txpipe.db: name a directory txpipe backup wrote", src)
		}
		if _, err := os.Stat(filepath.Join(dst, "txpipe.db")); err == nil {
			return usageErrorf("%s holds a database already: restore into a new data dir (or move this one aside, the server stopped)", dst)
		}
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		dbs := 0
		for _, e := range entries {
			if e.Type().IsRegular() && sqlite.IsDatabaseFile(e.Name()) {
				if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
					return err
				}
				dbs++
			}
		}
		n, err := copyTree(filepath.Join(src, "files"), filepath.Join(dst, "files"))
		if err != nil {
			return fmt.Errorf("restore files: %w", err)
		}
		// Opening checks the copy and applies any newer migrations.
		db, err := sqlite.Open(cmd.Context(), filepath.Join(dst, "txpipe.db"), nil)
		if err != nil {
			return fmt.Errorf("open the restored database: %w", err)
		}
		if err := db.Close(); err != nil {
			return err
		}
		if jsonFlag(cmd) {
			return printJSON(cmd.OutOrStdout(), map[string]any{"data_dir": dst, "databases": dbs, "files": n})
		}
		fmt.Fprintf(cmd.OutOrStdout(), "restored %d database files and %d stored files into %s\n", dbs, n, dst)
		return nil
	}
	return cmd
}

// copyTree copies the regular files under src into dst (made as needed)
// and returns how many; a missing src copies nothing.
func copyTree(src, dst string) (int, error) {
	n := 0
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == src {
				return filepath.SkipAll
			}
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		n++
		return copyFile(p, filepath.Join(dst, rel))
	})
	return n, err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
