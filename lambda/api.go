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
// cannot be turned into a request, which API Gateway reports as a 502.
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
	w := newResponseWriter()
	a.handler(BaseURL(ev)).ServeHTTP(w, r)
	resp := w.response()
	end(nil)
	a.logger().DebugContext(ctx, "API Gateway event served", "request_id", requestID(ctx),
		"method", ev.HTTPMethod, "path", ev.Path, "status", resp.StatusCode, "seconds", time.Since(start).Seconds())
	return resp, nil
}
