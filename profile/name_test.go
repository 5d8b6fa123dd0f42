package profile

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidNameIsTheRegexp: validName accepts exactly what the regular
// expression it replaced (compiled at every start) accepted.
func TestValidNameIsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	names := []string{"", "a", "-a", ".a", "_a", "a-b.c_d", "é", "a b", "a\n", "a$", strings.Repeat("a", 64), strings.Repeat("a", 65), "Z9", "9-"}
	alphabet := "aZ09._- \n/é"
	for _, a := range alphabet {
		for _, b := range alphabet {
			names = append(names, string(a), string(a)+string(b), "x"+string(a)+string(b), strings.Repeat("b", 62)+string(a)+string(b))
		}
	}
	for _, n := range names {
		if got, want := validName(n), re.MatchString(n); got != want {
			t.Errorf("validName(%q) = %v, the regexp %v", n, got, want)
		}
	}
}
