#!/usr/bin/env bash
# Runs every check of the project on a fresh machine with only Go, Node.js and
# npm: installs the tools and emulators the tests need (npm packages into
# node_modules, Go tools into .bin), then gofmt, go vet, staticcheck and the
# tests of both modules. The tests start the emulators themselves.
set -euo pipefail
step() { echo "== $* (at ${SECONDS}s)"; }
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/node_modules/.bin:$root/.bin:$PATH"

# One build configuration for vet, the builds and the tests (pure Go, as
# shipped), so each package compiles once per architecture.
export CGO_ENABLED=0

step "installing test tools (compiling both modules meanwhile)"
# The compile (the longest part on a new machine) overlaps the downloads.
( go vet -tags integration ./...; cd infra && go vet ./... ) >/dev/null 2>&1 &
warm=$!
npm ci --no-audit --no-fund --loglevel=error
(cd infra && npm ci --no-audit --no-fund --loglevel=error)
GOBIN="$root/.bin" go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
# SNS and SQS run on moto (goaws cannot speak the SDK v2 SQS JSON protocol).
# This project's machine image ships it; elsewhere pip installs it.
if ! command -v moto_server >/dev/null && ! python3 -c 'import moto.server' 2>/dev/null; then
  python3 -m pip install --quiet 'moto[server]'
fi

# The console's browser tests drive Debian's headless Chromium (they fail,
# not skip, without it when CI=true).
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

wait "$warm" || true # a failure shows again, in context, in the steps below

step "gofmt"
unformatted=$(git ls-files -co --exclude-standard '*.go' | xargs -r gofmt -l)
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi

step "go.mod files tidy"
go mod tidy -diff
(cd infra && go mod tidy -diff)

# Tests that need an emulator, a browser or a built binary, in packages
# where they are all such tests, are behind the integration build tag
# (`go test -short ./...` links no test binary for them); CI checks and runs
# them all. The plain vet checks that the quick build compiles too.
step "go vet + staticcheck"
go vet ./...
go vet -tags integration ./...
staticcheck -tags integration ./...
(cd infra && go vet ./... && staticcheck ./...)

step "CGO_ENABLED=0 builds (amd64, arm64)"
go build -o /dev/null ./...
GOOS=linux GOARCH=arm64 go build -trimpath -o /dev/null ./... # -trimpath as the Lambda binary: shared compiles
make --no-print-directory lambda-binary LAMBDA_BIN="$(mktemp -d)/bootstrap" # fails over the 25 MB budget

step "tests"
go test -tags integration -count=1 -timeout 15m ./...
(cd infra && go test -count=1 -timeout 10m ./...)

step "cdk synth (offline, as the README's deploy steps run it)"
(cd infra && npx --no-install cdk synth --quiet -o "$(mktemp -d)" >/dev/null)
step "done"
