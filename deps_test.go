package txpipe_test

import (
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestCoreDependencies keeps the core packages free of the AWS SDK, net/http
// and database/sql: they hold the pipeline's logic, and every adapter builds
// on them, not the other way round. A forbidden package may be reached only
// through a library listed in allowedVia, for the reason given there.
func TestCoreDependencies(t *testing.T) {
	core := []string{".", "./csvschema", "./iso4217", "./workflow"}
	forbidden := []string{"github.com/aws/", "net/http", "database/sql"}
	// The .xlsx reader (package xlsx) plugs into csvschema from the
	// binaries.
	allowedVia := map[string]string{}
	isForbidden := func(dep string) string {
		for _, bad := range forbidden {
			if dep == bad || strings.HasPrefix(dep, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
				return bad
			}
		}
		return ""
	}
	// Every package in the core's closure, with what it imports directly.
	graph := importGraph(t)
	for _, pkg := range graph.closure(core...) {
		if isForbidden(pkg) != "" {
			continue // the forbidden package's own imports
		}
		for _, imp := range graph[pkg] {
			bad := isForbidden(imp)
			if bad == "" || allowedVia[bad] == pkg {
				continue
			}
			t.Errorf("%s imports %s, and the core packages %v depend on it", pkg, imp, core)
		}
	}
}

// graphRoots are the packages the rules below start from.
var graphRoots = []string{".", "./csvschema", "./iso4217", "./workflow", "./cmd/txpipe", "./cmd/txpipe-lambda", "./lambda", "./httpapi", "./telemetry"}

// imports maps each package to the packages it imports directly.
type imports map[string][]string

var (
	graphOnce sync.Once
	graph     imports
	graphErr  error
)

// importGraph returns the import graph of graphRoots, from one `go list`
// run shared by the rules (a run is most of this package's test time).
func importGraph(t *testing.T) imports {
	t.Helper()
	graphOnce.Do(func() {
		args := append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}, graphRoots...)
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			graphErr = fmt.Errorf("go list %v: %v\n%s", graphRoots, err, out)
			return
		}
		graph = imports{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			graph[f[0]] = f[1:]
		}
	})
	if graphErr != nil {
		t.Fatal(graphErr)
	}
	return graph
}

// closure returns the packages that roots (relative to the module, one of
// graphRoots) depend on, themselves included.
func (g imports) closure(roots ...string) []string {
	var out []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		out = append(out, pkg)
		for _, imp := range g[pkg] {
			visit(imp)
		}
	}
	for _, r := range roots {
		visit(path.Join(module, r))
	}
	return out
}

const module = "github.com/txpipe/txpipe"

// TestNoPrometheusOutsideTheLocalServer: the metrics ports are interfaces
// (httpapi.Metrics, workflow.Observer); only telemetry/prom and the local
// server link Prometheus, so the Lambda binary, which nobody scrapes, does
// not.
func TestNoPrometheusOutsideTheLocalServer(t *testing.T) {
	graph := importGraph(t)
	if !slices.Contains(graph.closure("./cmd/txpipe-lambda"), "github.com/aws/aws-lambda-go/lambda") {
		t.Fatal("the import graph misses aws-lambda-go under cmd/txpipe-lambda: the rule would check nothing")
	}
	for _, root := range []string{"./cmd/txpipe-lambda", "./lambda", "./httpapi", "./workflow", "./telemetry"} {
		for _, dep := range graph.closure(root) {
			if strings.HasPrefix(dep, "github.com/prometheus/") || dep == module+"/telemetry/prom" {
				t.Errorf("%s depends on %s", root, dep)
			}
		}
	}
}

// TestBinariesReadWorkbooks: csvschema reads .xlsx files through the
// reader package xlsx registers, so each binary that validates uploads
// imports it (without it, a workbook is refused as unreadable).
func TestBinariesReadWorkbooks(t *testing.T) {
	graph := importGraph(t)
	for _, bin := range []string{"./cmd/txpipe", "./cmd/txpipe-lambda"} {
		if !slices.Contains(graph.closure(bin), module+"/xlsx") {
			t.Errorf("%s does not import %s/xlsx: it would refuse .xlsx uploads", bin, module)
		}
	}
}

// TestBinariesDoNotLinkExcelize: package xlsx reads workbooks itself;
// excelize (its tests' reference) would cost every run of the binaries
// its package initialisation, 20-30 ms of CPU (docs/performance.md).
func TestBinariesDoNotLinkExcelize(t *testing.T) {
	graph := importGraph(t)
	for _, bin := range []string{"./cmd/txpipe", "./cmd/txpipe-lambda"} {
		for _, dep := range graph.closure(bin) {
			if strings.HasPrefix(dep, "github.com/xuri/") {
				t.Errorf("%s links %s", bin, dep)
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

// integrationOnly are the packages whose every test needs an emulator, a
// browser, a built binary or a flag, or is a load test (server: 200,000
// rows through the whole local server): all their test files carry
// `//go:build integration`, so `go test -short ./...` links no test binary
// for them (linking is most of the quick loop's time); scripts/test.sh and
// CI pass -tags integration.
var integrationOnly = []string{"./dynamo", "./snsnotify", "./sqsdlq", "./cmd/txpipe-lambda", "./internal/soak", "./server"}

// TestQuickLoopIsLight keeps the quick build (no tags) as documented: the
// integrationOnly packages have no test file in it (and some under the tag:
// their tests still exist), and no test in it drives a browser.
func TestQuickLoopIsLight(t *testing.T) {
	quick, full := build.Default, build.Default
	full.BuildTags = []string{"integration"}
	for _, dir := range integrationOnly {
		q, err := quick.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if files := append(q.TestGoFiles, q.XTestGoFiles...); len(files) > 0 {
			t.Errorf("%s: %v lack //go:build integration: go test -short ./... links this package's test binary", dir, files)
		}
		f, err := full.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if len(f.TestGoFiles)+len(f.XTestGoFiles) == 0 {
			t.Errorf("%s has no test under -tags integration: drop it from integrationOnly", dir)
		}
	}
	err := fs.WalkDir(os.DirFS("."), ".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if dir != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata" || d.Name() == "infra") {
			return fs.SkipDir
		}
		p, err := quick.ImportDir(dir, 0)
		if err != nil {
			return nil // no Go files here
		}
		for _, imp := range append(p.TestImports, p.XTestImports...) {
			if strings.HasPrefix(imp, "github.com/chromedp/") {
				t.Errorf("./%s: a test outside the integration tag imports %s (a browser test)", dir, imp)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
