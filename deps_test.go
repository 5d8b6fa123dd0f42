package txpipe_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreDependencies keeps the core packages free of the AWS SDK, net/http
// and database/sql: they hold the pipeline's logic, and every adapter builds
// on them, not the other way round.
func TestCoreDependencies(t *testing.T) {
	core := []string{".", "./csvschema", "./iso4217", "./workflow"}
	forbidden := []string{"github.com/aws/", "net/http", "database/sql"}
	for _, pkg := range core {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range forbidden {
				if dep == bad || strings.HasPrefix(dep, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
					t.Errorf("core package %s depends on %s", pkg, dep)
				}
			}
		}
	}
}
