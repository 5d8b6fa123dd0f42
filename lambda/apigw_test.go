package lambda_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/txpipe/txpipe/lambda"
)

func readEvent[T any](t *testing.T, name string) T {
	t.Helper()
	b, err := os.ReadFile("testdata/events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev T
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return ev
}

// The CSV inside apigw-multipart-upload.json and its SHA-256.
const (
	uploadSHA256 = "4da8008f0289303aaee88aaaf7835aa8eb8dd5aa345a3930795c7ae22e00b131"
	uploadFileID = "4da8008f0289303aaee88aaaf7835aa8"
)

func TestNewRequestMultipartBase64(t *testing.T) {
	ev := readEvent[events.APIGatewayProxyRequest](t, "apigw-multipart-upload.json")
	r, err := lambda.NewRequest(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/upload" {
		t.Errorf("request = %s %s, want POST /upload", r.Method, r.URL.Path)
	}
	if got, want := r.Host, "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"; got != want {
		t.Errorf("Host = %q, want %q", got, want)
	}
	if got := r.Header.Get("x-api-key"); got == "" {
		t.Error("x-api-key header lost")
	}
	raw, _ := base64.StdEncoding.DecodeString(ev.Body)
	if got, want := r.ContentLength, int64(len(raw)); got != want {
		t.Errorf("ContentLength = %d, want %d", got, want)
	}
	mr, err := r.MultipartReader()
	if err != nil {
		t.Fatalf("MultipartReader: %v", err)
	}
	part, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if part.FormName() != "file" || part.FileName() != "transactions.csv" {
		t.Errorf("part = %q %q, want file transactions.csv", part.FormName(), part.FileName())
	}
	h := sha256.New()
	if _, err := io.Copy(h, part); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != uploadSHA256 {
		t.Errorf("file SHA-256 = %s, want %s", got, uploadSHA256)
	}
	if got, want := lambda.BaseURL(ev), "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/dev"; got != want {
		t.Errorf("BaseURL = %q, want %q", got, want)
	}
}

func TestNewRequestQueryAndSingleValueHeaders(t *testing.T) {
	ev := readEvent[events.APIGatewayProxyRequest](t, "apigw-get-transactions.json")
	ev.MultiValueHeaders = nil // older events carry only the single-value maps
	ev.MultiValueQueryStringParameters = nil
	r, err := lambda.NewRequest(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	q := r.URL.Query()
	if q.Get("from") != "2026-11-20T00:00:00Z" || q.Get("to") != "2026-11-22T00:00:00Z" || q.Get("limit") != "2" {
		t.Errorf("query = %v", q)
	}
	if r.Header.Get("X-Forwarded-Proto") != "https" || r.Body != http.NoBody {
		t.Errorf("headers %v, body %v", r.Header, r.Body)
	}
	if r.RemoteAddr != "203.0.113.17:0" {
		t.Errorf("RemoteAddr = %q", r.RemoteAddr)
	}
}

func TestAPIResponseEncoding(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	api := &lambda.API{NewHandler: func(baseURL string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/json":
				w.Header().Set("Content-Type", "application/json")
				w.Header().Add("Vary", "Accept")
				w.Header().Add("Vary", "x-api-key")
				w.WriteHeader(http.StatusTeapot)
				io.WriteString(w, `{"base":"`+baseURL+`"}`)
			case "/png":
				w.Header().Set("Content-Type", "image/png")
				w.Write(png)
			}
		})
	}}
	ev := readEvent[events.APIGatewayProxyRequest](t, "apigw-get-transactions.json")
	ev.Path = "/json"
	ev.RequestContext.Path = "/dev/json"
	resp, err := api.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusTeapot || resp.IsBase64Encoded {
		t.Errorf("status %d, base64 %v; want 418 as text", resp.StatusCode, resp.IsBase64Encoded)
	}
	if got, want := resp.Body, `{"base":"https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/dev"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if got := resp.MultiValueHeaders["Vary"]; len(got) != 2 {
		t.Errorf("Vary = %v, want both values", got)
	}

	ev.Path = "/png"
	ev.RequestContext.Path = "/dev/png"
	resp, err = api.Handle(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	body, err := base64.StdEncoding.DecodeString(resp.Body)
	if !resp.IsBase64Encoded || err != nil || string(body) != string(png) {
		t.Errorf("binary body: base64 %v, decoded %q (%v), want the PNG bytes", resp.IsBase64Encoded, body, err)
	}
}
