package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/txpipe/txpipe/httpapi"
)

// slowUpload opens a connection to e and sends the headers of a text/csv
// upload of size bytes and the first part of its body, then stalls.
func slowUpload(t *testing.T, e *env, body string, size int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s", e.key, size, body)
	return conn
}

// TestSlowUploadBodyIsCut: an upload whose body stops arriving is cut
// after the upload idle timeout (it stayed open indefinitely, holding a
// spool file).
func TestSlowUploadBodyIsCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{uploadIdle: 300 * time.Millisecond})
	conn := slowUpload(t, e, header, 100_000)
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(conn) // until the server closes it
	if err != nil {
		t.Fatalf("connection of a stalled upload not closed by the server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stalled upload cut after %v, want about 300 ms", d)
	}
}

// TestUploadCap: with MaxUploads uploads in progress, another waits for a
// turn (and is answered 503 when none comes), while other requests are
// served at once.
func TestUploadCap(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits UploadQueueWait (10 s)")
	}
	e := newEnv(t, envOptions{maxUploads: 2, uploadIdle: time.Minute})
	slowUpload(t, e, header, 100_000)
	slowUpload(t, e, header, 100_000)
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	if a := do(t, request(t, "GET", e.url+"/status/none", e.key, "", nil)); a.code != http.StatusNotFound || time.Since(start) > time.Second {
		t.Errorf("status read while uploads are capped = %d after %v, want 404 at once", a.code, time.Since(start))
	}
	a := do(t, request(t, "POST", e.url+"/upload", e.key, "text/csv", strings.NewReader(validCSV("cap", 2))))
	if a.code != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Errorf("upload over the cap = %d %s, want 503 with Retry-After", a.code, a.raw)
	}
}

// TestServerLimits: the server's own limits are set (idle keep-alive
// connections, headers, reads, writes).
func TestServerLimits(t *testing.T) {
	t.Parallel()
	s := httpapi.NewHTTPServer(http.NotFoundHandler(), nil)
	if s.ReadHeaderTimeout == 0 || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.IdleTimeout == 0 || s.MaxHeaderBytes == 0 {
		t.Errorf("server limits %v %v %v %v %d, want all set", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
	e := newEnv(t, envOptions{})
	req := request(t, "GET", e.url+"/healthz", "", "", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 100<<10))
	if a := do(t, req); a.code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers = %d, want 431", a.code)
	}
}

// TestShutdownDrainsUploads: an upload in flight when the server shuts
// down is taken in and answered; Shutdown returns after it.
func TestShutdownDrainsUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := validCSV("drain", 500)
	half := len(body) / 2
	conn := slowUpload(t, e, body[:half], len(body))
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.http.Shutdown(ctx)
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned with an upload in flight: %v", err)
	default:
	}
	io.WriteString(conn, body[half:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("answer of the upload in flight at shutdown: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("upload in flight at shutdown = %d, want 202", resp.StatusCode)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := e.runs.count(); n != 1 {
		t.Errorf("%d runs started, want 1", n)
	}
}
