package lambda

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// NewRequest converts an API Gateway REST proxy event into the HTTP request
// it stands for. A base64 body (API Gateway sends one for the binary media
// types, such as multipart/form-data) is decoded as it is read, not at once.
func NewRequest(ctx context.Context, ev events.APIGatewayProxyRequest) (*http.Request, error) {
	path := ev.Path
	if path == "" {
		path = "/"
	}
	u := &url.URL{Path: path}
	if q := queryOf(ev); len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	var body io.Reader = strings.NewReader(ev.Body)
	length := int64(len(ev.Body))
	if ev.IsBase64Encoded {
		body = base64.NewDecoder(base64.StdEncoding, body)
		length = decodedLen(ev.Body)
	}
	// The key API Gateway checked: the API reads its tenant (KeyTenants).
	ctx = context.WithValue(ctx, apiKeyIDKey{}, ev.RequestContext.Identity.APIKeyID)
	r, err := http.NewRequestWithContext(ctx, ev.HTTPMethod, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("request from API Gateway event %s %s: %w", ev.HTTPMethod, ev.Path, err)
	}
	r.RequestURI = u.RequestURI()
	r.ContentLength = length
	if length == 0 {
		r.Body = http.NoBody
	}
	for k, vs := range headersOf(ev) {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	if ip := ev.RequestContext.Identity.SourceIP; ip != "" {
		r.RemoteAddr = ip + ":0"
	}
	return r, nil
}

func queryOf(ev events.APIGatewayProxyRequest) url.Values {
	q := url.Values{}
	if len(ev.MultiValueQueryStringParameters) > 0 {
		for k, vs := range ev.MultiValueQueryStringParameters {
			q[k] = append(q[k], vs...)
		}
		return q
	}
	for k, v := range ev.QueryStringParameters {
		q.Set(k, v)
	}
	return q
}

func headersOf(ev events.APIGatewayProxyRequest) http.Header {
	h := http.Header{}
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		return h
	}
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	return h
}

// decodedLen is the length of the bytes a padded base64 text decodes to,
// or -1 (unknown) when the text is not a whole number of quanta.
func decodedLen(s string) int64 {
	if len(s)%4 != 0 {
		return -1
	}
	n := int64(len(s)) / 4 * 3
	for i := 0; i < 2 && strings.HasSuffix(s, strings.Repeat("=", i+1)); i++ {
		n--
	}
	return n
}

// BaseURL is the URL the client called the API at, up to the start of the
// API's own path: scheme and host, plus the stage (or base path) when API
// Gateway's default domain puts one before the resource path.
func BaseURL(ev events.APIGatewayProxyRequest) string {
	h := headersOf(ev)
	host := h.Get("Host")
	if host == "" {
		host = ev.RequestContext.DomainName
	}
	if host == "" {
		return ""
	}
	scheme := "https"
	if p := h.Get("X-Forwarded-Proto"); p == "http" {
		scheme = p
	}
	prefix := ""
	if p := ev.RequestContext.Path; p != "" && ev.Path != "" && strings.HasSuffix(p, ev.Path) {
		prefix = strings.TrimSuffix(p, ev.Path)
	}
	return scheme + "://" + host + prefix
}

func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"), mt == "application/javascript":
		return true
	}
	return false
}
