package iso4217_test

import (
	"testing"

	"github.com/txpipe/txpipe/iso4217"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		code  string
		ok    bool
		minor int
	}{
		{"USD", true, 2}, {"usd", true, 2}, {"uSd", true, 2},
		{"JPY", true, 0}, {"BHD", true, 3}, {"KWD", true, 3}, {"CLF", true, 4}, {"UYW", true, 4},
		{"VES", true, 2}, {"ZWG", true, 2}, {"SLE", true, 2}, {"VED", true, 2},
		{"XCG", true, 2}, {"XAD", true, 2}, // amendments after the 2024-06-25 list
		{"ISK", true, 0}, {"EUR", true, 2},
		// withdrawn
		{"DEM", false, 0}, {"HRK", false, 0}, {"ANG", false, 0}, {"CUC", false, 0}, {"BGN", false, 0}, {"VEF", false, 0}, {"ZWL", false, 0}, {"SLL", false, 0},
		// list one codes without minor units
		{"XAU", false, 0}, {"XDR", false, 0}, {"XXX", false, 0}, {"XTS", false, 0},
		// not codes
		{"", false, 0}, {"US", false, 0}, {"USDD", false, 0}, {"U$D", false, 0}, {"ÜSD", false, 0}, {"AAA", false, 0},
	}
	for _, tt := range tests {
		c, ok := iso4217.Lookup(tt.code)
		if ok != tt.ok || c.MinorUnits != tt.minor {
			t.Errorf("Lookup(%q) = %+v, %v; want minor %d, %v", tt.code, c, ok, tt.minor, tt.ok)
		}
		if ok && c.Code != "" && len(c.Code) == 3 && c.Code[0] >= 'a' {
			t.Errorf("Lookup(%q).Code = %q, want upper case", tt.code, c.Code)
		}
		if b, okb := iso4217.LookupBytes([]byte(tt.code)); b != c || okb != ok {
			t.Errorf("LookupBytes(%q) = %+v, %v, differs from Lookup", tt.code, b, okb)
		}
	}
}

func TestTableMatchesCodes(t *testing.T) {
	codes := iso4217.Codes()
	if len(codes) != iso4217.Count {
		t.Fatalf("len(Codes()) = %d, Count = %d", len(codes), iso4217.Count)
	}
	for _, code := range codes {
		if c, ok := iso4217.Lookup(code); !ok || c.Code != code {
			t.Errorf("Lookup(%q) = %+v, %v", code, c, ok)
		}
	}
	if iso4217.ListPublished == "" {
		t.Error("ListPublished is empty")
	}
}

func TestLookupAllocs(t *testing.T) {
	b := []byte("eur")
	var c iso4217.Currency
	if n := testing.AllocsPerRun(100, func() { c, _ = iso4217.LookupBytes(b); c, _ = iso4217.Lookup("chf") }); n != 0 {
		t.Errorf("allocs = %v, want 0", n)
	}
	if c.Code != "CHF" {
		t.Errorf("Lookup(chf) = %+v", c)
	}
}
