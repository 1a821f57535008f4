package layering

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// allowed is every package's imports of the module's own packages (tests aside): the one
// map of what may depend on what. An import missing here fails the test, and so does an
// edge listed here that no code has any more, so the map cannot drift from the code.
// docs/ARCHITECTURE.md shows it, generated: go test ./internal/layering -update.
var allowed = map[string][]string{
	"cmd/livegate":                   {"internal/config", "internal/node"},
	"cmd/livegate-load":              {"internal/mediagen", "internal/whipclient"},
	"cmd/livegatectl":                {},
	"deploy":                         {},
	"internal/access":                {"internal/ids", "internal/problem", "internal/sessions", "internal/store", "internal/notify"},
	"internal/admission":             {"internal/problem"},
	"internal/billing":               {"internal/countries", "internal/ledger", "internal/money", "internal/problem", "internal/store", "internal/notify"},
	"internal/bwe":                   {},
	"internal/cluster":               {"internal/admission", "internal/ids", "internal/problem", "internal/sfu"},
	"internal/config":                {"internal/admission", "internal/money", "internal/store"},
	"internal/countries":             {"internal/money"},
	"internal/csvout":                {},
	"internal/e2e":                   {},
	"internal/httpapi":               {"internal/access", "internal/admission", "internal/billing", "internal/cluster", "internal/countries", "internal/ledger", "internal/money", "internal/paywall", "internal/problem", "internal/recording", "internal/sessions", "internal/sfu", "internal/store", "internal/streams", "internal/tipfeed", "internal/web", "internal/notify", "internal/whip"},
	"internal/ids":                   {},
	"internal/kube":                  {},
	"internal/layering":              {},
	"internal/ledger":                {"internal/countries", "internal/csvout", "internal/money", "internal/problem", "internal/store"},
	"internal/mediagen":              {"internal/vpx"},
	"internal/money":                 {},
	"internal/netpolicy":             {},
	"internal/netsim":                {},
	"internal/node":                  {"internal/access", "internal/admission", "internal/billing", "internal/cluster", "internal/config", "internal/countries", "internal/httpapi", "internal/kube", "internal/ledger", "internal/paywall", "internal/recording", "internal/sessions", "internal/sfu", "internal/store", "internal/store/sqlstore", "internal/streams", "internal/tipfeed", "internal/notify", "internal/turn", "internal/whip"},
	"internal/paywall":               {"internal/access", "internal/billing", "internal/sessions", "internal/store"},
	"internal/poll":                  {},
	"internal/problem":               {},
	"internal/recording":             {"internal/sfu", "internal/store"},
	"internal/sessions":              {"internal/problem"},
	"internal/sessions/sessionstest": {"internal/sessions"},
	"internal/sfu":                   {"internal/bwe", "internal/ids", "internal/netpolicy", "internal/problem", "internal/red", "internal/vpx"},
	"internal/red":                   {},
	"internal/store":                 {"internal/ids", "internal/problem"},
	"internal/store/sqlstore":        {"internal/store"},
	"internal/store/storetest":       {"internal/store"},
	"internal/streams":               {"internal/sessions", "internal/store", "internal/notify"},
	"internal/testenv":               {"internal/config", "internal/node", "internal/store", "internal/testservices"},
	"internal/testservices":          {},
	"internal/tipfeed":               {"internal/store"},
	"internal/turn":                  {},
	"internal/web":                   {},
	"internal/netns":                 {},
	"internal/notify":                {"internal/netpolicy", "internal/store"},
	"internal/whip":                  {"internal/access", "internal/admission", "internal/problem", "internal/sessions", "internal/sfu", "internal/store"},
	"internal/whipclient":            {},
	"internal/vpx":                   {},
}

var update = flag.Bool("update", false, "rewrite docs/ARCHITECTURE.md's generated map")

const module = "github.com/livegate/livegate/"

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// imports is what go list says each package imports of the module's own.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = moduleRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	got := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		got[pkg] = []string{}
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module) {
				got[pkg] = append(got[pkg], strings.TrimPrefix(imp, module))
			}
		}
	}
	return got
}

func TestImportsFollowTheTable(t *testing.T) {
	got := imports(t)
	for pkg, deps := range got {
		want, ok := allowed[pkg]
		if !ok {
			t.Errorf("%s is not in the table: add it, with what it may import", pkg)
			continue
		}
		for _, d := range deps {
			if !slices.Contains(want, d) {
				t.Errorf("%s imports %s, which the table does not allow", pkg, d)
			}
		}
		for _, d := range want {
			if !slices.Contains(deps, d) {
				t.Errorf("the table lets %s import %s, which it no longer does: drop the edge", pkg, d)
			}
		}
	}
	for pkg := range allowed {
		if _, ok := got[pkg]; !ok {
			t.Errorf("the table lists %s, which go list does not know", pkg)
		}
	}
}

const (
	beginMark = "<!-- generated by go test ./internal/layering -update: begin -->"
	endMark   = "<!-- generated: end -->"
)

// The map in docs/ARCHITECTURE.md is the table's, layer by layer.
func TestArchitectureMapIsTheTable(t *testing.T) {
	path := filepath.Join(moduleRoot(), "docs", "ARCHITECTURE.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	b, e := strings.Index(s, beginMark), strings.Index(s, endMark)
	if b < 0 || e < b {
		t.Fatalf("%s has no generated map between %q and %q", path, beginMark, endMark)
	}
	for pkg := range allowed {
		name := short(pkg)
		if strings.HasPrefix(name, "cmd/") || name == "deploy" || strings.Contains(name, "/") {
			continue // commands are in the README; sub-packages are named with their parent
		}
		if !strings.Contains(s, "`"+name+"`") {
			t.Errorf("docs/ARCHITECTURE.md's table does not say what %s is for", name)
		}
	}
	want := beginMark + "\n" + render() + endMark
	if s[b:e+len(endMark)] == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:b]+want+s[e+len(endMark):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/ARCHITECTURE.md's map is not the table's: go test ./internal/layering -update")
}

// The README's layout names every package there is, and none that there is not.
func TestReadmeLayoutNamesEveryPackage(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(moduleRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range allowed {
		if !strings.HasPrefix(pkg, "internal/") || strings.Count(pkg, "/") > 1 {
			continue // sub-packages are named with their parent
		}
		if !strings.Contains(string(readme), "    "+pkg+"/") {
			t.Errorf("README.md's layout does not name %s/", pkg)
		}
	}
}

// render is the table as layers: a package sits one above the highest it imports.
func render() string {
	layer := map[string]int{}
	var depth func(string) int
	depth = func(p string) int {
		if l, ok := layer[p]; ok {
			return l
		}
		l := 0
		for _, d := range allowed[p] {
			l = max(l, depth(d)+1)
		}
		layer[p] = l
		return l
	}
	top := 0
	for p := range allowed {
		top = max(top, depth(p))
	}
	var out strings.Builder
	out.WriteString("```\n")
	for l := top; l >= 0; l-- {
		var pkgs []string
		for p, pl := range layer {
			if pl == l {
				pkgs = append(pkgs, p)
			}
		}
		sort.Slice(pkgs, func(i, j int) bool { return short(pkgs[i]) < short(pkgs[j]) })
		fmt.Fprintf(&out, "layer %d\n", l)
		for _, p := range pkgs {
			deps := make([]string, 0, len(allowed[p]))
			for _, d := range allowed[p] {
				deps = append(deps, short(d))
			}
			sort.Strings(deps)
			if len(deps) == 0 {
				fmt.Fprintf(&out, "  %s\n", short(p))
				continue
			}
			fmt.Fprintf(&out, "  %s -> %s\n", short(p), strings.Join(deps, ", "))
		}
	}
	out.WriteString("```\n")
	return out.String()
}

func short(p string) string { return strings.TrimPrefix(p, "internal/") }
