package sqlite

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/txpipe/txpipe"
)

// fileCursor is the position after the last record of a page of files.
type fileCursor struct {
	created int64
	fileID  string
}

func (c fileCursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte("f1:" + strconv.FormatInt(c.created, 10) + ":" + c.fileID))
}

func decodeFileCursor(s string) (fileCursor, error) {
	bad := txpipe.Errorf(txpipe.EINVALID, "invalid cursor")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return fileCursor{}, bad
	}
	parts := strings.SplitN(string(b), ":", 3)
	if len(parts) != 3 || parts[0] != "f1" || parts[2] == "" {
		return fileCursor{}, bad
	}
	n, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return fileCursor{}, bad
	}
	return fileCursor{created: n, fileID: parts[2]}, nil
}

// ListFiles returns status records newest first (ties by file id,
// descending), q.Limit at a time, filtered by status and by a part of the
// filename (case-insensitive). The records carry no errors or events.
func (db *DB) ListFiles(ctx context.Context, q txpipe.FileQuery) (txpipe.FilePage, error) {
	limit := q.PageSize()
	after := fileCursor{created: 1<<63 - 1, fileID: "\xff"}
	if q.Cursor != "" {
		c, err := decodeFileCursor(q.Cursor)
		if err != nil {
			return txpipe.FilePage{}, err
		}
		after = c
	}
	// One tenant's files are read through the (tenant, created_at) index;
	// every tenant's (AllTenants, admin keys) through (created_at).
	tenant := txpipe.TenantOrDefault(q.Tenant)
	if tenant != txpipe.AllTenants {
		if err := txpipe.CheckTenant(tenant); err != nil {
			return txpipe.FilePage{}, err
		}
	}
	where, args := "", []any{}
	if tenant != txpipe.AllTenants {
		where, args = "tenant = ? AND ", []any{tenant}
	}
	args = append(args, after.created, after.fileID, q.Status, q.Status, q.Name, q.Name, limit+1)
	rows, err := db.read.QueryContext(ctx, `SELECT record, created_at FROM file_status
		WHERE `+where+`(created_at, file_id) < (?, ?) AND (? = '' OR status = ?)
		AND (? = '' OR instr(lower(json_extract(record, '$.filename')), lower(?)) > 0)
		ORDER BY created_at DESC, file_id DESC LIMIT ?`, args...)
	if err != nil {
		return txpipe.FilePage{}, fmt.Errorf("list files: %w", translate(err))
	}
	defer rows.Close()
	page := txpipe.FilePage{Items: []txpipe.FileStatus{}}
	var last fileCursor
	for rows.Next() {
		var record string
		var created int64
		if err := rows.Scan(&record, &created); err != nil {
			return txpipe.FilePage{}, fmt.Errorf("list files: %w", translate(err))
		}
		if len(page.Items) == limit {
			page.NextCursor = last.encode()
			break
		}
		st, err := scanStatus(record)
		if err != nil {
			return txpipe.FilePage{}, fmt.Errorf("list files: %w", err)
		}
		page.Items = append(page.Items, st.ListItem())
		last = fileCursor{created: created, fileID: st.FileID}
	}
	if err := rows.Err(); err != nil {
		return txpipe.FilePage{}, fmt.Errorf("list files: %w", translate(err))
	}
	return page, nil
}
