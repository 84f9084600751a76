package limits

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the generated table of docs/LIMITS.md from Table")

const docPath = "../docs/LIMITS.md"

// Markers around the generated table in docs/LIMITS.md.
const (
	tableBegin   = "<!-- limits:begin"
	tableEnd     = "<!-- limits:end -->"
	reasonsBegin = "<!-- reasons:begin -->"
	reasonsEnd   = "<!-- reasons:end -->"
)

func TestFormat(t *testing.T) {
	durs := map[time.Duration]string{
		0: "0s", 250 * time.Millisecond: "250ms", time.Second: "1s", 60 * time.Second: "60s",
		90 * time.Second: "90s", 2 * time.Minute: "2m", 75 * time.Second: "75s", 30 * time.Minute: "30m",
		90 * time.Minute: "90m", 24 * time.Hour: "24h", 1500 * time.Microsecond: "1.5ms",
	}
	for d, want := range durs {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	sizes := map[int64]string{0: "0 B", 510: "510 B", 1024: "1 KiB", 256 << 10: "256 KiB", 1 << 20: "1 MiB",
		50 << 20: "50 MiB", 1 << 30: "1 GiB", 1536: "1536 B"}
	for n, want := range sizes {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

var scopes = []string{ScopeProcess, ScopeLoop, ScopeListener, ScopeAddress, ScopeListenAddr, ScopeConnection,
	ScopeCommand, ScopeRequest, ScopeStream, ScopeTransaction, ScopeMessage, ScopeLogin, ScopeSession,
	ScopeDirection, ScopeLeg, ScopeDestination, ScopeBackend, ScopeLookup, ScopeStore, ScopeToken, ScopeFile, ScopeEntry}

// TestTableRows checks each row on its own: unique names and keys, a
// known scope, one sentence of reason that a Markdown table can hold.
func TestTableRows(t *testing.T) {
	names, keys := map[string]bool{}, map[string]bool{}
	for _, l := range Table {
		if names[l.Name] {
			t.Errorf("%s: listed twice", l.Name)
		}
		names[l.Name] = true
		if l.Key != "" {
			if keys[l.Key] {
				t.Errorf("%s: key %s is set by another limit too", l.Name, l.Key)
			}
			keys[l.Key] = true
		}
		if !slices.Contains(scopes, l.Scope) {
			t.Errorf("%s: unknown scope %q", l.Name, l.Scope)
		}
		if l.Reason == "" || !strings.HasSuffix(l.Reason, ".") || strings.ContainsAny(l.Reason, "|\n") {
			t.Errorf("%s: the reason must be one sentence ending with a period, without '|': %q", l.Name, l.Reason)
		}
		if l.Value <= 0 {
			t.Errorf("%s: default %d is not positive", l.Name, l.Value)
		}
	}
}

// TestTableNamesConstants checks that every constant of limits.go has a
// row, that every row names a constant, and that each row's Name is the
// constant it was built from (dur("X", X, ...)), by reading the source.
func TestTableNamesConstants(t *testing.T) {
	fset := token.NewFileSet()
	consts := map[string]bool{}
	f, err := parser.ParseFile(fset, "limits.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && (g.Tok == token.CONST || g.Tok == token.VAR) {
			for _, s := range g.Specs {
				for _, n := range s.(*ast.ValueSpec).Names {
					if n.IsExported() {
						consts[n.Name] = true
					}
				}
			}
		}
	}
	tf, err := parser.ParseFile(fset, "table.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	ast.Inspect(tf, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		fn, ok := call.Fun.(*ast.Ident)
		if !ok || (fn.Name != "dur" && fn.Name != "size" && fn.Name != "count") {
			return true
		}
		rows++
		lit, ok1 := call.Args[0].(*ast.BasicLit)
		id, ok2 := call.Args[1].(*ast.Ident)
		if !ok1 || !ok2 {
			t.Errorf("%s: a row is built as %s(\"Name\", Name, ...)", fset.Position(call.Pos()), fn.Name)
			return true
		}
		name, _ := strconv.Unquote(lit.Value)
		if name != id.Name {
			t.Errorf("%s: row %q is built from the constant %s", fset.Position(call.Pos()), name, id.Name)
		}
		if !consts[id.Name] {
			t.Errorf("%s: row %s names no constant of limits.go", fset.Position(call.Pos()), id.Name)
		}
		delete(consts, id.Name)
		return true
	})
	for name := range consts {
		t.Errorf("limits.%s has no row in Table: add one (the default, its scope and why)", name)
	}
	if rows != len(Table) {
		t.Errorf("table.go builds %d rows, Table has %d", rows, len(Table))
	}
}

func renderRow(l Limit) string {
	key := "–"
	if l.Key != "" {
		key = "`" + l.Key + "`"
	}
	return "| `" + l.Name + "` | " + key + " | " + l.Default + " | " + l.Scope + " | " + l.Reason + " |"
}

func renderTable() []string {
	out := []string{"| limit | config key | default | scope | why this value |", "| --- | --- | --- | --- | --- |"}
	for _, l := range Table {
		out = append(out, renderRow(l))
	}
	return out
}

// section returns the lines strictly between the line starting with
// begin and the line starting with end, and where they are.
func section(t *testing.T, lines []string, begin, end string) (body []string, from, to int) {
	t.Helper()
	from, to = -1, -1
	for i, l := range lines {
		switch {
		case from < 0 && strings.HasPrefix(l, begin):
			from = i
		case from >= 0 && strings.HasPrefix(l, end):
			to = i
		}
		if to >= 0 {
			break
		}
	}
	if from < 0 || to < 0 {
		t.Fatalf("%s: no section between %q and %q", docPath, begin, end)
	}
	return lines[from+1 : to], from, to
}

// TestDoc checks that docs/LIMITS.md lists exactly the rows of Table,
// with the same config key, default, scope and reason. With -update it
// rewrites that table from Table instead.
func TestDoc(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	got, from, to := section(t, lines, tableBegin, tableEnd)
	want := renderTable()
	if *update {
		out := slices.Concat(lines[:from+1], want, lines[to:])
		if err := os.WriteFile(docPath, []byte(strings.Join(out, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	byName := func(rows []string) map[string]string {
		m := map[string]string{}
		for _, r := range rows {
			if cells := strings.Split(r, " | "); len(cells) > 1 && strings.HasPrefix(cells[0], "| `") {
				m[strings.Trim(cells[0], "| `")] = r
			}
		}
		return m
	}
	g, w := byName(got), byName(want)
	var diff []string
	for _, l := range Table {
		switch gr, ok := g[l.Name]; {
		case !ok:
			diff = append(diff, "missing from the doc: "+w[l.Name])
		case gr != w[l.Name]:
			diff = append(diff, "doc:   "+gr, "Table: "+w[l.Name])
		}
	}
	var extra []string
	for name, r := range g {
		if _, ok := w[name]; !ok {
			extra = append(extra, "in the doc but not in Table: "+r)
		}
	}
	slices.Sort(extra)
	diff = append(diff, extra...)
	if len(diff) == 0 && !slices.Equal(got, want) {
		diff = append(diff, "same rows, but the order or the header differs from Table's")
	}
	if len(diff) > 0 {
		t.Errorf("%s is out of step with limits.Table (run `go test ./limits -run TestDoc -update` after changing Table):\n%s",
			docPath, strings.Join(diff, "\n"))
	}
}

// engineReasons reads the source of the engine and its packages for the
// refusal reasons it can count: the literal reasons given to refusal (or
// Refusal, as the session kinds, the acceptors, legs and the gate call
// it), ConnRefused and the acceptor's refuse, and prefixes of reasons built
// as "prefix_" + x.
func engineReasons(t *testing.T) (exact, prefixes map[string]string) {
	t.Helper()
	files, err := filepath.Glob("../engine/*.go")
	if err != nil {
		t.Fatal(err)
	}
	below, err := filepath.Glob("../engine/*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, below...)
	exact, prefixes = map[string]string{}, map[string]string{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			var arg ast.Expr
			switch {
			case (sel.Sel.Name == "refusal" || sel.Sel.Name == "Refusal") && len(call.Args) == 1:
				arg = call.Args[0]
			case sel.Sel.Name == "ConnRefused" && len(call.Args) == 3:
				arg = call.Args[2]
			case sel.Sel.Name == "refuse" && len(call.Args) == 2: // the acceptor's refuse(conn, reason)
				arg = call.Args[1]
			default:
				return true
			}
			where := fset.Position(call.Pos()).String()
			switch a := arg.(type) {
			case *ast.BasicLit:
				s, _ := strconv.Unquote(a.Value)
				exact[s] = where
			case *ast.BinaryExpr:
				if lit, ok := a.X.(*ast.BasicLit); ok && a.Op == token.ADD {
					s, _ := strconv.Unquote(lit.Value)
					prefixes[s] = where
				}
			}
			return true
		})
	}
	if len(exact) == 0 {
		t.Fatal("no refusal reason found in ../engine: has the engine's refusal call changed?")
	}
	return exact, prefixes
}

// TestRefusalReasons checks that the reasons table of docs/LIMITS.md
// lists every reason the engine counts (switchyard_limit_refusals_total,
// switchyard_connections_refused_total) and no other.
func TestRefusalReasons(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, _, _ := section(t, strings.Split(string(raw), "\n"), reasonsBegin, reasonsEnd)
	doc := map[string]bool{}
	for _, r := range rows {
		if cells := strings.Split(r, " | "); len(cells) > 1 && strings.HasPrefix(cells[0], "| `") {
			doc[strings.Trim(cells[0], "| `")] = true
		}
	}
	exact, prefixes := engineReasons(t)
	for reason, where := range exact {
		if !doc[reason] {
			t.Errorf("%s: the engine counts the reason %q, which the reasons table of %s does not list", where, reason, docPath)
		}
	}
	for prefix, where := range prefixes {
		found := false
		for r := range doc {
			found = found || strings.HasPrefix(r, prefix)
		}
		if !found {
			t.Errorf("%s: the engine counts reasons starting with %q, which the reasons table of %s does not list", where, prefix, docPath)
		}
	}
	for r := range doc {
		ok := exact[r] != ""
		for p := range prefixes {
			ok = ok || strings.HasPrefix(r, p)
		}
		if !ok {
			t.Errorf("%s lists the reason %q, which the engine never counts", docPath, r)
		}
	}
}

func TestOr(t *testing.T) {
	if got := Or(0, 5); got != 5 {
		t.Errorf("Or(0, 5) = %d", got)
	}
	if got := Or(-time.Second, time.Minute); got != time.Minute {
		t.Errorf("Or(-1s, 1m) = %v", got)
	}
	if got := Or(3, 5); got != 3 {
		t.Errorf("Or(3, 5) = %d", got)
	}
}
