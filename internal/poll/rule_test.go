package poll

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The rule this package exists for, checked over every test of the module: a test waits
// for a condition (Until), not for a clock. A sleep of a second or more, or of a length
// only known at run time, is allowed where the test is about time, and says so: "about
// time" in a comment on its line or in the comment block just above it. A hand-written
// deadline loop is Until written again.
func TestTestsWaitForConditions(t *testing.T) {
	_, self, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(self), "..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "build" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == filepath.Dir(self) {
			return nil
		}
		checked++
		checkFile(t, root, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked %d test files; the walk is not finding the module's tests", checked)
	}
}

func checkFile(t *testing.T, root, path string) {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Split(string(mustRead(t, path)), "\n")
	rel, _ := filepath.Rel(root, path)
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if !isSel(n.Fun, "time", "Sleep") || len(n.Args) != 1 {
				return true
			}
			if d, ok := constDuration(n.Args[0]); ok && d < time.Second {
				return true
			}
			line := fset.Position(n.Pos()).Line
			if !saysAboutTime(src, line) {
				t.Errorf("%s:%d: a sleep of a second or more (or of a run-time length): wait with poll.Until for what the test needs, or say \"about time\" and why", rel, line)
			}
		case *ast.AssignStmt:
			for i, lhs := range n.Lhs {
				id, ok := lhs.(*ast.Ident)
				if !ok || !strings.Contains(strings.ToLower(id.Name), "deadline") || i >= len(n.Rhs) {
					continue
				}
				if call, ok := n.Rhs[i].(*ast.CallExpr); ok && isSel(call.Fun, "", "Add") {
					if inner, ok := call.Fun.(*ast.SelectorExpr); ok {
						if now, ok := inner.X.(*ast.CallExpr); ok && isSel(now.Fun, "time", "Now") {
							t.Errorf("%s:%d: a hand-written deadline loop: use poll.Until (or poll.Wait), whose condition says why not yet", rel, fset.Position(n.Pos()).Line)
						}
					}
				}
			}
		}
		return true
	})
}

// saysAboutTime reports whether line (1-based) or the comment lines just above it say
// "about time".
func saysAboutTime(src []string, line int) bool {
	if strings.Contains(strings.ToLower(src[line-1]), "about time") {
		return true
	}
	for i := line - 2; i >= 0; i-- {
		l := strings.TrimSpace(src[i])
		if !strings.HasPrefix(l, "//") {
			return false
		}
		if strings.Contains(strings.ToLower(l), "about time") {
			return true
		}
	}
	return false
}

func isSel(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	if !ok || s.Sel.Name != name {
		return false
	}
	if pkg == "" {
		return true
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == pkg
}

// constDuration evaluates the duration a sleep is written with, when it is a constant
// (2 * time.Second, 1500 * time.Millisecond, time.Duration(3) * time.Second).
func constDuration(e ast.Expr) (time.Duration, bool) {
	units := map[string]time.Duration{"Nanosecond": time.Nanosecond, "Microsecond": time.Microsecond,
		"Millisecond": time.Millisecond, "Second": time.Second, "Minute": time.Minute, "Hour": time.Hour}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.INT {
			n, err := strconv.ParseInt(strings.ReplaceAll(e.Value, "_", ""), 0, 64)
			return time.Duration(n), err == nil
		}
	case *ast.SelectorExpr:
		if id, ok := e.X.(*ast.Ident); ok && id.Name == "time" {
			d, ok := units[e.Sel.Name]
			return d, ok
		}
	case *ast.ParenExpr:
		return constDuration(e.X)
	case *ast.CallExpr:
		if isSel(e.Fun, "time", "Duration") && len(e.Args) == 1 {
			return constDuration(e.Args[0])
		}
	case *ast.BinaryExpr:
		a, ok1 := constDuration(e.X)
		b, ok2 := constDuration(e.Y)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch e.Op {
		case token.MUL:
			return a * b, true
		case token.QUO:
			if b != 0 {
				return a / b, true
			}
		case token.ADD:
			return a + b, true
		case token.SUB:
			return a - b, true
		}
	}
	return 0, false
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
