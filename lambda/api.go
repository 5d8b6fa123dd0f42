package lambda

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/attribute"
)

// API serves API Gateway REST proxy events with an http.Handler: the
// validator function serves the contract's routes with httpapi, so the API
// is written once for the local server and for AWS.
type API struct {
	// NewHandler returns the handler for an API reached at baseURL (the
	// scheme, host and stage, for the status_url of an accepted upload). It
	// is called once per base URL, on the first event that has it.
	NewHandler func(baseURL string) http.Handler
	Telemetry

	// Exports, if set, takes the GET answers 200 whose body would be
	// larger than MaxInline in the Lambda response: the body is uploaded
	// in parts of PartSize as it is written, and the answer is 303 See
	// Other to a download URL. Without it every answer is inline (and
	// Lambda refuses one over 6 MB).
	Exports ExportStore
	// MaxInline is the largest body of an inline answer as the response
	// carries it (JSON-escaped text, or base64); 0 is DefaultMaxInline.
	MaxInline int
	// PartSize is the part size of an export (0 is DefaultPartSize; S3
	// needs at least 5 MiB but for the last part).
	PartSize int

	mu       sync.Mutex
	handlers map[string]http.Handler
}

func (a *API) handler(baseURL string) http.Handler {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.handlers[baseURL]
	if !ok {
		if a.handlers == nil {
			a.handlers = map[string]http.Handler{}
		}
		h = a.NewHandler(baseURL)
		a.handlers[baseURL] = h
	}
	return h
}

// Handle serves one API Gateway event. Errors of the API itself are
// answers (4xx, 5xx JSON bodies); an error is returned only when the event
// cannot be turned into a request, which API Gateway reports as a 502. A
// GET answer too large for the response goes to Exports (303).
func (a *API) Handle(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	start := time.Now()
	ctx, end := a.start(ctx, ev.HTTPMethod+" "+ev.Resource,
		attribute.String("http.request.method", ev.HTTPMethod), attribute.String("url.path", ev.Path))
	r, err := NewRequest(ctx, ev)
	if err != nil {
		end(err)
		a.logger().ErrorContext(ctx, "bad API Gateway event", "request_id", requestID(ctx), "err", err)
		return events.APIGatewayProxyResponse{}, fmt.Errorf("serve API Gateway event: %w", err)
	}
	w := newResponseWriter().spilling(ctx, r.Method, a.Exports, a.MaxInline, a.PartSize)
	defer func() { _ = w.abort() }() // a handler that panics leaves no upload behind
	a.handler(BaseURL(ev)).ServeHTTP(w, r)
	resp, err := w.finish()
	if err != nil {
		// The answer is an error (5xx): the export could not be stored.
		a.logger().ErrorContext(ctx, "answer not exported", "request_id", requestID(ctx),
			"method", ev.HTTPMethod, "path", ev.Path, "bytes_uploaded", w.uploaded, "err", err)
	} else if w.export != nil {
		a.logger().InfoContext(ctx, "answer exported", "request_id", requestID(ctx),
			"method", ev.HTTPMethod, "path", ev.Path, "bytes", w.uploaded)
	}
	end(err)
	a.logger().DebugContext(ctx, "API Gateway event served", "request_id", requestID(ctx),
		"method", ev.HTTPMethod, "path", ev.Path, "status", resp.StatusCode, "seconds", time.Since(start).Seconds())
	return resp, nil
}
