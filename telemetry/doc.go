// Package telemetry sets up txpipe's operations signals, shared by the Lambda
// functions and the local server: OpenTelemetry traces (with X-Ray trace IDs
// and propagation on Lambda, exported over OTLP only when an endpoint is
// configured), instrumented AWS SDK clients, and custom metrics written as
// CloudWatch Embedded Metric Format lines.
package telemetry
