// Package web holds livegate's pages, embedded and served as they are (no build step, nothing
// loaded from elsewhere): the catalog, the viewer page (access or the paywall, then WHEP in
// any modern browser), the creator's studio, the operator console, the development login
// and checkout pages, and i18n.js, every string the pages show in every language.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

//go:embed static/watch.html static/catalog.html static/studio.html static/admin.html static/i18n.js static/ice.js static/devlogin.html static/devcheckout.html
var files embed.FS

// Parsed once; html/template escapes what the handlers put in.
var pages = template.Must(template.ParseFS(files, "static/devlogin.html", "static/devcheckout.html"))

// DevLogin renders the development login page: data has Viewer and Token once minted.
func DevLogin(w http.ResponseWriter, data map[string]string) {
	render(w, "devlogin.html", data)
}

// DevCheckout renders a development checkout: data has ID, Title, Display, State.
func DevCheckout(w http.ResponseWriter, data map[string]string) {
	render(w, "devcheckout.html", data)
}

func render(w http.ResponseWriter, name string, data map[string]string) {
	w.Header().Set("Content-Security-Policy", policy{page: "static/" + name, connect: "'self'", framed: false}.String())
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, "page failed", http.StatusInternalServerError)
	}
}

// Catalog serves the catalog page: what is live and coming up.
func Catalog(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/catalog.html", "text/html; charset=utf-8", policy{page: "static/catalog.html", connect: "'self'", framed: true}.String())
}

// Studio serves the creator's studio.
func Studio(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/studio.html", "text/html; charset=utf-8", policy{page: "static/studio.html", connect: "'self'"}.String())
}

// Admin serves the operator console.
func Admin(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/admin.html", "text/html; charset=utf-8", policy{page: "static/admin.html", connect: "'self'"}.String())
}

// Strings serves the pages' strings (every language) as /static/i18n.js.
func Strings(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/i18n.js", "text/javascript; charset=utf-8", "")
}

// ICE serves the pages' ICE server lookup (the node's Link headers) as /static/ice.js.
func ICE(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/ice.js", "text/javascript; charset=utf-8", "")
}

func serve(w http.ResponseWriter, name, contentType, csp string) {
	b, err := files.ReadFile(name)
	if err != nil {
		http.Error(w, "page missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if csp != "" {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Referrer-Policy", "no-referrer")
	}
	_, _ = w.Write(b)
}

// policy is a page's Content-Security-Policy. Scripts run only from this node and as
// the page's own inline scripts, each allowed by its hash: a script injected into the
// page (an XSS that got past escaping) does not run. The studio and the console are
// never framed (clickjacking an operator's or creator's action); the viewer and catalog
// pages may be, since platforms embed players.
type policy struct {
	page    string // the embedded file, whose inline scripts are hashed
	connect string // where the page may connect: sources
	framed  bool
}

func (p policy) String() string {
	csp := "default-src 'self'; script-src 'self'" + scriptHashes[p.page] + "; style-src 'self' 'unsafe-inline'; media-src 'self' blob:; " +
		"img-src 'self' data:; connect-src " + p.connect + "; object-src 'none'; base-uri 'none'; form-action 'self'"
	if !p.framed {
		csp += "; frame-ancestors 'none'"
	}
	return csp
}

// inlineScript is a script element without attributes: a page's own code.
var inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// scriptHashes are the CSP sources of each page's inline scripts (' sha256-...' each).
var scriptHashes = func() map[string]string {
	out := map[string]string{}
	entries, _ := files.ReadDir("static")
	for _, e := range entries {
		name := "static/" + e.Name()
		b, _ := files.ReadFile(name)
		var srcs strings.Builder
		for _, m := range inlineScript.FindAllSubmatch(b, -1) {
			sum := sha256.Sum256(m[1])
			srcs.WriteString(" 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'")
		}
		out[name] = srcs.String()
	}
	return out
}()

// Watch serves the viewer page of /watch/{stream}. The page may connect to this node and
// to the origins in others (the fleet's other nodes, which it moves to when this one
// goes away).
func Watch(w http.ResponseWriter, r *http.Request, others []string) {
	connect := "'self'"
	for _, o := range others {
		if u, err := url.Parse(o); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			connect += " " + u.Scheme + "://" + u.Host
		}
	}
	serve(w, "static/watch.html", "text/html; charset=utf-8", policy{page: "static/watch.html", connect: connect, framed: true}.String())
}
