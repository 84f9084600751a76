//go:build linux

package e2e

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/switchyard-mail/switchyard/admin"
	"github.com/switchyard-mail/switchyard/e2e/harness"
	"github.com/switchyard-mail/switchyard/e2e/peers"
	"github.com/switchyard-mail/switchyard/internal/contract"
)

// EnvScreenshots names the directory TestConsole writes its screenshots
// to (relative to the repository root when relative); unset, a temporary
// directory. SWITCHYARD_SCREENSHOTS=docs/console refreshes the README's.
const EnvScreenshots = "SWITCHYARD_SCREENSHOTS"

// RequireChromium returns the path of Debian's chromium, or skips the test
// (fails it with SWITCHYARD_E2E_REQUIRE=1) when it is not installed.
func RequireChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := harness.LookBinary(name); err == nil {
			return p
		}
	}
	msg := "chromium is not installed: the console's browser test needs Debian's chromium package (apt-get install -y --no-install-recommends chromium)"
	if os.Getenv(harness.EnvRequire) == "1" {
		t.Fatalf("%s (required because %s=1)", msg, harness.EnvRequire)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, harness.EnvRequire)
	return ""
}

// browser is one headless Chromium tab on the console.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // https://127.0.0.1:port
	shot string // screenshot directory

	mu       sync.Mutex
	problems []string // exceptions, console errors, CSP violations
}

// startBrowser starts Chromium (a fresh profile, no network but what the
// page asks for) and opens one tab. It is killed when the test ends.
func startBrowser(t *testing.T, bin, base, shots string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("lang", "en-US"),
		// The admin listener's certificate is the test's own, self-signed.
		chromedp.IgnoreCertErrors,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Env("TZ=UTC", "LANG=en_US.UTF-8"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, base: base, shot: shots}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// Refused requests (a 401, the viewer's 403) are expected;
			// a script error or a CSP violation is not.
			if m.IsException() || m.Type == chromedp.ConsoleError && m.Source != "network" {
				b.mu.Lock()
				b.problems = append(b.problems, m.String()+" at "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// do runs actions, failing the test on an error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage: %s", what, err, b.pageText())
	}
}

// eval evaluates a JavaScript expression in the page (a promise is
// awaited).
func evalIn[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// pageText is what the page shows, for failure messages.
func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + ' role=' + (document.body.dataset.role || '') + ' signin.hidden=' + document.getElementById('signin').hidden + ' top.hidden=' + document.getElementById('top').hidden + '\n' + document.body.innerText`))
	if len(s) > 3000 {
		s = s[:3000] + "…"
	}
	return s
}

// wait waits until the JavaScript condition holds in the page. (chromedp's
// Poll builds its predicate with new Function, which the console's CSP
// refuses; evaluating from DevTools is not subject to it.)
func (b *browser) wait(what, cond string) {
	b.t.Helper()
	var last error
	err := harness.Eventually(30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+cond+`)`))
		if err != nil {
			last = err
			return err
		}
		if !ok {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err != nil {
		b.t.Fatalf("waiting for %s (%s): %v %v\npage: %s", what, cond, err, last, b.pageText())
	}
}

// open shows a console page (#/name), drawn afresh, and waits for it.
func (b *browser) open(hash, ready string) {
	b.t.Helper()
	if evalIn[string](b, `location.hash`) == hash {
		b.do("reload "+hash, chromedp.Reload())
	} else {
		b.do("open "+hash, chromedp.Evaluate[chromedp.Void](`location.hash = `+strconv.Quote(hash)))
	}
	b.wait(hash, ready)
}

// screenshot writes the page, whole, to name.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shot, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// expectProblems waits until a report containing each of want has
// arrived, then drops every report that matches one of them.
func (b *browser) expectProblems(want ...string) {
	b.t.Helper()
	matches := func(p string) bool {
		for _, w := range want {
			if strings.Contains(p, w) {
				return true
			}
		}
		return false
	}
	err := harness.Eventually(30*time.Second, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, w := range want {
			if !slices.ContainsFunc(b.problems, func(p string) bool { return strings.Contains(p, w) }) {
				return fmt.Errorf("no report with %q among %q", w, b.problems)
			}
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.mu.Lock()
	b.problems = slices.DeleteFunc(b.problems, matches)
	b.mu.Unlock()
}

// checkProblems fails the test on any script error or CSP violation
// reported so far.
func (b *browser) checkProblems() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser: %s", p)
	}
	b.problems = nil
}

// accessible says what on the page has no accessible name: an input
// without a label, a button or a link without text.
const unlabelled = `(() => {
  const bad = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || el.closest('[hidden]')) continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')) bad.push(el.outerHTML.slice(0, 80));
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (el.closest('[hidden]')) continue;
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) bad.push(el.outerHTML.slice(0, 80));
  }
  return bad.join('\n');
})()`

// holder is an imaplib session kept open (testdata/imapclient.py --hold).
type holder struct {
	cmd   *exec.Cmd
	lines chan map[string]any
}

func holdIMAP(t *testing.T, addr, user string) *holder {
	t.Helper()
	py, host, p := pythonFor(t, addr)
	script, err := pythonScript()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, "--host", host, "--port", p, "--user", user, "--password", peers.DefaultUsers[user],
		"--timeout", "20", "--hold", "180")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, lines: make(chan map[string]any, 4)}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				h.lines <- m
			}
		}
		close(h.lines)
	}()
	first := h.next(t, 30*time.Second)
	if first["ok"] != true {
		t.Fatalf("imaplib session of %s: %v", user, first)
	}
	return h
}

func (h *holder) next(t *testing.T, d time.Duration) map[string]any {
	t.Helper()
	select {
	case m, ok := <-h.lines:
		if !ok {
			t.Fatal("the imaplib session ended without a word")
		}
		return m
	case <-time.After(d):
		t.Fatalf("no word from the imaplib session within %v", d)
	}
	return nil
}

// changeControls lists the change controls a page shows (data-change
// marks them; the words catch one that was not marked).
const changeControls = `(() => {
  const words = /\b(kick|cut over|flip|apply|reload|maintenance|drain|close the breakers|dry run|hold logins|release|import|log level|set)\b/i;
  const out = [];
  for (const el of document.querySelectorAll('#page [data-change], #page button, #page input[type=file], #page textarea')) {
    if (el.dataset.change || words.test(el.textContent) || el.type === 'file' || el.tagName === 'TEXTAREA') out.push(el.tagName + ' ' + (el.dataset.change || el.textContent.trim()));
  }
  return out.join(', ');
})()`

// TestConsole drives the operator console at /ui/ in headless Chromium
// against two real Dovecots behind switchyard: sign-in, a live imaplib
// session in the sessions page, kicking it, the live event tail, a
// cut-over after which imaplib lands on the other Dovecot, the import's
// dry run and apply, the maintenance switch, the configuration and its
// reload; then the viewer token, which sees every page without a change
// control and whose direct API change is refused. Each page is
// screenshotted (SWITCHYARD_SCREENSHOTS), and each is checked for
// unlabelled controls and, on a narrow screen, for a page wider than the
// screen.
func TestConsole(t *testing.T) {
	harness.Gate(t)
	harness.RequireBinary(t, "dovecot")
	harness.RequireBinary(t, "python3")
	chromium := RequireChromium(t)

	shots := t.TempDir()
	if d := os.Getenv(EnvScreenshots); d != "" {
		if !filepath.IsAbs(d) {
			root, err := harness.RepoRoot()
			if err != nil {
				t.Fatal(err)
			}
			d = filepath.Join(root, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		shots = d
	}
	t.Logf("screenshots in %s", shots)

	dcs := startDovecotPair(t, peers.DovecotOptions{})
	old, nw := dcs.old, dcs.new
	cert, mapping := proxyCertMapping(t, "alice@test old", "bob@test old", "carol@test new")
	adminToken, viewerToken := strings.Repeat("a", 40), strings.Repeat("v", 40)
	sy := harness.StartSwitchyardConfig(t, harness.SwitchyardConfig{
		Cert:                     &cert,
		Listeners:                []harness.SYListener{{ID: "imap", Protocol: "imap", TLS: "plain"}},
		Destinations:             oldNewDestinations("imap", port(t, old.IMAPAddr), port(t, nw.IMAPProxyAddr)),
		DefaultDestination:       "old",
		MappingFile:              mapping,
		AllowPlainAuthWithoutTLS: true,
		Extra:                    fmt.Sprintf("\n[admin]\nbind = %q\nbearer_token = %q\nviewer_token = %q\n", harness.AnyPort, adminToken, viewerToken),
	})
	sy.LogOnFailure(t)
	imapAddr := sy.Addr(t, "imap")
	base := "https://" + sy.AdminAddr
	spec, err := contract.Load(admin.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	// The browser keeps up to 6 connections to the admin listener, which
	// takes 8 from one address: the test's own calls keep none open.
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: cert.ClientTLS("mail.test")}}
	api := &adminAPI{t: t, base: base, token: adminToken, spec: spec, hc: hc}
	viewerAPI := &adminAPI{t: t, base: base, token: viewerToken, spec: spec, hc: hc}

	b := startBrowser(t, chromium, base, shots)

	// Sign in. The CSP is in force: the page may not eval, nor parse HTML
	// into the DOM.
	b.do("load the console", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")))
	// (DevTools' own evaluation is exempt from the CSP, so what is
	// checked is what the page loads: an image and a fetch from another
	// origin are refused before any connection.)
	violations := evalIn[string](b, `new Promise((resolve) => {
	  const seen = [];
	  document.addEventListener('securitypolicyviolation', (e) => {
	    seen.push(e.effectiveDirective);
	    if (seen.length === 2) resolve(seen.sort().join(' '));
	  });
	  document.body.append(Object.assign(document.createElement('img'), {src: 'https://127.0.0.1:1/x.png', alt: ''}));
	  fetch('https://127.0.0.1:1/').catch(() => {});
	})`)
	if violations != "connect-src img-src" {
		t.Errorf("CSP violations for an outside image and fetch: %q, want connect-src img-src", violations)
	}
	if got := evalIn[string](b, `(() => { try { document.createElement('div').innerHTML = '<b>x</b>'; return 'innerHTML allowed'; } catch (e) { return 'refused'; } })()`); got != "refused" {
		t.Errorf("innerHTML in the console: %s, want refused by Trusted Types", got)
	}
	// Those refusals are reported, as they should be; the reports arrive
	// over DevTools on their own time, so the test waits for them rather
	// than clearing whatever has come so far.
	b.expectProblems("connect-src", "Fetch API cannot load", "img-src", "TrustedHTML")
	b.screenshot("signin")
	b.do("a wrong token", chromedp.SendKeys(chromedp.ID("token"), strings.Repeat("x", 40)), chromedp.KeyEvent(kb.Enter))
	b.wait("the refusal", `document.getElementById('signin-error').textContent.includes('401')`)
	b.do("sign in", chromedp.SendKeys(chromedp.ID("token"), adminToken), chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)))
	b.wait("the overview", `document.querySelector('#page[data-ready="overview"] .stat')`)
	if got := evalIn[string](b, `document.getElementById('role').textContent`); got != "admin" {
		t.Errorf("role shown: %q", got)
	}
	if got := evalIn[string](b, `document.cookie + '|' + (sessionStorage.getItem('switchyard.console.token') === `+strconv.Quote(adminToken)+`)`); got != "|true" {
		t.Errorf("cookie|token in sessionStorage: %q, want no cookie and the token", got)
	}

	// An imaplib session through switchyard shows on the sessions page.
	alice := holdIMAP(t, imapAddr, "alice@test")
	b.open("#/sessions", `document.querySelector('tr[data-account="alice@test"]')`)
	row := evalIn[string](b, `document.querySelector('tr[data-account="alice@test"]').innerText`)
	for _, want := range []string{"imap", "old", "bridged"} {
		if !strings.Contains(row, want) {
			t.Errorf("alice's session row %q lacks %q", row, want)
		}
	}
	b.screenshot("sessions")

	// Kick it from the page: imaplib sees its session end, the row goes.
	b.do("kick alice", chromedp.Click(chromedp.CSS(`tr[data-account="alice@test"] button[data-change="kick"]`)))
	if m := alice.next(t, 20*time.Second); m["closed"] != true {
		t.Fatalf("alice's session after the kick: %v", m)
	}
	b.wait("alice's row to go", `!document.querySelector('tr[data-account="alice@test"]') && document.getElementById('notice').textContent.includes('kicked')`)

	// The event tail is live: a login made now arrives over the stream.
	b.open("#/events", `document.querySelector('.live-status[data-live="true"]')`)
	b.wait("the kick in the log", `document.querySelector('tr[data-kind="kick"]')`)
	res, err := PythonIMAP(t, IMAPLogin{Addr: imapAddr, User: "bob@test", Password: peers.DefaultUsers["bob@test"]})
	ExpectMarker(t, res, err, "old")
	b.wait("bob's login, live", `[...document.querySelectorAll('tr[data-kind="login"]')].some((r) => r.innerText.includes('bob@test'))`)
	b.screenshot("events")

	// Cut bob over on his account page; his next imaplib login lands on
	// the other Dovecot.
	b.open("#/account/bob@test", `document.querySelector('.decision .dest') && document.querySelector('button[data-change="cutover"]')`)
	if got := evalIn[string](b, `document.querySelector('.decision .dest').textContent`); got != "old" {
		t.Fatalf("bob's route before the cut-over: %q", got)
	}
	b.do("cut bob over", chromedp.SetValue(chromedp.CSS(`form[aria-label="Move this account"] select[name=destination]`), "new"),
		chromedp.Click(chromedp.CSS(`button[data-change="cutover"]`)))
	b.wait("the cut-over report", `document.querySelector('.report') && document.body.innerText.includes('Cut over to new')`)
	b.wait("bob's route after it", `document.querySelector('.decision .dest').textContent === 'new'`)
	res, err = PythonIMAP(t, IMAPLogin{Addr: imapAddr, User: "bob@test", Password: peers.DefaultUsers["bob@test"]})
	ExpectMarker(t, res, err, "new")
	b.open("#/account/bob@test", `[...document.querySelectorAll('td')].some((td) => td.textContent.startsWith('cutover'))`)
	b.wait("the flip in bob's history", `[...document.querySelectorAll('td')].some((td) => td.textContent === 'flip')`)
	b.screenshot("account")

	// Migration: progress per destination; an uploaded CSV's dry run
	// shows what would change and writes nothing; applying writes it.
	b.open("#/migration", `document.querySelector('progress') && document.querySelector('button[data-change="import-dry-run"]')`)
	if got := evalIn[string](b, `document.querySelector('.progress-list').innerText`); !strings.Contains(got, "old\n1 mapped") || !strings.Contains(got, "new\n2 mapped") {
		t.Errorf("progress after bob's cut-over: %q, want old 1, new 2", got)
	}
	csv := filepath.Join(t.TempDir(), "batch.csv")
	if err := os.WriteFile(csv, []byte("identifier,destination\ndave@test,new\nalice@test,new\ncarol@test,new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("upload and dry-run", chromedp.SetUploadFiles(chromedp.CSS(`input[type=file]`), []string{csv}),
		chromedp.Click(chromedp.CSS(`button[data-change="import-dry-run"]`)))
	b.wait("the dry run", `document.body.innerText.includes('1 to add, 1 to change, 1 unchanged')`)
	changes := evalIn[string](b, `[...document.querySelectorAll('.report tbody tr')].map((r) => [...r.cells].map((c) => c.textContent).join(' ')).join('; ')`)
	if changes != "dave@test (none) new; alice@test old new" {
		t.Errorf("dry run's changes: %q", changes)
	}
	if _, m := api.do("GET", "/api/v1/mappings/alice@test", ""); m["destination"] != "old" {
		t.Errorf("after the dry run alice is mapped to %v, want old (nothing written)", m["destination"])
	}
	b.screenshot("migration")
	b.do("apply", chromedp.Click(chromedp.CSS(`button[data-change="import-apply"]`)))
	b.wait("the import", `document.body.innerText.includes('Imported: 2 mapping(s) written')`)
	if _, m := api.do("GET", "/api/v1/mappings/alice@test", ""); m["destination"] != "new" {
		t.Errorf("after the import alice is mapped to %v, want new", m["destination"])
	}
	// Many at once: tick alice and dave in the list, flip them to old.
	b.open("#/migration", `document.querySelectorAll('input[data-change="select"]').length === 4`)
	b.do("tick alice and dave", chromedp.Click(chromedp.CSS(`input[aria-label="Select alice@test"]`)), chromedp.Click(chromedp.CSS(`input[aria-label="Select dave@test"]`)),
		chromedp.SetValue(chromedp.CSS(`select[name=to]`), "old"), chromedp.Click(chromedp.CSS(`button[data-change="flip-many"]`)))
	b.wait("both flipped", `document.body.innerText.includes('Done: 2 moved, 0 failed.')`)
	for _, a := range []string{"alice@test", "dave@test"} {
		if _, m := api.do("GET", "/api/v1/mappings/"+a, ""); m["destination"] != "old" {
			t.Errorf("after the flip of many %s is mapped to %v, want old", a, m["destination"])
		}
	}

	// Destinations: the maintenance switch, both ways.
	b.open("#/destinations", `document.querySelector('[data-destination="old"] button[data-change="maintenance"]')`)
	maint := `[data-destination="old"] button[data-change="maintenance"]`
	b.do("maintenance on", chromedp.Click(chromedp.CSS(maint)))
	b.wait("maintenance on", `document.querySelector('`+maint+`').getAttribute('aria-pressed') === 'true'`)
	if _, m := api.do("GET", "/api/v1/destinations/old", ""); m["maintenance"] != true {
		t.Errorf("old after the switch: maintenance %v", m["maintenance"])
	}
	b.screenshot("destinations")
	b.do("maintenance off", chromedp.Click(chromedp.CSS(maint)))
	b.wait("maintenance off", `document.querySelector('`+maint+`').getAttribute('aria-pressed') === 'false'`)
	if _, m := api.do("GET", "/api/v1/destinations/old", ""); m["maintenance"] != false {
		t.Errorf("old after switching back: maintenance %v", m["maintenance"])
	}

	// Configuration: redacted, and a reload with its report.
	b.open("#/config", `document.querySelector('pre.config')`)
	cfg := evalIn[string](b, `document.querySelector('pre.config').textContent`)
	if !strings.Contains(cfg, "[admin]") || strings.Contains(cfg, adminToken) || strings.Contains(cfg, viewerToken) || !strings.Contains(cfg, "xxxxx") {
		t.Errorf("configuration shown: want [admin] with the tokens masked:\n%s", cfg)
	}
	b.do("reload", chromedp.Click(chromedp.CSS(`button[data-change="reload"]`)))
	b.wait("the reload's report", `document.body.innerText.includes('Reloaded.')`)
	b.screenshot("config")

	if os.Getenv(EnvScreenshots) != "" {
		// Refreshing the README's pictures: wait for the first point of
		// the history (one a minute) so that the charts show something.
		if err := harness.Eventually(75*time.Second, func() error {
			if _, m := api.do("GET", "/api/v1/history?minutes=5", ""); len(m["points"].([]any)) == 0 {
				return fmt.Errorf("no history point yet")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	b.open("#/overview", `document.querySelector('#page[data-ready="overview"] .stat') && document.querySelector('svg.chart')`)
	b.wait("the login rates", `!document.querySelector('.stats').textContent.includes('measuring')`)
	b.screenshot("overview")

	pages := []struct{ hash, ready string }{
		{"#/overview", `document.querySelector('svg.chart')`},
		{"#/migration", `document.querySelector('progress')`},
		{"#/account/carol@test", `document.querySelector('.decision .dest')`},
		{"#/sessions", `document.querySelector('tr[data-account="carol@test"]')`},
		{"#/destinations", `document.querySelector('.dest-card')`},
		{"#/events", `document.querySelector('tr[data-kind]')`},
		{"#/config", `document.querySelector('pre.config')`},
	}
	carol := holdIMAP(t, imapAddr, "carol@test")
	_ = carol
	// Every control has a name; on a narrow screen no page is wider than
	// the screen (tables fold into one block per row).
	for _, p := range pages {
		b.open(p.hash, p.ready)
		if bad := evalIn[string](b, unlabelled); bad != "" {
			t.Errorf("%s: controls without an accessible name:\n%s", p.hash, bad)
		}
	}
	b.do("narrow screen", chromedp.EmulateViewport(390, 844))
	for _, p := range pages {
		b.open(p.hash, p.ready)
		if w := evalIn[string](b, `document.documentElement.scrollWidth + ' > ' + window.innerWidth`); func() bool {
			a, c, _ := strings.Cut(w, " > ")
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(c)
			return x > y
		}() {
			t.Errorf("%s on a 390 px screen: page width %s", p.hash, w)
		}
	}
	b.open("#/overview", pages[0].ready)
	b.screenshot("overview-narrow")
	b.open("#/sessions", pages[3].ready)
	b.screenshot("sessions-narrow")
	b.do("wide screen", chromedp.EmulateViewport(1280, 900))

	// The keyboard: after a reload (the token stays in this tab), the
	// first Tab reaches the skip link.
	b.open("#/overview", pages[0].ready)
	b.do("reload", chromedp.Reload())
	b.wait("the overview again", `document.querySelector('#page[data-ready="overview"] .stat')`)
	b.do("tab", chromedp.KeyEvent(kb.Tab))
	if got := evalIn[string](b, `document.activeElement.textContent`); got != "Skip to content" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}
	b.checkProblems()

	// The viewer token: every page, no change control; the API refuses a
	// change even when asked directly.
	b.do("sign out", chromedp.Click(chromedp.ID("signout")))
	b.wait("the sign-in form", `!document.getElementById('signin').hidden`)
	if got := evalIn[bool](b, `sessionStorage.getItem('switchyard.console.token') === null`); !got {
		t.Error("the token is still in sessionStorage after signing out")
	}
	b.do("sign in as viewer", chromedp.SendKeys(chromedp.ID("token"), viewerToken), chromedp.KeyEvent(kb.Enter))
	b.wait("the viewer's overview", `document.body.dataset.role === 'viewer' && document.querySelector('#page[data-ready="overview"] .stat')`)
	if got := evalIn[string](b, `document.getElementById('role').textContent`); got != "viewer: read only" {
		t.Errorf("role shown: %q", got)
	}
	for _, p := range pages {
		b.open(p.hash, p.ready)
		if got := evalIn[string](b, changeControls); got != "" {
			t.Errorf("viewer on %s sees change controls: %s", p.hash, got)
		}
	}
	b.open("#/sessions", pages[3].ready)
	b.screenshot("sessions-viewer")
	status := evalIn[int](b, `fetch('/api/v1/sessions/kick', {method: 'POST', headers: {Authorization: 'Bearer ' + sessionStorage.getItem('switchyard.console.token'), 'Content-Type': 'application/json'}, body: JSON.stringify({account: 'carol@test'})}).then((r) => r.status)`)
	if status != http.StatusForbidden {
		t.Errorf("the viewer's kick from the page: status %d, want 403", status)
	}
	if code, m := viewerAPI.do("POST", "/api/v1/accounts/carol@test/cutover", `{"destination":"old"}`); code != http.StatusForbidden || m["type"] != admin.ProblemForbidden {
		t.Errorf("the viewer's cut-over: %d %v, want 403 %s", code, m, admin.ProblemForbidden)
	}
	if _, m := api.do("GET", "/api/v1/sessions?account=carol@test", ""); m["count"] != 1.0 {
		t.Errorf("carol's sessions after the viewer's refused kick: %v, want 1", m["count"])
	}
	if _, m := api.do("GET", "/api/v1/mappings/carol@test", ""); m["destination"] != "new" {
		t.Errorf("carol after the viewer's refused cut-over: %v, want new", m["destination"])
	}
	b.checkProblems()
}
