package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/txpipe/txpipe"
)

// Client talks to the txpipe HTTP API, locally or behind API Gateway.
type Client struct {
	Endpoint string       // the API's base URL, e.g. http://127.0.0.1:8080
	APIKey   string       // sent in the x-api-key header if set
	HTTP     *http.Client // http.DefaultClient if nil
	// Format, if set, is sent with every upload as its form fields
	// (delimiter, encoding, profile, sheet): how to read the file.
	Format UploadFormat
}

// UploadFormat says how the server should read an upload; empty fields
// leave it to detection (see docs/contract.md, Dialects).
type UploadFormat struct {
	Delimiter, Encoding, Profile, Sheet string
}

func (f UploadFormat) fields() [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{{"delimiter", f.Delimiter}, {"encoding", f.Encoding}, {"profile", f.Profile}, {"sheet", f.Sheet}} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out
}

// UploadResult is the answer to an upload that the API took in: a new
// file (202), known bytes (200) or a rejected file (422).
type UploadResult struct {
	StatusCode int
	// Record is the file's status record. After a 202 it holds the fields
	// the answer has (FileID, Status, Rows); after a 422 the rejection's
	// (FileID, Status, ErrorCount, Errors).
	Record    *txpipe.FileStatus
	StatusURL string // after a 202
	Message   string // after a 422, the error message
	// SuggestedProfile is, after a 422 for a header that did not match,
	// a profile skeleton to edit.
	SuggestedProfile string
}

// Created reports whether the upload was a new, valid file.
func (r *UploadResult) Created() bool { return r.StatusCode == http.StatusAccepted }

// Rejected reports whether the file was rejected.
func (r *UploadResult) Rejected() bool { return r.StatusCode == http.StatusUnprocessableEntity }

// expectContinueAbove is the body size from which an upload asks the
// server to confirm (100 Continue) before it sends the file, so a refused
// request (no key, over quota, over the size limit) does not send it all.
const expectContinueAbove = 1 << 20

// Upload uploads the bytes of r as a file called filename. It streams a
// multipart/form-data body and never holds the file in memory. If r is an
// *os.File or has a Size method, the request carries a Content-Length.
//
// A rejected file is not an error: the result says so. Answers other than
// 200, 202 and 422 come back as *txpipe.Error with the API's error code.
func (c *Client) Upload(ctx context.Context, filename string, r io.Reader) (*UploadResult, error) {
	return c.UploadSize(ctx, filename, r, sizeOf(r))
}

// UploadSize is Upload for a reader of size bytes (-1 if unknown), such as
// a file wrapped to report progress.
func (c *Client) UploadSize(ctx context.Context, filename string, r io.Reader, size int64) (*UploadResult, error) {
	head, tail, contentType, err := multipartFraming(filename, c.Format.fields())
	if err != nil {
		return nil, err
	}
	body := io.MultiReader(bytes.NewReader(head), r, bytes.NewReader(tail))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/upload", nil), io.NopCloser(body))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", filename, err)
	}
	req.Header.Set("Content-Type", contentType)
	if size >= 0 {
		req.ContentLength = int64(len(head)) + size + int64(len(tail))
	}
	if size < 0 || size > expectContinueAbove {
		req.Header.Set("Expect", "100-continue")
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", filename, err)
	}
	defer resp.Body.Close()
	res := &UploadResult{StatusCode: resp.StatusCode}
	switch resp.StatusCode {
	case http.StatusAccepted:
		var a Accepted
		if err := decodeBody(resp, &a); err != nil {
			return nil, fmt.Errorf("upload %s: %w", filename, err)
		}
		res.Record = &txpipe.FileStatus{FileID: a.FileID, Status: a.Status, Rows: a.Rows, Filename: filename,
			Dialect: a.Dialect, Profile: a.Profile}
		res.StatusURL = a.StatusURL
	case http.StatusOK:
		res.Record = new(txpipe.FileStatus)
		if err := decodeBody(resp, res.Record); err != nil {
			return nil, fmt.Errorf("upload %s: %w", filename, err)
		}
	case http.StatusUnprocessableEntity:
		var rj Rejection
		if err := decodeBody(resp, &rj); err != nil {
			return nil, fmt.Errorf("upload %s: %w", filename, err)
		}
		res.Record = &txpipe.FileStatus{FileID: rj.FileID, Status: rj.Status, Filename: filename,
			ErrorCount: rj.ErrorCount, Errors: rj.Errors, Dialect: rj.Dialect, Profile: rj.Profile}
		res.Message, res.SuggestedProfile = rj.Error.Message, rj.SuggestedProfile
	default:
		return nil, fmt.Errorf("upload %s: %w", filename, apiError(resp))
	}
	return res, nil
}

// Status returns the status record of a file.
func (c *Client) Status(ctx context.Context, fileID string) (*txpipe.FileStatus, error) {
	var st txpipe.FileStatus
	if err := c.get(ctx, c.url("/status/"+url.PathEscape(fileID), nil), &st); err != nil {
		return nil, fmt.Errorf("status of %s: %w", fileID, err)
	}
	return &st, nil
}

// Transactions returns one page of the transactions with q.From <=
// timestamp < q.To, oldest first.
func (c *Client) Transactions(ctx context.Context, q txpipe.TxQuery) (txpipe.TxPage, error) {
	v := url.Values{}
	v.Set("from", q.From.UTC().Format(time.RFC3339Nano))
	v.Set("to", q.To.UTC().Format(time.RFC3339Nano))
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	var page txpipe.TxPage
	if err := c.get(ctx, c.url("/transactions", v), &page); err != nil {
		return txpipe.TxPage{}, fmt.Errorf("list transactions: %w", err)
	}
	return page, nil
}

// WaitMaxPoll caps the interval between Wait's polls.
const WaitMaxPoll = 15 * time.Second

// Wait polls the status of a file until it is final (see txpipe.IsFinal)
// and returns that record. It polls after poll, then backs off: each poll
// that finds the status unchanged makes the next interval 1.5 times longer,
// up to WaitMaxPoll (a change starts again from poll), so a long run costs
// few requests (an hour about 250). When the key's rate limit is reached it
// waits as long as the API asks (up to a minute) and goes on.
func (c *Client) Wait(ctx context.Context, fileID string, poll time.Duration) (*txpipe.FileStatus, error) {
	return c.WaitProgress(ctx, fileID, poll, nil)
}

// WaitProgress is Wait calling seen, if not nil, with each record read
// before the final one.
func (c *Client) WaitProgress(ctx context.Context, fileID string, poll time.Duration, seen func(*txpipe.FileStatus)) (*txpipe.FileStatus, error) {
	poll = max(poll, time.Millisecond)
	interval := poll
	last := ""
	for {
		delay := interval
		st, err := c.Status(ctx, fileID)
		var ra *RetryAfterError
		switch {
		case errors.As(err, &ra) && ra.After <= time.Minute:
			delay = max(ra.After, interval)
		case err != nil:
			return nil, err
		case txpipe.IsFinal(st.Status):
			return st, nil
		case st.Status != last:
			last, interval, delay = st.Status, poll, poll
		default:
			interval = min(interval*3/2, max(WaitMaxPoll, poll))
		}
		if seen != nil && st != nil {
			seen(st)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return st, fmt.Errorf("wait for file %s: %w", fileID, ctx.Err())
		case <-t.C:
		}
	}
}

func (c *Client) url(p string, q url.Values) string {
	u := strings.TrimSuffix(c.Endpoint, "/") + p
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	if c.APIKey != "" {
		req.Header.Set(APIKeyHeader, c.APIKey)
	}
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	return hc.Do(req)
}

func (c *Client) get(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	return decodeBody(resp, v)
}

func decodeBody(resp *http.Response, v any) error {
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode %d answer: %w", resp.StatusCode, err)
	}
	return nil
}

// apiError reads an error answer into a *txpipe.Error with the code of
// its JSON (or one derived from the status if the body has none).
func apiError(resp *http.Response) error {
	var body ErrorBody
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &body)
	e := &txpipe.Error{Code: body.Error.Code, Message: body.Error.Message}
	if e.Code == "" {
		e.Code = codeOf(resp.StatusCode)
	}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(raw))
		if e.Message == "" || len(e.Message) > 200 {
			e.Message = resp.Status
		}
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		// Said once: by the cause when it is a number of seconds.
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			e.Err = &RetryAfterError{After: time.Duration(secs) * time.Second}
		} else {
			e.Message += " (retry after " + ra + ")"
		}
	}
	return e
}

// RetryAfterError is the cause of a 429 answer: how long the API asked the
// client to wait.
type RetryAfterError struct{ After time.Duration }

func (e *RetryAfterError) Error() string { return fmt.Sprintf("retry after %v", e.After) }

// sizeOf returns the size of r's remaining bytes if r knows it, or -1.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case interface {
		Stat() (fs.FileInfo, error)
		Seek(int64, int) (int64, error)
	}:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return fi.Size() - off
	}
	return -1
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// multipartFraming returns what goes before and after the file's bytes in
// a multipart/form-data body with the file in part "file", after the form
// fields given.
func multipartFraming(filename string, fields [][2]string) (head, tail []byte, contentType string, err error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, "", fmt.Errorf("make multipart boundary: %w", err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary("txpipe-" + hex.EncodeToString(b[:])); err != nil {
		return nil, nil, "", err
	}
	for _, kv := range fields {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			return nil, nil, "", err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, quoteEscaper.Replace(filename)))
	h.Set("Content-Type", "text/csv")
	if _, err := mw.CreatePart(h); err != nil {
		return nil, nil, "", err
	}
	n := buf.Len()
	if err := mw.Close(); err != nil {
		return nil, nil, "", err
	}
	all := buf.Bytes()
	return all[:n], all[n:], mw.FormDataContentType(), nil
}
