package txpipe_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCoreDependencies keeps the core packages free of the AWS SDK, net/http
// and database/sql: they hold the pipeline's logic, and every adapter builds
// on them, not the other way round. A forbidden package may be reached only
// through a library listed in allowedVia, for the reason given there.
func TestCoreDependencies(t *testing.T) {
	core := []string{".", "./csvschema", "./iso4217", "./workflow"}
	forbidden := []string{"github.com/aws/", "net/http", "database/sql"}
	// excelize (the .xlsx row reader csvschema uses) imports net/http for
	// one call, http.DetectContentType on pictures it inserts, which reading
	// a sheet never makes: no client, no server, no socket.
	allowedVia := map[string]string{"net/http": "github.com/xuri/excelize/v2"}
	isForbidden := func(dep string) string {
		for _, bad := range forbidden {
			if dep == bad || strings.HasPrefix(dep, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
				return bad
			}
		}
		return ""
	}
	// Every package in the core's closure, with what it imports directly.
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}, core...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", core, err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := f[0]
		if isForbidden(pkg) != "" {
			continue // the forbidden package's own imports
		}
		for _, imp := range f[1:] {
			bad := isForbidden(imp)
			if bad == "" || allowedVia[bad] == pkg {
				continue
			}
			t.Errorf("%s imports %s, and the core packages %v depend on it", pkg, imp, core)
		}
	}
}

// listDeps returns the dependencies of each package, from one `go list`
// run (one run a package is most of this package's test time).
func listDeps(t *testing.T, pkgs ...string) map[string][]string {
	t.Helper()
	args := append([]string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", pkgs, err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	return deps
}

// TestNoPrometheusOutsideTheLocalServer: the metrics ports are interfaces
// (httpapi.Metrics, workflow.Observer); only telemetry/prom and the local
// server link Prometheus, so the Lambda binary, which nobody scrapes, does
// not.
func TestNoPrometheusOutsideTheLocalServer(t *testing.T) {
	for pkg, deps := range listDeps(t, "./cmd/txpipe-lambda", "./lambda", "./httpapi", "./workflow", "./telemetry") {
		for _, dep := range deps {
			if strings.HasPrefix(dep, "github.com/prometheus/") || dep == "github.com/txpipe/txpipe/telemetry/prom" {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}

// TestLambdaBinaryHasNoPrometheus builds the bootstrap as the stack does
// (linux/arm64, no cgo) and reads its module list with `go version -m`.
func TestLambdaBinaryHasNoPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the Lambda binary; run without -short")
	}
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/txpipe-lambda")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/aws/aws-lambda-go") {
		t.Fatalf("go version -m lists no aws-lambda-go; is this the bootstrap?\n%s", out)
	}
	if strings.Contains(string(out), "prometheus") {
		t.Errorf("the Lambda binary links Prometheus:\n%s", out)
	}
}
