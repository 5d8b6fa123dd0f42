//go:build integration

package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/txpipe/txpipe"
)

// tabTo presses Tab until pred (a JavaScript expression about
// document.activeElement) holds, at most max times, and fails the test
// otherwise: the element is reachable from the keyboard, in tab order.
func (b *browserT) tabTo(what, pred string, max int) {
	b.t.Helper()
	for range max {
		b.do("Tab", chromedp.KeyEvent("\t"))
		var ok bool
		b.eval(`(() => { const el = document.activeElement; return !!(el && (`+pred+`)); })()`, &ok)
		if ok {
			return
		}
	}
	var at string
	b.eval(`(() => { const el = document.activeElement; return el ? el.outerHTML.slice(0, 200) : "none"; })()`, &at)
	b.t.Fatalf("%s: not reached with %d Tab presses (focus on %s)", what, max, at)
}

// enter presses Enter on the focused element.
func (b *browserT) enter(what string) {
	b.t.Helper()
	b.do(what, chromedp.KeyEvent("\r"))
}

// TestKeyboardOnly walks the console with the keyboard alone: Tab and
// Enter (and typing the key) through sign-in, upload (the file input opens
// its chooser from the keyboard), the file list, one file and its Redrive.
func TestKeyboardOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	ts := startServer(t)
	b := newBrowser(t, ts.URL)

	// A run that fails for good, to redrive later.
	ts.Store.fail.Store(true)
	failing, _ := validCSV("fail-kb-", 3)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "kb-failing.csv")
	fw.Write([]byte(failing))
	mw.Close()
	code, resp := call(t, ts, ts.AdminKey, http.MethodPost, "/upload", &body, mw.FormDataContentType())
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %s", code, resp)
	}
	var acc struct {
		FileID string `json:"file_id"`
	}
	json.Unmarshal(resp, &acc)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var st txpipe.FileStatus
		apiGet(t, ts, "/status/"+acc.FileID, &st)
		if st.Status == txpipe.StatusFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failing run did not fail: %s", st.Status)
		}
	}
	ts.Store.fail.Store(false)

	// Sign in: Tab to the key field, type, Enter.
	b.do("open the console", chromedp.Navigate(ts.URL+"/"))
	b.wait("the sign-in form", `document.getElementById("key") !== null`, 10*time.Second)
	b.tabTo("the key field", `el.id === "key"`, 10)
	b.do("type the key", chromedp.KeyEvent(ts.AdminKey))
	b.enter("submit the sign-in form")
	b.wait("signed in", `!document.getElementById("nav").hidden && document.querySelector("main h1").textContent === "Files"`, 10*time.Second)

	// Upload: Tab to the Upload link, Enter; Tab to the file input, Enter
	// opens the file chooser, which gets a file.
	b.tabTo("the Upload link", `el.getAttribute("href") === "#/upload"`, 30)
	b.enter("open Upload")
	b.wait("the upload page", `document.querySelector("main h1").textContent === "Upload"`, 10*time.Second)
	if _, err := chromedp.Call(b.ctx, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	chooser := make(chan page.EventFileChooserOpened, 1)
	evCtx, stopEvents := context.WithCancel(b.ctx)
	defer stopEvents()
	go func() {
		for ev, err := range chromedp.Events(evCtx, page.FileChooserOpened) {
			if err != nil {
				return
			}
			chooser <- ev
			return
		}
	}()
	b.tabTo("the file input", `el.id === "file"`, 30)
	b.enter("open the file chooser")
	var ev page.EventFileChooserOpened
	select {
	case ev = <-chooser:
	case <-time.After(10 * time.Second):
		t.Fatal("Enter on the file input opened no file chooser")
	}
	valid, _ := validCSV("kb-", 4)
	path := filepath.Join(t.TempDir(), "keyboard.csv")
	if err := os.WriteFile(path, []byte(valid), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{path}, BackendNodeID: ev.BackendNodeID}); err != nil {
		t.Fatal(err)
	}
	b.wait("keyboard.csv COMPLETED", uploadStatusExpr("keyboard.csv")+` === "COMPLETED"`, 60*time.Second)

	// Files: Tab to the Files link, Enter; Tab to the failed file's link,
	// Enter; Tab to Redrive, Enter; it completes.
	b.tabTo("the Files link", `el.getAttribute("href") === "#/files"`, 40)
	b.enter("open Files")
	b.wait("the file list", `document.querySelector("main h1").textContent === "Files" && document.querySelector("main tbody a") !== null`, 10*time.Second)
	b.tabTo("the failed file's link", `el.getAttribute("href") === "#/files/`+acc.FileID+`"`, 60)
	b.enter("open the failed file")
	b.wait("the failed file's page", `document.getElementById("redrive") !== null`, 10*time.Second)
	b.tabTo("the Redrive button", `el.id === "redrive"`, 60)
	b.enter("redrive")
	b.wait("the redriven run COMPLETED", `document.querySelector("main dl .status") && document.querySelector("main dl .status").textContent === "COMPLETED"`, 60*time.Second)
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
