package httpapi_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/httpapi"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../csvschema/testdata/dialects/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// formBody is a multipart body with the file and form fields, the fields
// after the file when late is set.
func formBody(t *testing.T, file []byte, fields map[string]string, late bool) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	writeFields := func() {
		for k, v := range fields {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !late {
		writeFields()
	}
	w, err := mw.CreateFormFile("file", "export.csv")
	if err != nil {
		t.Fatal(err)
	}
	w.Write(file)
	if late {
		writeFields()
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestProfilesEndpoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	bankYAML := readTestdata(t, "bank.profile.yaml")
	put := func(name string, body []byte) answer {
		return do(t, request(t, "PUT", e.url+"/profiles/"+name, e.key, "application/yaml", bytes.NewReader(body)))
	}
	wantCode(t, "first put", put("bank", bankYAML), http.StatusCreated, "")
	a := put("bank", bankYAML)
	wantCode(t, "second put", a, http.StatusOK, "")
	if a.body["name"] != "bank" || a.body["yaml"] != string(bankYAML) {
		t.Fatalf("put answer: %s", a.raw)
	}
	a = do(t, request(t, "GET", e.url+"/profiles/bank", e.key, "", nil))
	wantCode(t, "get", a, http.StatusOK, "")
	if a.body["yaml"] != string(bankYAML) || a.body["profile"].(map[string]any)["delimiter"] != ";" {
		t.Fatalf("get answer: %s", a.raw)
	}
	wantCode(t, "put a second", put("card", []byte("delimiter: \"\\t\"\nencoding: utf-16le\n")), http.StatusCreated, "")
	a = do(t, request(t, "GET", e.url+"/profiles", e.key, "", nil))
	wantCode(t, "list", a, http.StatusOK, "")
	items := a.body["items"].([]any)
	if len(items) != 2 || items[0].(map[string]any)["name"] != "bank" || items[1].(map[string]any)["name"] != "card" {
		t.Fatalf("list: %s", a.raw)
	}

	a = put("bad", []byte("columns:\n  amount: Betrag\n  amout: X\n"))
	wantCode(t, "unknown field", a, http.StatusBadRequest, "invalid")
	if msg := a.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, `"amout" is not a field`) {
		t.Errorf("message %q does not name the bad key", msg)
	}
	a = put("bad", []byte("colums:\n  amount: Betrag\n"))
	wantCode(t, "unknown key", a, http.StatusBadRequest, "invalid")
	if msg := a.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "line 1") || !strings.Contains(msg, "colums") {
		t.Errorf("message %q does not name the line and key", msg)
	}
	wantCode(t, "bad name", put("a%2Fb", bankYAML), http.StatusBadRequest, "invalid")
	wantCode(t, "no key", do(t, request(t, "GET", e.url+"/profiles", "", "", nil)), http.StatusUnauthorized, "")

	wantCode(t, "delete", do(t, request(t, "DELETE", e.url+"/profiles/card", e.key, "", nil)), http.StatusNoContent, "")
	wantCode(t, "delete again", do(t, request(t, "DELETE", e.url+"/profiles/card", e.key, "", nil)), http.StatusNotFound, "not_found")
	wantCode(t, "get deleted", do(t, request(t, "GET", e.url+"/profiles/card", e.key, "", nil)), http.StatusNotFound, "not_found")
}

// TestUploadWithProfile: a semicolon Windows-1252 export is rejected with a
// suggested profile without one, accepted under the stored profile (form
// field before or after the file), and its status record names the
// profile and the dialect.
func TestUploadWithProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	bank := readTestdata(t, "semicolon-windows1252.csv")
	if a := do(t, request(t, "PUT", e.url+"/profiles/bank", e.key, "application/yaml", bytes.NewReader(readTestdata(t, "bank.profile.yaml")))); a.code != http.StatusCreated {
		t.Fatalf("put profile: %s", a.raw)
	}

	ct, body := formBody(t, bank, map[string]string{"encoding": "windows-1252"}, false)
	a := do(t, request(t, "POST", e.url+"/upload", e.key, ct, body))
	wantCode(t, "without a profile", a, http.StatusUnprocessableEntity, "rejected")
	sugg, _ := a.body["suggested_profile"].(string)
	for _, want := range []string{`amount: "Betrag"`, `transaction_id: "Buchungsreferenz"`, `merchant: "Empfänger"`, `decimal: ","`, `layout: "02.01.2006 15:04:05"`, "ignore_extra_columns: true"} {
		if !strings.Contains(sugg, want) {
			t.Errorf("suggested profile lacks %s:\n%s", want, sugg)
		}
	}
	if d := a.body["dialect"].(map[string]any); d["delimiter"] != ";" || d["encoding"] != "windows-1252" {
		t.Errorf("dialect %v", d)
	}

	ct, body = formBody(t, bank, map[string]string{"profile": "nope"}, false)
	wantCode(t, "unknown profile", do(t, request(t, "POST", e.url+"/upload", e.key, ct, body)), http.StatusBadRequest, "invalid")

	ct, body = formBody(t, bank, map[string]string{"profile": "bank"}, true)
	a = do(t, request(t, "POST", e.url+"/upload", e.key, ct, body))
	wantCode(t, "with the profile", a, http.StatusAccepted, "")
	if a.body["profile"] != "bank" || a.body["rows"].(float64) != 20 {
		t.Fatalf("answer %s", a.raw)
	}
	id := a.body["file_id"].(string)
	a = do(t, request(t, "GET", e.url+"/status/"+id, e.key, "", nil))
	d, _ := a.body["dialect"].(map[string]any)
	if a.body["profile"] != "bank" || d["delimiter"] != ";" || d["encoding"] != "windows-1252" {
		t.Fatalf("status record: %s", a.raw)
	}
	run := e.runs.last()
	if run.Format == nil || run.Format.Profile == nil || run.Format.Delimiter != ";" || run.Format.Encoding != "windows-1252" {
		t.Fatalf("run format: %+v", run.Format)
	}

	// text/csv takes the fields as query parameters.
	tab := readTestdata(t, "tab-utf16le-bom.csv")
	a = do(t, request(t, "POST", e.url+"/upload?filename=card.csv&delimiter=tab", e.key, "text/csv", bytes.NewReader(tab)))
	wantCode(t, "text/csv", a, http.StatusAccepted, "")
	if d := a.body["dialect"].(map[string]any); d["delimiter"] != "\t" || d["encoding"] != "utf-16le" || d["bom"] != true {
		t.Errorf("dialect %v", d)
	}
	wantCode(t, "bad encoding", do(t, request(t, "POST", e.url+"/upload?encoding=ebcdic", e.key, "text/csv", strings.NewReader(validCSV("x", 1)))), http.StatusBadRequest, "invalid")
	spoolEmpty(t, e)
}

// TestTwoStepUploadWithFormat: a declaration (POST /uploads) carries the
// format; the AWAITING_UPLOAD record keeps it, the bytes are read with it
// when they arrive (the profile as stored then), and the record and the
// run say how, as for POST /upload. A format the bytes could not be read
// with is refused before they are sent. The Go client sends it too.
func TestTwoStepUploadWithFormat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	bank := readTestdata(t, "semicolon-windows1252.csv")
	bankYAML := readTestdata(t, "bank.profile.yaml")
	decl := func(extra string) answer {
		return declare(t, e, `{"filename": "bank.csv", "size_bytes": `+itoa(len(bank))+`, "sha256": "`+sha(string(bank))+`"`+extra+`}`)
	}
	wantCode(t, "no such profile", decl(`, "profile": "bank"`), http.StatusBadRequest, "invalid")
	wantCode(t, "bad delimiter", decl(`, "delimiter": "x"`), http.StatusBadRequest, "invalid")
	wantCode(t, "bad encoding", decl(`, "encoding": "ebcdic"`), http.StatusBadRequest, "invalid")
	wantCode(t, "unknown field", decl(`, "dialect": ";"`), http.StatusBadRequest, "invalid")
	if a := do(t, request(t, "PUT", e.url+"/profiles/bank", e.key, "application/yaml", bytes.NewReader(bankYAML))); a.code != http.StatusCreated {
		t.Fatalf("put profile: %s", a.raw)
	}

	a := decl(`, "encoding": "Windows-1252", "profile": "bank"`)
	wantCode(t, "declare", a, http.StatusCreated, "")
	fileID := a.body["file_id"].(string)
	st := do(t, request(t, http.MethodGet, e.url+"/status/"+fileID, e.key, "", nil))
	f, _ := st.body["format"].(map[string]any)
	if st.body["status"] != txpipe.StatusAwaitingUpload || st.body["profile"] != "bank" || f["encoding"] != "windows-1252" || f["profile"] != "bank" {
		t.Fatalf("record before the bytes: %s", st.raw)
	}

	// The profile is read when the bytes arrive: deleted meanwhile, the PUT
	// is refused and the record still waits; put back, the PUT goes in.
	wantCode(t, "delete profile", do(t, request(t, "DELETE", e.url+"/profiles/bank", e.key, "", nil)), http.StatusNoContent, "")
	p := put(t, a.body["upload_url"].(string), a.body["headers"].(map[string]any), bytes.NewReader(bank), int64(len(bank)))
	wantCode(t, "PUT without the profile", p, http.StatusBadRequest, "invalid")
	if !strings.Contains(p.raw, `no profile named \"bank\"`) {
		t.Errorf("PUT without the profile: %s", p.raw)
	}
	if e.runs.count() != 0 {
		t.Fatalf("a run started without the profile")
	}
	if a := do(t, request(t, "PUT", e.url+"/profiles/bank", e.key, "application/yaml", bytes.NewReader(bankYAML))); a.code != http.StatusCreated {
		t.Fatalf("put profile again: %s", a.raw)
	}
	p = put(t, a.body["upload_url"].(string), a.body["headers"].(map[string]any), bytes.NewReader(bank), int64(len(bank)))
	wantCode(t, "PUT", p, http.StatusOK, "")
	d, _ := p.body["dialect"].(map[string]any)
	if p.body["status"] != txpipe.StatusValidated || p.body["rows"] != float64(20) || p.body["profile"] != "bank" || d["delimiter"] != ";" || d["encoding"] != "windows-1252" {
		t.Fatalf("PUT answer: %s", p.raw)
	}
	if _, ok := p.body["format"]; ok {
		t.Errorf("the validated record keeps the declaration's format: %s", p.raw)
	}
	run := e.runs.last()
	if run.Format == nil || run.Format.Profile == nil || run.Format.Profile.Name != "bank" || run.Format.Delimiter != ";" || run.Format.Encoding != "windows-1252" {
		t.Fatalf("run format: %+v", run.Format)
	}

	// The client sends its format in the declaration.
	tab := readTestdata(t, "tab-utf16le-bom.csv")
	c := e.client()
	c.Format = httpapi.UploadFormat{Delimiter: "tab", Encoding: "utf-16le"}
	res, err := c.UploadFile(t.Context(), "card.csv", bytes.NewReader(tab), int64(len(tab)), httpapi.UploadOptions{TwoStep: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Record == nil || res.Record.Status != txpipe.StatusValidated || res.Record.Dialect == nil || res.Record.Dialect.Delimiter != "\t" || res.Record.Dialect.Encoding != "utf-16le" {
		t.Fatalf("client two-step upload with a format: %+v", res.Record)
	}
	spoolEmpty(t, e)
}
