package httpapi

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/txpipe/txpipe"
)

// FileLister lists status records for the console's file list.
type FileLister interface {
	// ListFiles returns status records newest first, without their errors
	// and events, continuing after q.Cursor. A bad cursor is EINVALID.
	ListFiles(ctx context.Context, q txpipe.FileQuery) (txpipe.FilePage, error)
}

// VolumeReader answers the volumes query from an aggregate kept as rows are
// written (it never scans the transactions).
type VolumeReader interface {
	// Volumes returns rows and amount per UTC day and currency for the
	// days from <= day < to (UTC midnights), by day then currency.
	Volumes(ctx context.Context, from, to time.Time) ([]txpipe.Volume, error)
}

// TenantVolumeReader is a VolumeReader that keeps volumes per tenant.
// Without it only the default tenant's volumes are answered.
type TenantVolumeReader interface {
	TenantVolumes(ctx context.Context, tenant string, from, to time.Time) ([]txpipe.Volume, error)
}

// MaxVolumeDays is the longest range GET /volumes answers.
const MaxVolumeDays = 5 * 366

func (s *Server) handleFiles(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := txpipe.FileQuery{Status: strings.ToUpper(v.Get("status")), Name: v.Get("name"), Cursor: v.Get("cursor"), Limit: txpipe.DefaultFileLimit}
	var err error
	if q.Tenant, err = s.requestTenant(r, true); err != nil {
		s.writeError(w, r, err)
		return
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > txpipe.MaxFileLimit {
			s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "limit must be an integer from 1 to %d, got %q", txpipe.MaxFileLimit, l))
			return
		}
		q.Limit = n
	}
	switch q.Status {
	case "", txpipe.StatusValidated, txpipe.StatusProcessing, txpipe.StatusCompleted, txpipe.StatusFailed, txpipe.StatusRejected,
		txpipe.StatusAwaitingUpload, txpipe.StatusExpired:
	default:
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "status %q is not a file status", v.Get("status")))
		return
	}
	if len(q.Name) > 256 {
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "name filter longer than 256 bytes"))
		return
	}
	page, err := s.cfg.Files.ListFiles(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if page.Items == nil {
		page.Items = []txpipe.FileStatus{}
	}
	now := s.cfg.Now()
	for i := range page.Items {
		page.Items[i] = *page.Items[i].Effective(now).Public()
	}
	writeJSON(w, http.StatusOK, page)
}

// VolumesAnswer is the answer to GET /volumes.
type VolumesAnswer struct {
	From  string          `json:"from"`
	To    string          `json:"to"`
	Items []txpipe.Volume `json:"items"`
}

func parseDay(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, txpipe.Errorf(txpipe.EINVALID, "query parameter %s is required (a date, YYYY-MM-DD)", name)
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, txpipe.Errorf(txpipe.EINVALID, "query parameter %s is not a date (YYYY-MM-DD): %q", name, s)
	}
	return t, nil
}

func (s *Server) handleVolumes(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	from, err := parseDay(v.Get("from"), "from")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	to, err := parseDay(v.Get("to"), "to")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !from.Before(to) {
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "from (%s) must be before to (%s)", v.Get("from"), v.Get("to")))
		return
	}
	if to.Sub(from) > MaxVolumeDays*24*time.Hour {
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "a range of at most %d days", MaxVolumeDays))
		return
	}
	tenant, err := s.requestTenant(r, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var items []txpipe.Volume
	if tv, ok := s.cfg.Volumes.(TenantVolumeReader); ok {
		items, err = tv.TenantVolumes(r.Context(), tenant, from, to)
	} else if tenant == txpipe.DefaultTenant {
		items, err = s.cfg.Volumes.Volumes(r.Context(), from, to)
	} else {
		err = txpipe.Errorf(txpipe.EUNSUPPORTED, "this server keeps volumes for the default tenant only")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if items == nil {
		items = []txpipe.Volume{}
	}
	writeJSON(w, http.StatusOK, VolumesAnswer{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), Items: items})
}

// csvSafe keeps a cell from being read as a formula by a spreadsheet: a
// cell that starts with =, +, -, @, tab or carriage return and is not a
// number gets a leading apostrophe.
func csvSafe(v string) string {
	if v == "" || !strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return "'" + v
}

func writeCSVRow(cw *csv.Writer, cells ...string) error {
	for i, c := range cells {
		cells[i] = csvSafe(c)
	}
	return cw.Write(cells)
}

func csvHeaders(w http.ResponseWriter, filename string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
}

// RowErrorStreamer lists every row error of a rejected file, beyond those
// its status record keeps (*workflow.RowErrors validates the stored file
// again).
type RowErrorStreamer interface {
	// StreamErrors calls fn with each error of st's file; a file whose
	// bytes are not stored is ENOTFOUND.
	StreamErrors(ctx context.Context, st *txpipe.FileStatus, fn func(txpipe.ErrorItem) error) error
}

// handleErrorsCSV answers a file's row errors as CSV: line, column, value,
// message. When the file has more errors than its record keeps (at most
// txpipe.MaxReportedErrors) and Config.RowErrors is set, every error is
// streamed from the stored file, validated again; otherwise the kept ones,
// followed by a line saying how many are not listed.
func (s *Server) handleErrorsCSV(w http.ResponseWriter, r *http.Request) {
	st, err := s.requestedStatus(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	csvHeaders(w, "errors-"+st.Public().FileID+".csv")
	cw := csv.NewWriter(w)
	_ = writeCSVRow(cw, "line", "column", "value", "message")
	write := func(e txpipe.ErrorItem) error {
		return writeCSVRow(cw, strconv.Itoa(e.Line), e.Column, e.Value, e.Message)
	}
	if st.ErrorCount > int64(len(st.Errors)) && s.cfg.RowErrors != nil {
		ctx := r.Context()
		if d := s.cfg.RowErrorsTimeout; d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		// The record's errors listed so far, to complete the list with the
		// others if time runs out.
		kept := make(map[txpipe.ErrorItem]bool, len(st.Errors))
		for _, e := range st.Errors {
			kept[e] = false
		}
		rc := http.NewResponseController(w)
		n := 0
		err := s.cfg.RowErrors.StreamErrors(ctx, st, func(e txpipe.ErrorItem) error {
			if err := write(e); err != nil {
				return err
			}
			if _, ok := kept[e]; ok {
				kept[e] = true
			}
			if n++; n%1000 == 0 {
				cw.Flush()
				_ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
				return cw.Error()
			}
			return nil
		})
		switch {
		case err == nil:
			cw.Flush()
			return
		case n == 0 && txpipe.ErrorCode(err) == txpipe.ENOTFOUND:
			// Not stored (rejected before the bytes were kept): the
			// kept errors below.
		case errors.Is(ctx.Err(), context.DeadlineExceeded) && r.Context().Err() == nil:
			// Out of time (a file too large to read again within
			// RowErrorsTimeout): the errors listed, the record's others,
			// and how many are left.
			listed := int64(n)
			for _, e := range st.Errors {
				if !kept[e] {
					kept[e] = true
					_ = write(e)
					listed++
				}
			}
			_ = cw.Write([]string{"# " + strconv.FormatInt(st.ErrorCount-listed, 10) + " more errors not listed: the file takes longer than " + s.cfg.RowErrorsTimeout.String() + " to read again"})
			cw.Flush()
			return
		default:
			infoOf(r.Context()).err = err
			_ = cw.Write([]string{"# export stopped: " + txpipe.ErrorMessage(err)})
			cw.Flush()
			return
		}
	}
	for _, e := range st.Errors {
		_ = write(e)
	}
	if more := st.ErrorCount - int64(len(st.Errors)); more > 0 {
		_ = cw.Write([]string{"# " + strconv.FormatInt(more, 10) + " more errors not listed: the file's bytes are not stored"})
	}
	cw.Flush()
}

// handleTransactionsCSV streams every transaction of the query (no limit)
// as CSV, a page of 1000 at a time, flushing after each page.
func (s *Server) handleTransactionsCSV(w http.ResponseWriter, r *http.Request) {
	q, err := s.parseTxQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q.Limit, q.Cursor = txpipe.MaxTxLimit, ""
	// The first page before any byte is sent, so a bad query is an error
	// answer, not a broken file.
	page, err := s.cfg.Transactions.ListTransactions(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	csvHeaders(w, "transactions.csv")
	rc := http.NewResponseController(w)
	cw := csv.NewWriter(w)
	_ = writeCSVRow(cw, "transaction_id", "amount", "amount_minor", "currency", "timestamp", "merchant", "status", "file_id", "ingested_at")
	for {
		for _, t := range page.Items {
			t = t.Public()
			if err := writeCSVRow(cw, t.ID, t.Amount, strconv.FormatInt(t.AmountMinor, 10), t.Currency,
				t.Timestamp.Format(time.RFC3339Nano), t.Merchant, t.Status, t.FileID, t.IngestedAt.Format(time.RFC3339Nano)); err != nil {
				return // the client went away
			}
		}
		cw.Flush()
		if cw.Error() != nil {
			return
		}
		_ = rc.Flush()
		if page.NextCursor == "" {
			return
		}
		// A long export outlives WriteTimeout: each page the client takes
		// gives it another WriteTimeout; a client that stops reading is cut.
		_ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
		q.Cursor = page.NextCursor
		if page, err = s.cfg.Transactions.ListTransactions(r.Context(), q); err != nil {
			// Headers are sent: end the body with a line that says so, so
			// the file is visibly incomplete.
			infoOf(r.Context()).err = err
			_ = cw.Write([]string{"# export stopped: " + txpipe.ErrorMessage(err)})
			cw.Flush()
			return
		}
	}
}
