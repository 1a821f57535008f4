package web

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// stringTables reads i18n.js's tables: language → keys, in the order written.
func stringTables(t *testing.T) map[string][]string {
	t.Helper()
	b, err := files.ReadFile("static/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	lang := regexp.MustCompile(`^  ([a-z]{2}): \{$`)
	entry := regexp.MustCompile(`^    "([^"]+)": "(?:[^"\\]|\\.)*",$`)
	tables := map[string][]string{}
	current := ""
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case lang.MatchString(line):
			current = lang.FindStringSubmatch(line)[1]
		case line == "  },":
			current = ""
		case current != "":
			m := entry.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("i18n.js, table %s: a line that is not \"key\": \"string\": %q", current, line)
			}
			tables[current] = append(tables[current], m[1])
		}
	}
	return tables
}

// Every language a page offers has every string: a translation that lacks one shows
// English in the middle of French or Arabic.
func TestEveryLanguageHasEveryString(t *testing.T) {
	tables := stringTables(t)
	for _, l := range []string{"en", "fr", "ar"} {
		if len(tables[l]) == 0 {
			t.Fatalf("no %s table in i18n.js", l)
		}
	}
	en := tables["en"]
	for l, keys := range tables {
		for _, k := range en {
			if !slices.Contains(keys, k) {
				t.Errorf("%s lacks %q", l, k)
			}
		}
		for _, k := range keys {
			if !slices.Contains(en, k) {
				t.Errorf("%s has %q, which English does not", l, k)
			}
		}
	}
}

// Every string a page names is in the tables (a key with a variable part, such as
// "studio.state." + state, must have its prefix in them).
func TestPagesNameOnlyStringsThatExist(t *testing.T) {
	en := stringTables(t)["en"]
	used := regexp.MustCompile(`data-i18n(?:-label)?="([^"]+)"|\bt(?:Or)?\("([a-zA-Z.-]+)"`)
	pages, _ := fs.Glob(files, "static/*.html")
	for _, p := range pages {
		b, _ := files.ReadFile(p)
		for _, m := range used.FindAllStringSubmatch(string(b), -1) {
			key := m[1] + m[2]
			found := slices.Contains(en, key)
			if strings.HasSuffix(key, ".") {
				found = slices.ContainsFunc(en, func(k string) bool { return strings.HasPrefix(k, key) })
			}
			if !found {
				t.Errorf("%s names %q, which i18n.js does not have", p, key)
			}
		}
	}
}
