//go:build integration

package console_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/sqlite"
)

var update = flag.Bool("update", false, "rewrite the screenshots in docs/screenshots (or set TXPIPE_UPDATE_SCREENSHOTS=1)")

const chromiumPath = "/usr/bin/chromium"

// browserT is a headless Chromium tab with what the page said: console
// errors and dialogs opened (an XSS that ran would open one).
type browserT struct {
	t        *testing.T
	ctx      context.Context
	base     string
	mu       sync.Mutex
	messages []string // console errors
	reqs     []string // "METHOD path" of the page's requests
	dialogs  []string
	download string // the download dir
}

func newBrowser(t *testing.T, base string) *browserT {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is not installed at %s (scripts/test.sh installs Debian's chromium): %v", chromiumPath, err)
		}
		t.Skipf("Chromium is not installed at %s: apt-get install chromium", chromiumPath)
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	b := &browserT{t: t, ctx: ctx, base: base, download: t.TempDir()}

	// Start the browser now, so a Chromium that cannot start fails here.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		if os.Getenv("CI") != "true" {
			out, _ := exec.Command(chromiumPath, "--version").CombinedOutput()
			t.Skipf("Chromium does not start (%s): %v", strings.TrimSpace(string(out)), err)
		}
		t.Fatalf("Chromium does not start: %v", err)
	}
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException && m.Type != "assert" {
				continue
			}
			b.mu.Lock()
			b.messages = append(b.messages, m.String()+" ("+m.URL+")")
			b.mu.Unlock()
		}
	}()
	sent := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range sent {
			if err != nil {
				return
			}
			u, _ := url.Parse(ev.Request.URL)
			if u == nil {
				continue
			}
			b.mu.Lock()
			b.reqs = append(b.reqs, ev.Request.Method+" "+u.Path)
			b.mu.Unlock()
		}
	}()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: b.download, EventsEnabled: new(true),
		})
		return err
	})); err != nil {
		t.Fatalf("set download dir: %v", err)
	}
	return b
}

// requests returns the page's requests so far ("METHOD path").
func (b *browserT) requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.reqs)
}

// errors returns the console errors so far, less the network lines of
// answers the app handles and shows: 422 for a rejected upload, 403 for
// the wrong key at sign-in.
func (b *browserT) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.messages {
		if strings.Contains(m, "Failed to load resource: the server responded with a status of 422") && strings.HasSuffix(m, "/upload)") ||
			strings.Contains(m, "Failed to load resource: the server responded with a status of 403") && strings.HasSuffix(m, "/whoami)") {
			continue
		}
		out = append(out, m)
	}
	return out
}

func (b *browserT) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (console errors: %q)", what, err, b.errors())
	}
}

func (b *browserT) eval(expr string, out any) {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[json.RawMessage](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if out != nil {
		if err := json.Unmarshal(v, out); err != nil {
			b.t.Fatalf("decode result of %s: %v (%s)", expr, err, v)
		}
	}
}

// wait polls a JavaScript predicate until it holds.
func (b *browserT) wait(what, expr string, timeout time.Duration) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		var text string
		b.eval(`document.getElementById("main").innerText`, &text)
		b.t.Fatalf("waiting for %s: %v\npage text:\n%s\nconsole errors: %q", what, err, text, b.errors())
	}
}

func (b *browserT) goTo(hash string) {
	b.t.Helper()
	b.do("go to "+hash, chromedp.Evaluate[chromedp.Void](`location.hash = `+jsString(hash)))
	b.wait("page "+hash, `document.querySelector("main h1") !== null && !document.querySelector("main").innerText.includes("Sign in")`, 10*time.Second)
}

// screenshot saves the page as docs/screenshots/name.png with -update.
func (b *browserT) screenshot(name string) {
	b.t.Helper()
	if !*update && os.Getenv("TXPIPE_UPDATE_SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func jsString(s string) string {
	j, _ := json.Marshal(s)
	return string(j)
}

// uploadStatus is the status shown for the named file in the upload list.
func uploadStatusExpr(name string) string {
	return `(() => { const li = [...document.querySelectorAll(".uploads li")].find((l) => l.querySelector("strong").textContent === ` + jsString(name) + `);
		return li ? li.querySelector(".status").textContent : ""; })()`
}

// uploadFileID is the file id of the named upload, from its Details link.
func (b *browserT) uploadFileID(name string) string {
	b.t.Helper()
	var href string
	b.eval(`(() => { const li = [...document.querySelectorAll(".uploads li")].find((l) => l.querySelector("strong").textContent === `+jsString(name)+`);
		const a = li && li.querySelector("a"); return a ? a.getAttribute("href") : ""; })()`, &href)
	id, ok := strings.CutPrefix(href, "#/files/")
	if !ok {
		b.t.Fatalf("upload %s has no details link (href %q)", name, href)
	}
	return id
}

// drop drops a file with the given name and content on the drop zone, as
// a drag and drop from the desktop does.
func (b *browserT) drop(name, content string) {
	b.t.Helper()
	b.do("drop "+name, chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([`+jsString(content)+`], `+jsString(name)+`, { type: "text/csv" }));
		const zone = document.querySelector(".drop");
		zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
		zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
	})()`))
}

// pick chooses files on disk with the file input, as the file dialog does.
func (b *browserT) pick(paths ...string) {
	b.t.Helper()
	b.do("pick files", chromedp.SetUploadFiles(chromedp.ID("file"), paths))
}

func (b *browserT) tableColumn(sel string, col int) []string {
	b.t.Helper()
	var out []string
	b.eval(`[...document.querySelectorAll(`+jsString(sel+" tbody tr")+`)].map((tr) => tr.cells[`+fmt.Sprint(col)+`].textContent)`, &out)
	return out
}

func apiGet(t *testing.T, ts *testServer, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	req.Header.Set("x-api-key", ts.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// writeBigCSV writes valid rows (in 2023, apart from the other files'
// rows) until the file passes size bytes, and returns the number of rows.
func writeBigCSV(t *testing.T, path string, size int) int {
	t.Helper()
	var b strings.Builder
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	n := 0
	for b.Len() < size {
		ts := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
		fmt.Fprintf(&b, "big-%08d,%d.%02d,USD,%s,Big Merchant %d,completed\n", n, n%1000, n%100, ts.Format(time.RFC3339), n%97)
		n++
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

// validCSV returns a file of n valid rows in January 2024 (ids prefixed),
// in USD and EUR, and the rows as the API returns them, oldest first.
func validCSV(prefix string, n int) (string, []txpipe.Transaction) {
	var b strings.Builder
	b.WriteString("transaction_id,amount,currency,timestamp,merchant,status\n")
	var txs []txpipe.Transaction
	for i := range n {
		cur := "USD"
		if i%3 == 0 {
			cur = "EUR"
		}
		ts := time.Date(2024, 1, 1+i%5, 10, i, 0, 0, time.UTC)
		minor := int64(1000 + 37*i)
		id := fmt.Sprintf("%s%03d", prefix, i)
		merchant := fmt.Sprintf("Shop %d", i%4)
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,completed\n", id, sqlite.FormatMinor(minor, cur), cur, ts.Format(time.RFC3339), merchant)
		txs = append(txs, txpipe.Transaction{ID: id, AmountMinor: minor, Currency: cur, Timestamp: ts, Merchant: merchant})
	}
	slices.SortFunc(txs, func(a, b txpipe.Transaction) int {
		if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return b.String(), txs
}

func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	ts := startServer(t)
	b := newBrowser(t, ts.URL)
	tmp := t.TempDir()

	// Sign in.
	b.do("open the console", chromedp.Navigate(ts.URL+"/"))
	b.wait("the sign-in form", `document.getElementById("key") !== null`, 10*time.Second)
	b.screenshot("sign-in")
	b.do("sign in with a wrong key", chromedp.SendKeys(chromedp.ID("key"), "txp_wrong"), chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
	b.wait("the wrong key refused", `document.querySelector("main [role=alert]").textContent.includes("not valid")`, 10*time.Second)
	b.do("sign in", chromedp.Evaluate[chromedp.Void](`document.getElementById("key").value = ""`), chromedp.SendKeys(chromedp.ID("key"), ts.AdminKey), chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
	b.wait("the file list", `!document.getElementById("nav").hidden && document.querySelector("main h1").textContent === "Files"`, 10*time.Second)
	var stored struct{ Session, Local, URL string }
	b.eval(`({Session: sessionStorage.getItem("txpipe.apiKey"), Local: JSON.stringify(localStorage), URL: location.href})`, &stored)
	if stored.Session != ts.AdminKey || strings.Contains(stored.Local, "txp_") || strings.Contains(stored.URL, "txp_") {
		t.Errorf("the key is kept in session storage only: session %q, local storage %s, URL %s", stored.Session, stored.Local, stored.URL)
	}

	// Drop a valid file: it reaches COMPLETED.
	valid, want := validCSV("tx-", 60)
	b.goTo("#/upload")
	b.drop("january.csv", valid)
	b.wait("january.csv COMPLETED", uploadStatusExpr("january.csv")+` === "COMPLETED"`, 60*time.Second)
	b.screenshot("upload")

	// A file above 4 MB goes in two steps: its SHA-256 computed in the
	// page a slice at a time, POST /uploads, then the bytes to upload_url.
	bigPath := filepath.Join(tmp, "big.csv")
	bigRows := writeBigCSV(t, bigPath, 5<<20)
	b.pick(bigPath)
	b.wait("big.csv COMPLETED", uploadStatusExpr("big.csv")+` === "COMPLETED"`, 120*time.Second)
	var bigRec txpipe.FileStatus
	apiGet(t, ts, "/status/"+b.uploadFileID("big.csv"), &bigRec)
	if bigRec.Rows != int64(bigRows) || bigRec.SizeBytes <= 4<<20 {
		t.Errorf("big.csv: %d rows of %d bytes, want %d rows above 4 MiB", bigRec.Rows, bigRec.SizeBytes, bigRows)
	}
	if !slices.ContainsFunc(b.requests(), func(r string) bool { return strings.HasPrefix(r, "POST /uploads") }) {
		t.Errorf("big.csv did not go through POST /uploads: requests %q", b.requests())
	}

	// Pick an invalid file: its rejected rows are listed with line numbers.
	invalid := "transaction_id,amount,currency,timestamp,merchant,status\n" +
		"a1,12.50,USD,2024-01-02T10:00:00Z,Shop,completed\n" +
		"a2,12.5.0,USD,2024-01-02T10:00:00Z,Shop,completed\n" +
		"a3,1.00,XXZ,2024-01-02T10:00:00Z,Shop,completed\n" +
		"a4,=HYPERLINK(\"http://x\"),USD,2024-01-02T10:00:00Z,Shop,completed\n"
	badPath := filepath.Join(tmp, "bad rows.csv")
	if err := os.WriteFile(badPath, []byte(invalid), 0o644); err != nil {
		t.Fatal(err)
	}
	b.pick(badPath)
	b.wait("bad rows.csv REJECTED", uploadStatusExpr("bad rows.csv")+` === "REJECTED"`, 30*time.Second)
	badID := b.uploadFileID("bad rows.csv")
	b.goTo("#/files/" + badID)
	b.wait("the rejected rows", `document.querySelector("main table") !== null`, 10*time.Second)
	if got, want := b.tableColumn("main", 0), []string{"3", "4", "5"}; !slices.Equal(got, want) {
		t.Errorf("rejected rows: lines %q, want %q", got, want)
	}
	if got := b.tableColumn("main", 1); !slices.Equal(got, []string{"amount", "currency", "amount"}) {
		t.Errorf("rejected rows: columns %q", got)
	}
	b.screenshot("file-rejected")
	b.do("filter the rejected rows", chromedp.SendKeys(chromedp.ID("err-filter"), "currency"))
	b.wait("one row left", `document.querySelectorAll("main tbody tr").length === 1`, 5*time.Second)

	// Download the errors CSV and compare it with the status record.
	b.do("download the errors CSV", chromedp.Click(chromedp.ID("errors-csv")))
	csvPath := filepath.Join(b.download, "errors-"+badID+".csv")
	deadline := time.Now().Add(15 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(csvPath); err == nil && len(data) > 0 {
			got = data
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got == nil {
		entries, _ := os.ReadDir(b.download)
		t.Fatalf("no download at %s (dir has %v)", csvPath, entries)
	}
	var rec txpipe.FileStatus
	apiGet(t, ts, "/status/"+badID, &rec)
	rows, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil {
		t.Fatalf("errors CSV: %v\n%s", err, got)
	}
	wantRows := [][]string{{"line", "column", "value", "message"}}
	for _, e := range rec.Errors {
		v := e.Value
		if strings.HasPrefix(v, "=") {
			v = "'" + v // kept from being a spreadsheet formula
		}
		wantRows = append(wantRows, []string{fmt.Sprint(e.Line), e.Column, v, e.Message})
	}
	if fmt.Sprint(rows) != fmt.Sprint(wantRows) {
		t.Errorf("errors CSV:\n%q\nwant\n%q", rows, wantRows)
	}

	// A run that fails for good, then redriven from its page: it completes.
	ts.Store.fail.Store(true)
	failing, _ := validCSV("fail-", 5)
	failPath := filepath.Join(tmp, "flaky.csv")
	if err := os.WriteFile(failPath, []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	b.goTo("#/upload")
	b.pick(failPath)
	b.wait("flaky.csv FAILED", uploadStatusExpr("flaky.csv")+` === "FAILED"`, 60*time.Second)
	failID := b.uploadFileID("flaky.csv")
	b.goTo("#/dlq")
	b.wait("the dead letter", `document.querySelector("main tbody tr") !== null`, 15*time.Second)
	b.screenshot("dead-letters")
	b.goTo("#/files/" + failID)
	b.wait("the failure reason", `document.getElementById("failure") !== null && document.getElementById("redrive") !== null`, 10*time.Second)
	var failure string
	b.eval(`document.getElementById("failure").textContent`, &failure)
	if !strings.Contains(failure, "injected failure") {
		t.Errorf("failure reason %q, want the store's error", failure)
	}
	b.screenshot("file-failed")
	ts.Store.fail.Store(false)
	b.do("redrive", chromedp.Click(chromedp.ID("redrive")))
	b.wait("the redriven run COMPLETED", `document.querySelector("main dl .status") && document.querySelector("main dl .status").textContent === "COMPLETED"`, 60*time.Second)
	var timeline []string
	b.eval(`[...document.querySelectorAll("ol.timeline li")].map((li) => li.textContent)`, &timeline)
	if n := len(timeline); n < 5 || !strings.Contains(strings.Join(timeline, "\n"), "attempt 2") {
		t.Errorf("timeline after a redrive:\n%s\nwant the failed attempt, the failure and the second attempt", strings.Join(timeline, "\n"))
	}
	b.screenshot("file-completed")

	// The file list, newest first, filtered by status.
	b.goTo("#/files")
	b.wait("four files", `document.querySelectorAll("main tbody tr").length === 4`, 10*time.Second)
	if got := b.tableColumn("main", 0); !slices.Equal(got, []string{"flaky.csv", "bad rows.csv", "big.csv", "january.csv"}) {
		t.Errorf("files, newest first: %q", got)
	}
	b.screenshot("files")
	b.do("filter REJECTED", chromedp.SetValue(chromedp.ID("f-status"), "REJECTED"), chromedp.Evaluate[chromedp.Void](`document.getElementById("f-status").dispatchEvent(new Event("change"))`))
	b.wait("one rejected file", `document.querySelectorAll("main tbody tr").length === 1 && document.querySelector("main tbody td").textContent === "bad rows.csv"`, 10*time.Second)

	// Page through the transactions: 60 + 5 rows in January 2024, 25 a page.
	_, failRows := validCSV("fail-", 5)
	all := append(slices.Clone(want), failRows...)
	slices.SortFunc(all, func(a, b txpipe.Transaction) int {
		if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	b.goTo("#/transactions?from=2024-01-01&to=2024-02-01")
	var seen []string
	for page := 1; ; page++ {
		b.wait(fmt.Sprintf("page %d", page), `document.querySelector("[role=status]") && document.querySelector("main [role=status]").textContent.startsWith("Page `+fmt.Sprint(page)+`")`, 10*time.Second)
		seen = append(seen, b.tableColumn("main", 1)...)
		if page == 1 {
			b.screenshot("transactions")
		}
		var last bool
		b.eval(`document.getElementById("t-next").disabled`, &last)
		if last || page > 10 {
			break
		}
		b.do("next page", chromedp.Click(chromedp.ID("t-next")))
	}
	var wantIDs []string
	for _, x := range all {
		wantIDs = append(wantIDs, x.ID)
	}
	if !slices.Equal(seen, wantIDs) {
		t.Errorf("transactions paged through:\n%q\nwant\n%q", seen, wantIDs)
	}
	b.do("previous page", chromedp.Click(chromedp.ID("t-prev")))
	b.wait("page 2 again", `document.querySelector("main [role=status]").textContent.startsWith("Page 2")`, 10*time.Second)
	if got := b.tableColumn("main", 1); !slices.Equal(got, wantIDs[25:50]) {
		t.Errorf("page 2 after going back: %q, want %q", got, wantIDs[25:50])
	}

	// The volumes chart and its totals.
	b.goTo("#/volumes?from=2024-01-01&to=2024-02-01")
	b.wait("the chart", `document.querySelector("#chart-rows canvas") !== null && document.getElementById("volume-totals") !== null`, 10*time.Second)
	var painted int
	b.eval(`(() => { const c = document.querySelector("#chart-rows canvas"); const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`, &painted)
	if painted < 1000 {
		t.Errorf("the rows chart has %d painted pixels, want a drawn chart", painted)
	}
	totals := map[string][2]int64{}
	for _, x := range all {
		v := totals[x.Currency]
		totals[x.Currency] = [2]int64{v[0] + 1, v[1] + x.AmountMinor}
	}
	var shown [][]string
	b.eval(`[...document.querySelectorAll("#volume-totals tbody tr")].map((tr) => [...tr.cells].map((c) => c.textContent))`, &shown)
	var wantTotals [][]string
	for _, c := range []string{"EUR", "USD"} {
		wantTotals = append(wantTotals, []string{c, fmt.Sprint(totals[c][0]), sqlite.FormatMinor(totals[c][1], c)})
	}
	if fmt.Sprint(shown) != fmt.Sprint(wantTotals) {
		t.Errorf("volume totals %q, want %q", shown, wantTotals)
	}
	b.screenshot("volumes")

	// Keys: create one, see its secret once, revoke it.
	b.goTo("#/keys")
	b.wait("the keys", `document.querySelectorAll("main tbody tr").length === 1`, 10*time.Second)
	b.do("create a key", chromedp.SendKeys(chromedp.ID("k-name"), "ops team"), chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
	b.wait("the new secret", `document.getElementById("new-secret") !== null && document.querySelectorAll("main tbody tr").length === 2`, 10*time.Second)
	var secret string
	b.eval(`document.getElementById("new-secret").textContent`, &secret)
	if !strings.HasPrefix(secret, "txp_") {
		t.Errorf("new key secret %q", secret)
	}
	b.screenshot("keys")
	b.do("revoke", chromedp.Click(chromedp.CSS(`button[aria-label="Revoke ops team"]`)), chromedp.Click(chromedp.CSS(`button[aria-label="Revoke ops team"]`)))
	b.wait("the key revoked", `document.querySelectorAll("main tbody tr").length === 1`, 10*time.Second)
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/files", nil)
	req.Header.Set("x-api-key", secret)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a revoked key: %v %v, want 403", resp.Status, err)
	}

	// XSS probe: a file named as markup, whose cells hold script tags, is
	// shown as text everywhere and runs nothing.
	xssName := `<img src=x onerror=alert(1)>.csv`
	xss := "transaction_id,amount,currency,timestamp,merchant,status\n" +
		`"<img src=x onerror=alert(2)>",1.00,USD,2024-01-20T10:00:00Z,"<script>alert(3)</script>",completed` + "\n"
	xssBad := xss + `"<svg onload=alert(4)>",<script>alert(5)</script>,USD,2024-01-20T10:00:00Z,x,completed` + "\n"
	xssPath := filepath.Join(tmp, xssName)
	if err := os.WriteFile(xssPath, []byte(xss), 0o644); err != nil {
		t.Fatal(err)
	}
	b.goTo("#/upload")
	b.pick(xssPath)
	b.wait("the XSS file COMPLETED", uploadStatusExpr(xssName)+` === "COMPLETED"`, 60*time.Second)
	b.drop("<b>bold</b>"+xssName, xssBad)
	b.wait("the bad XSS file REJECTED", uploadStatusExpr("<b>bold</b>"+xssName)+` === "REJECTED"`, 30*time.Second)
	xssID := b.uploadFileID("<b>bold</b>" + xssName)
	noMarkup := `document.querySelectorAll("main img, main script, main svg, main b, main iframe").length === 0`
	for _, hash := range []string{"#/files", "#/files/" + xssID, "#/transactions?from=2024-01-20&to=2024-01-21", "#/upload"} {
		b.goTo(hash)
		b.wait("the page "+hash, `document.querySelector("main table, main .uploads") !== null`, 10*time.Second)
		var ok bool
		b.eval(noMarkup, &ok)
		if !ok {
			var html string
			b.eval(`document.querySelector("main").outerHTML`, &html)
			t.Errorf("%s: markup from a file became elements:\n%s", hash, html)
		}
		var text string
		b.eval(`document.querySelector("main").textContent`, &text)
		switch {
		case hash == "#/files" && !strings.Contains(text, xssName):
			t.Errorf("%s: the file name is not shown as text:\n%s", hash, text)
		case strings.HasPrefix(hash, "#/files/") && !strings.Contains(text, "<script>alert(5)</script>"):
			t.Errorf("%s: the cell is not shown as text:\n%s", hash, text)
		case strings.HasPrefix(hash, "#/transactions") && !strings.Contains(text, "<script>alert(3)</script>"):
			t.Errorf("%s: the merchant is not shown as text:\n%s", hash, text)
		}
	}
	time.Sleep(500 * time.Millisecond) // an onerror would have fired by now

	// At 375 px the page does not scroll sideways (tables scroll in place).
	b.do("narrow", chromedp.EmulateViewport(375, 812))
	b.goTo("#/files")
	b.wait("files", `document.querySelectorAll("main tbody tr").length === 6`, 10*time.Second)
	var width int
	b.eval(`document.documentElement.scrollWidth`, &width)
	if width > 375 {
		t.Errorf("at 375 px the page is %d px wide", width)
	}
	b.screenshot("files-375px")

	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
	if len(b.dialogs) > 0 {
		t.Errorf("dialogs opened: %q", b.dialogs)
	}
}
