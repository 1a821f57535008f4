// Package web holds livegate's pages, embedded and served as they are (no build step, nothing
// loaded from elsewhere): the catalog, the viewer page (access or the paywall, then WHEP in
// any modern browser), the creator's studio, the operator console, the development login
// and checkout pages, and i18n.js, every string the pages show in every language.
package web

import (
	"embed"
	"html/template"
	"net/http"
	"net/url"
)

//go:embed static/watch.html static/catalog.html static/studio.html static/admin.html static/i18n.js static/devlogin.html static/devcheckout.html
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
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, "page failed", http.StatusInternalServerError)
	}
}

// Catalog serves the catalog page: what is live and coming up.
func Catalog(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/catalog.html", "text/html; charset=utf-8", pageCSP("'self'"))
}

// Studio serves the creator's studio.
func Studio(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/studio.html", "text/html; charset=utf-8", pageCSP("'self'"))
}

// Admin serves the operator console.
func Admin(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/admin.html", "text/html; charset=utf-8", pageCSP("'self'"))
}

// Strings serves the pages' strings (every language) as /static/i18n.js.
func Strings(w http.ResponseWriter, r *http.Request) {
	serve(w, "static/i18n.js", "text/javascript; charset=utf-8", "")
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
	}
	_, _ = w.Write(b)
}

// pageCSP lets a page run its own inline script and livegate's strings, and connect to
// connect (sources) only.
func pageCSP(connect string) string {
	return "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; media-src 'self' blob:; img-src 'self' data:; connect-src " + connect
}

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
	serve(w, "static/watch.html", "text/html; charset=utf-8", pageCSP(connect))
}
