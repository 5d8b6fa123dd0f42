package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/txpipe/txpipe"
)

// memExports keeps the parts of each export in memory, as S3 would, and
// fails the part numbered failPart (from 1) or the completion when asked.
type memExports struct {
	failStart    bool
	failPart     int
	failComplete bool
	started      []*memExport
}

type memExport struct {
	m           *memExports
	contentType string
	disposition string
	parts       [][]byte
	completed   bool
	aborted     bool
}

func (m *memExports) StartExport(_ context.Context, contentType, disposition string) (ExportUpload, error) {
	if m.failStart {
		return nil, txpipe.Errorf(txpipe.ETRANSIENT, "start export: SlowDown")
	}
	x := &memExport{m: m, contentType: contentType, disposition: disposition}
	m.started = append(m.started, x)
	return x, nil
}

func (x *memExport) UploadPart(_ context.Context, p []byte) error {
	if len(x.parts)+1 == x.m.failPart {
		return txpipe.Errorf(txpipe.ETRANSIENT, "upload part %d: connection reset", len(x.parts)+1)
	}
	x.parts = append(x.parts, bytes.Clone(p))
	return nil
}

func (x *memExport) Complete(context.Context) (string, time.Time, error) {
	if x.m.failComplete {
		return "", time.Time{}, errors.New("complete: InvalidPart")
	}
	x.completed = true
	return "https://bucket.example/exports/x.csv?X-Amz-Signature=s&a=b", time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC), nil
}

func (x *memExport) Abort(context.Context) error {
	x.aborted = true
	return nil
}

// setHeaders sets what httpapi sets on a CSV download, and a header of
// the request's that a 303 keeps.
func setHeaders(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="t.csv"`)
	h.Set("X-Request-Id", "r1")
}

// serveChunks answers GET / with a handler that writes body in chunks of
// the given sizes (cycled), with contentType, through API.Handle.
func serveChunks(t *testing.T, api *API, method, contentType string, code int, body []byte, chunks []int) events.APIGatewayProxyResponse {
	t.Helper()
	api.NewHandler = func(string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			setHeaders(w.Header(), contentType)
			if code != 0 {
				w.WriteHeader(code)
			}
			for i, rest := 0, body; len(rest) > 0; i++ {
				n := min(max(chunks[i%len(chunks)], 1), len(rest))
				if _, err := w.Write(rest[:n]); err != nil {
					return // as httpapi does when the client went away
				}
				rest = rest[n:]
			}
		})
	}
	api.handlers = nil
	resp, err := api.Handle(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: method, Path: "/transactions.csv"})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// checkAnswer checks that resp (and the export, if any) carries exactly
// body: inline when it fits in maxInline as sent, else a 303 whose parts
// are partSize bytes but for the last.
func checkAnswer(t *testing.T, m *memExports, resp events.APIGatewayProxyResponse, body []byte, maxInline, partSize int, spill bool) {
	t.Helper()
	if !spill {
		if resp.StatusCode/100 != 2 || len(m.started) != 0 {
			t.Fatalf("answer %d with %d exports, want it inline", resp.StatusCode, len(m.started))
		}
		got := []byte(resp.Body)
		if resp.IsBase64Encoded {
			got, _ = base64.StdEncoding.DecodeString(resp.Body)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("inline body: %d bytes, want the %d written", len(got), len(body))
		}
		return
	}
	if resp.StatusCode != http.StatusSeeOther || len(m.started) != 1 {
		t.Fatalf("answer %d with %d exports, want 303 and one export: %.200s", resp.StatusCode, len(m.started), resp.Body)
	}
	x := m.started[0]
	if !x.completed || x.aborted {
		t.Fatalf("export completed %v, aborted %v", x.completed, x.aborted)
	}
	if got := bytes.Join(x.parts, nil); !bytes.Equal(got, body) {
		t.Fatalf("export: %d bytes, want the %d written", len(got), len(body))
	}
	for i, p := range x.parts[:len(x.parts)-1] {
		if len(p) != partSize {
			t.Fatalf("part %d of %d: %d bytes, want %d", i+1, len(x.parts), len(p), partSize)
		}
	}
	if last := x.parts[len(x.parts)-1]; len(last) == 0 || len(last) > partSize {
		t.Fatalf("last part: %d bytes, want 1 to %d", len(last), partSize)
	}
	h := http.Header(resp.MultiValueHeaders)
	var e Exported
	if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.DownloadURL != h.Get("Location") || e.DownloadURL == "" || e.ExpiresAt.IsZero() {
		t.Fatalf("303 body %q (%v), Location %q", resp.Body, err, h.Get("Location"))
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/json" || h.Get("Content-Disposition") != "" || h.Get("X-Request-Id") != "r1" {
		t.Errorf("303 headers %v", h)
	}
	if x.disposition != `attachment; filename="t.csv"` {
		t.Errorf("export's disposition %q, want the handler's", x.disposition)
	}
}

func TestSpillAtTheThreshold(t *testing.T) {
	const maxInline, partSize = 1000, 300
	for _, tc := range []struct {
		name  string
		ct    string
		body  []byte
		spill bool
	}{
		{"empty", "text/csv", nil, false},
		{"exactly at the limit", "text/csv", bytes.Repeat([]byte("a"), maxInline), false},
		{"a byte over", "text/csv", bytes.Repeat([]byte("a"), maxInline+1), true},
		// Each quote and newline is two bytes in the JSON response.
		{"escapes at the limit", "text/csv", []byte(strings.Repeat("\"a\"\n", maxInline/7) + "aaaa"), false}, // 142*7+4 = 998
		{"escapes over the limit", "text/csv", []byte(strings.Repeat("\"a\"\n", maxInline/7+1)), true},
		// Binary bodies are base64: 750 bytes are 1000.
		{"base64 at the limit", "application/octet-stream", bytes.Repeat([]byte{0xff}, 750), false},
		{"base64 over the limit", "application/octet-stream", bytes.Repeat([]byte{0xff}, 751), true},
		// Not UTF-8: base64 after all, found at the end (761 bytes are
		// 1016; as text they were 766).
		{"invalid UTF-8 CSV", "text/csv", append(bytes.Repeat([]byte{'a'}, 760), 0xe9), true},
		{"invalid UTF-8 CSV that fits", "text/csv", append(bytes.Repeat([]byte{'a'}, 749), 0xe9), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunks := range [][]int{{len(tc.body) + 1}, {1}, {7, 300, 1}} {
				m := &memExports{}
				resp := serveChunks(t, &API{Exports: m, MaxInline: maxInline, PartSize: partSize}, http.MethodGet, tc.ct, 0, tc.body, chunks)
				checkAnswer(t, m, resp, tc.body, maxInline, partSize, tc.spill)
			}
		})
	}
}

func TestSpillOnlyGET200(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 5000)
	for _, tc := range []struct {
		method string
		code   int
	}{{http.MethodPost, 0}, {http.MethodGet, http.StatusAccepted}, {http.MethodGet, http.StatusNotFound}} {
		m := &memExports{}
		resp := serveChunks(t, &API{Exports: m, MaxInline: 1000, PartSize: 300}, tc.method, "text/plain", tc.code, body, []int{100})
		if len(m.started) != 0 || resp.Body != string(body) {
			t.Errorf("%s answered %d: %d exports, %d bytes inline; want all %d inline", tc.method, tc.code, len(m.started), len(resp.Body), len(body))
		}
	}
	// No ExportStore: inline whatever the size.
	if resp := serveChunks(t, &API{MaxInline: 1000}, http.MethodGet, "text/csv", 0, body, []int{100}); resp.StatusCode != 200 || resp.Body != string(body) {
		t.Errorf("without exports: %d, %d bytes", resp.StatusCode, len(resp.Body))
	}
}

// TestSpillMemoryBounded: whatever the write sizes, the writer's buffer
// never grows past the larger of the threshold and the part size, and the
// parts are whole.
func TestSpillMemoryBounded(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef\n"), 10000) // 170,000 bytes
	for _, sizes := range [][2]int{{1000, 300}, {1000, 4096}, {4096, 4096}, {50_000, 5000}} {
		for _, chunks := range [][]int{{1}, {4097}, {100_000}, {13, 8191, 3}} {
			maxInline, partSize := sizes[0], sizes[1]
			m := &memExports{}
			api := &API{Exports: m, MaxInline: maxInline, PartSize: partSize}
			var w *responseWriter
			api.NewHandler = func(string) http.Handler {
				return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					w = rw.(*responseWriter)
					setHeaders(rw.Header(), "text/csv")
					for i, rest := 0, body; len(rest) > 0; i++ {
						n := min(chunks[i%len(chunks)], len(rest))
						if _, err := rw.Write(rest[:n]); err != nil {
							t.Fatal(err)
						}
						rest = rest[n:]
					}
				})
			}
			resp, err := api.Handle(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, Path: "/transactions.csv"})
			if err != nil {
				t.Fatal(err)
			}
			checkAnswer(t, m, resp, body, maxInline, partSize, true)
			if bound := max(maxInline, partSize); w.peak > bound {
				t.Errorf("threshold %d, parts %d, writes %v: buffer grew to %d bytes, want at most %d", maxInline, partSize, chunks, w.peak, bound)
			}
		}
	}
}

// TestSpillFailure: a part that cannot be stored stops the handler's
// writes, the upload is aborted and the answer is the 503 httpapi gives
// a transient error, as when the export cannot start; a completion that
// fails is aborted and a 500.
func TestSpillFailure(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 5000)
	m := &memExports{failPart: 3}
	resp := serveChunks(t, &API{Exports: m, MaxInline: 1000, PartSize: 500}, http.MethodGet, "text/csv", 0, body, []int{100})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(resp.Body, `"code":"transient"`) {
		t.Errorf("part 3 failed: answer %d %s, want 503 transient", resp.StatusCode, resp.Body)
	}
	if x := m.started[0]; !x.aborted || x.completed || len(x.parts) != 2 {
		t.Errorf("part 3 failed: aborted %v, completed %v, %d parts stored", x.aborted, x.completed, len(x.parts))
	}
	m = &memExports{failStart: true}
	resp = serveChunks(t, &API{Exports: m, MaxInline: 1000, PartSize: 500}, http.MethodGet, "text/csv", 0, body, []int{100})
	if resp.StatusCode != http.StatusServiceUnavailable || len(m.started) != 0 {
		t.Errorf("export not started: answer %d %s, want 503", resp.StatusCode, resp.Body)
	}
	m = &memExports{failComplete: true}
	resp = serveChunks(t, &API{Exports: m, MaxInline: 1000, PartSize: 500}, http.MethodGet, "text/csv", 0, body, []int{100})
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(resp.Body, `"code":"internal"`) || !m.started[0].aborted {
		t.Errorf("completion failed: answer %d %s, aborted %v; want 500 and aborted", resp.StatusCode, resp.Body, m.started[0].aborted)
	}
}

// TestSpillPanic: a handler that panics after the spill started leaves no
// upload open.
func TestSpillPanic(t *testing.T) {
	m := &memExports{}
	api := &API{Exports: m, MaxInline: 100, PartSize: 100, NewHandler: func(string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("x"), 250))
			panic("handler bug")
		})
	}}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not reach the caller")
			}
		}()
		_, _ = api.Handle(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, Path: "/transactions.csv"})
	}()
	if len(m.started) != 1 || !m.started[0].aborted || m.started[0].completed {
		t.Fatalf("after a panic: %d exports, want one aborted", len(m.started))
	}
}

// FuzzSpill: any body written in any chunks is answered whole, inline when
// it fits as sent and exported otherwise, within the buffer bound.
func FuzzSpill(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n"), uint16(4), uint16(3), uint8(1), false)
	f.Add(bytes.Repeat([]byte("\"\u2028\\\x01é"), 40), uint16(64), uint16(10), uint8(7), false)
	f.Add([]byte{0xe2, 0x80, 0xa8, 0xff, 'a'}, uint16(5), uint16(1), uint8(2), true)
	f.Fuzz(func(t *testing.T, body []byte, maxInline, partSize uint16, chunk uint8, binary bool) {
		if maxInline == 0 || partSize == 0 {
			return
		}
		ct := "text/csv"
		if binary {
			ct = "application/octet-stream"
		}
		m := &memExports{}
		api := &API{Exports: m, MaxInline: int(maxInline), PartSize: int(partSize)}
		var w *responseWriter
		api.NewHandler = func(string) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				w = rw.(*responseWriter)
				setHeaders(rw.Header(), ct)
				for rest := body; len(rest) > 0; {
					n := min(int(chunk)+1, len(rest))
					_, _ = rw.Write(rest[:n])
					rest = rest[n:]
				}
			})
		}
		resp, err := api.Handle(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: http.MethodGet, Path: "/x"})
		if err != nil {
			t.Fatal(err)
		}
		// Spilled when the body does not fit as sent; or when a text that
		// is not UTF-8 (base64 in the end) did not fit as text before the
		// first invalid byte: the part read so far decides.
		inline := (&responseWriter{header: http.Header{"Content-Type": {ct}}, body: body}).response()
		spill := sentLen(inline) > int(maxInline)
		if !binary && !utf8.Valid(body) && resp.StatusCode == http.StatusSeeOther {
			spill = true
		}
		checkAnswer(t, m, resp, body, int(maxInline), int(partSize), spill)
		if resp.StatusCode == http.StatusOK {
			if got := sentLen(resp); got > int(maxInline) {
				t.Fatalf("inline body of %d bytes as sent, over %d", got, maxInline)
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false) // as aws-lambda-go encodes responses
			if err := enc.Encode(resp.Body); err != nil || !resp.IsBase64Encoded && b.Len()-3 != jsonLen([]byte(resp.Body)) {
				t.Fatalf("jsonLen %d, encoding/json writes %d (%v)", jsonLen([]byte(resp.Body)), b.Len()-3, err)
			}
		}
		if bound := max(int(maxInline), int(partSize)); w.peak > bound {
			t.Fatalf("buffer grew to %d, over %d", w.peak, bound)
		}
	})
}
