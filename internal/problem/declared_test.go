package problem

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Every problem type is declared once, as an Error, and answered through Answer: a slug
// declared twice (with two titles or statuses) or a problem document built by hand
// outside this package fails here, so a client that branches on a type gets one meaning.
func TestProblemTypesDeclaredOnce(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	declared := map[string][]string{}
	fset := token.NewFileSet()
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			inProblem := f.Name.Name == "problem"
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					switch typeName(n.Type, inProblem) {
					case "Error":
						slug, ok := fieldString(n, "Type")
						if !ok {
							t.Errorf("%s: a problem.Error whose Type is not a string literal", fset.Position(n.Pos()))
						}
						declared[slug] = append(declared[slug], fset.Position(n.Pos()).String())
					case "Details":
						if !inProblem {
							t.Errorf("%s: a problem document built by hand: declare a problem.Error and Answer it", fset.Position(n.Pos()))
						}
					}
				case *ast.BasicLit:
					if s, err := strconv.Unquote(n.Value); n.Kind == token.STRING && err == nil && strings.HasPrefix(s, "/problems/") && !inProblem {
						t.Errorf("%s: a problem type written inline: %q", fset.Position(n.Pos()), s)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(declared) < 40 {
		t.Fatalf("found %d declared problem types: is the walk looking in the right place (%s)?", len(declared), root)
	}
	for slug, at := range declared {
		if len(at) > 1 {
			t.Errorf("problem type %q is declared %d times: %s", slug, len(at), strings.Join(at, ", "))
		}
	}
}

// typeName is "Error" or "Details" for a composite literal of package problem's types.
func typeName(e ast.Expr, inProblem bool) string {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		if id, ok := e.X.(*ast.Ident); ok && id.Name == "problem" {
			return e.Sel.Name
		}
	case *ast.Ident:
		if inProblem {
			return e.Name
		}
	}
	return ""
}

func fieldString(lit *ast.CompositeLit, field string) (string, bool) {
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if k, ok := kv.Key.(*ast.Ident); ok && k.Name == field {
			if b, ok := kv.Value.(*ast.BasicLit); ok && b.Kind == token.STRING {
				s, err := strconv.Unquote(b.Value)
				return s, err == nil
			}
			return "", false
		}
	}
	return "", false
}
