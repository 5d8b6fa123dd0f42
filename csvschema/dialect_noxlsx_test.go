//go:build !integration

package csvschema_test

// writeXLSX is nil without the integration tag: dialect_xlsx_test.go writes
// sheet.xlsx with excelize, which the quick loop's test binary leaves out.
var writeXLSX func() []byte
