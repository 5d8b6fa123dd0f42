# syntax=docker/dockerfile:1
# txpipe's Lambda image: one static ARM64 bootstrap for the three functions.
# The image command picks the handler: ["validator"] (the default),
# ["transformer"] or ["notifier"] (the CDK stack sets it per function).
#
#   make image            # docker build --platform linux/arm64 -t txpipe-lambda .
#
# The builder runs on the build machine's own platform and cross-compiles
# (pure Go, CGO_ENABLED=0), so no emulation is needed on amd64 hosts.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# lambda.norpc leaves out aws-lambda-go's legacy RPC mode (go1.x runtime
# only); it also drops net/rpc, whose html/template use keeps the linker from
# removing unused methods: 15 MB instead of 25 MB.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux GOARCH=arm64 \
    go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o /bootstrap ./cmd/txpipe-lambda

FROM public.ecr.aws/lambda/provided:al2023-arm64
COPY --from=build /bootstrap /var/task/bootstrap
ENTRYPOINT ["/var/task/bootstrap"]
CMD ["validator"]
