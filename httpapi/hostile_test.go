package httpapi_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"

	"github.com/txpipe/txpipe"
)

// TestSecondFilePartRefused: two "file" parts are refused with 400 (the
// second was silently ignored), and nothing is started.
func TestSecondFilePartRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, tag := range []string{"one", "two"} {
		w, err := mw.CreateFormFile("file", tag+".csv")
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, validCSV(tag, 3))
	}
	mw.Close()
	a := do(t, request(t, "POST", e.url+"/upload", e.key, mw.FormDataContentType(), &buf))
	wantCode(t, "two file parts", a, http.StatusBadRequest, txpipe.EINVALID)
	if got := a.body["error"].(map[string]any)["message"].(string); !bytes.Contains([]byte(got), []byte(`more than one "file" part`)) {
		t.Errorf("message %q, want it to name the second file part", got)
	}
	if n := e.runs.count(); n != 0 {
		t.Errorf("%d runs started, want 0", n)
	}

	// Other parts after the file are skipped.
	buf.Reset()
	mw = multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("file", "one.csv")
	io.WriteString(w, validCSV("after", 3))
	mw.WriteField("note", "hello")
	mw.Close()
	a = do(t, request(t, "POST", e.url+"/upload", e.key, mw.FormDataContentType(), &buf))
	wantCode(t, "a file part and a field", a, http.StatusAccepted, "")
}

// TestDotDotFilename: a file named ".." (or a path ending in it) is stored
// under the default name, never as "..".
func TestDotDotFilename(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for i, name := range []string{"..", "a/..", `..\..`, "../"} {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+name+`"`)
		h.Set("Content-Type", "text/csv")
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, validCSV("dotdot"+string(rune('a'+i)), 2))
		mw.Close()
		a := do(t, request(t, "POST", e.url+"/upload", e.key, mw.FormDataContentType(), &buf))
		wantCode(t, "filename "+name, a, http.StatusAccepted, "")
		st, err := e.db.GetStatus(t.Context(), a.body["file_id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if st.Filename == ".." || st.Filename == "." {
			t.Errorf("filename %q stored as %q", name, st.Filename)
		}
	}
}
