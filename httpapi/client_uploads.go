package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// MaxDirectUpload is the largest body POST /upload takes on AWS (4 MiB):
// API Gateway and Lambda cap a request at 6 MB, and a binary body grows by
// 4/3 in base64. Larger files go through POST /uploads.
const MaxDirectUpload = 4 << 20

// TwoStepAbove is the file size above which UploadFile takes the two-step
// flow: MaxDirectUpload less room for the multipart framing.
const TwoStepAbove = MaxDirectUpload - 4<<10

// UploadOptions tune UploadFile.
type UploadOptions struct {
	// TwoStep sends the file with POST /uploads whatever its size.
	TwoStep bool
	// Progress, if set, is told the bytes of the file sent so far.
	Progress func(sent int64)
	// Poll is how often the two-step flow asks for the status while the
	// bytes are validated elsewhere (on AWS); 500 ms if 0.
	Poll time.Duration
}

// UploadFile uploads the size bytes of f (read from its start) as a file
// called filename: with one POST /upload up to TwoStepAbove bytes, else (or
// with opts.TwoStep) through the two-step upload. A one-step upload refused
// with 413 use_uploads is sent again in two steps. The result is the same
// either way: 202 for a new file, 200 for known bytes, 422 for a rejected
// file.
func (c *Client) UploadFile(ctx context.Context, filename string, f io.ReadSeeker, size int64, opts UploadOptions) (*UploadResult, error) {
	if !opts.TwoStep && size >= 0 && size <= TwoStepAbove {
		res, err := c.UploadSize(ctx, filename, &progressReader{r: f, fn: opts.Progress}, size)
		if txpipe.ErrorCode(err) != txpipe.EUSEUPLOADS {
			return res, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("upload %s: rewind: %w", filename, err)
		}
	}
	return c.UploadTwoStep(ctx, filename, f, opts)
}

// UploadTwoStep reads f once to hash it, declares it with POST /uploads,
// and unless its bytes are known sends them to the upload URL, then reads
// the file's status until its bytes were validated.
func (c *Client) UploadTwoStep(ctx context.Context, filename string, f io.ReadSeeker, opts UploadOptions) (*UploadResult, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("upload %s: rewind: %w", filename, err)
	}
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("upload %s: hash: %w", filename, err)
	}
	d := workflow.Declaration{
		Filename: filename, SizeBytes: size, SHA256: hex.EncodeToString(h.Sum(nil)),
		Delimiter: c.Format.Delimiter, Encoding: c.Format.Encoding, Profile: c.Format.Profile, Sheet: c.Format.Sheet,
	}
	body, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url("/uploads", nil), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", filename, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.do(req)
	if err != nil {
		return nil, fmt.Errorf("upload %s: declare: %w", filename, err)
	}
	defer resp.Body.Close()
	var t UploadTicket
	switch resp.StatusCode {
	case http.StatusOK:
		res := &UploadResult{StatusCode: http.StatusOK, Record: new(txpipe.FileStatus)}
		if err := decodeBody(resp, res.Record); err != nil {
			return nil, fmt.Errorf("upload %s: %w", filename, err)
		}
		if opts.Progress != nil {
			opts.Progress(size)
		}
		return res, nil
	case http.StatusCreated:
		if err := decodeBody(resp, &t); err != nil {
			return nil, fmt.Errorf("upload %s: %w", filename, err)
		}
	default:
		return nil, fmt.Errorf("upload %s: declare: %w", filename, apiError(resp))
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("upload %s: rewind: %w", filename, err)
	}
	method := t.Method
	if method == "" {
		method = http.MethodPut
	}
	put, err := http.NewRequestWithContext(ctx, method, t.UploadURL, io.NopCloser(&progressReader{r: io.LimitReader(f, size), fn: opts.Progress}))
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", filename, err)
	}
	put.ContentLength = size
	for k, v := range t.Headers {
		put.Header.Set(k, v)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	presp, err := hc.Do(put) // no x-api-key: the URL carries its own authority
	if err != nil {
		return nil, fmt.Errorf("upload %s: send bytes: %w", filename, err)
	}
	defer presp.Body.Close()
	if presp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("upload %s: send bytes: %w", filename, apiError(presp))
	}
	st := new(txpipe.FileStatus)
	if !strings.HasPrefix(presp.Header.Get("Content-Type"), "application/json") || json.NewDecoder(presp.Body).Decode(st) != nil || st.FileID == "" {
		st = nil // S3 answers without the record
	}
	poll := opts.Poll
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	for st == nil || txpipe.AwaitingBytes(st.Status) {
		if st != nil {
			tm := time.NewTimer(poll)
			select {
			case <-ctx.Done():
				tm.Stop()
				return nil, fmt.Errorf("upload %s: wait for validation: %w", filename, ctx.Err())
			case <-tm.C:
			}
		}
		if st, err = c.Status(ctx, t.FileID); err != nil {
			return nil, fmt.Errorf("upload %s: %w", filename, err)
		}
		if st.Status == txpipe.StatusExpired {
			return nil, txpipe.Errorf(txpipe.EINVALID, "upload %s: the upload of file %s expired before its bytes were taken in", filename, t.FileID)
		}
	}
	res := &UploadResult{StatusCode: http.StatusAccepted, Record: st, StatusURL: t.StatusURL}
	if st.Status == txpipe.StatusRejected {
		res.StatusCode = http.StatusUnprocessableEntity
		res.Message = fmt.Sprintf("the file was rejected: %d errors", st.ErrorCount)
		if st.ErrorCount == 1 {
			res.Message = "the file was rejected: 1 error"
		}
	}
	return res, nil
}

// progressReader tells fn the bytes read through it.
type progressReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.n)
	}
	return n, err
}
