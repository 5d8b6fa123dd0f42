// Package iso4217 is the ISO 4217 list one (current currency and funds codes)
// with the minor units of each code, generated from the official XML that the
// npm package currency-codes ships, plus the hand-kept amendments published
// after it (amendments.txt).
//
// Which entries are kept: every alphabetic code of list one whose minor unit is
// a number, funds codes included (CLF, USN, UYI, ... are codes of list one and
// can carry an amount). Entries whose minor unit is "N.A." are left out: the
// precious metals (XAU, XAG, XPD, XPT), the bond-market units (XBA to XBD), the
// SDR (XDR), the Sucre (XSU), the ADB unit of account (XUA), the testing code
// (XTS) and "no currency" (XXX). An amount in them cannot be written in minor
// units, so a transaction cannot use them; they are listed in NotAmountCodes.
// Withdrawn codes (DEM, HRK, VEF, ...) are not in list one and so unknown.
//
// Regenerate with `go generate ./iso4217` (needs node_modules from `npm ci`);
// the generated table is committed, so building needs neither npm nor the XML.
package iso4217

import (
	"strconv"
	"strings"
)

//go:generate go run ./internal/gen -xml ../node_modules/currency-codes/iso-4217-list-one.xml -amendments amendments.txt -out table.go

// Currency is one current code of list one.
type Currency struct {
	Code       string // alphabetic code, upper case
	Number     int    // numeric code
	MinorUnits int    // digits after the decimal point
	Fund       bool   // a funds code (list one marks it IsFund)
}

// Lookup returns the current currency with the given alphabetic code, matched
// case-insensitively. It does not allocate.
func Lookup(code string) (Currency, bool) {
	if len(code) != 3 {
		return Currency{}, false
	}
	var k uint16
	for i := 0; i < 3; i++ {
		c := code[i] | 0x20 // lower case for letters
		if c < 'a' || c > 'z' {
			return Currency{}, false
		}
		k = k*26 + uint16(c-'a')
	}
	return lookup(k)
}

// LookupBytes is Lookup for a byte slice; it does not allocate.
func LookupBytes(code []byte) (Currency, bool) {
	if len(code) != 3 {
		return Currency{}, false
	}
	var k uint16
	for i := 0; i < 3; i++ {
		c := code[i] | 0x20
		if c < 'a' || c > 'z' {
			return Currency{}, false
		}
		k = k*26 + uint16(c-'a')
	}
	return lookup(k)
}

// FormatMinor writes an amount in minor units as a decimal with the
// currency's minor-unit digits (12345 USD is "123.45", 7 JPY is "7"); an
// unknown code gets two digits.
func FormatMinor(minor int64, code string) string {
	digits := 2
	if c, ok := Lookup(code); ok {
		digits = c.MinorUnits
	}
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if len(s) <= digits {
		s = strings.Repeat("0", digits+1-len(s)) + s
	}
	if digits > 0 {
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
