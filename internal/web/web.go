// Package web holds livegate's pages: the viewer page, which asks for access (or shows the
// paywall) and plays the stream over WHEP in any modern browser, and the development
// login and checkout pages.
package web

import (
	"embed"
	"html/template"
	"net/http"
	"net/url"
)

//go:embed static/watch.html static/devlogin.html static/devcheckout.html
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

// Watch serves the viewer page of /watch/{stream}. The page may connect to this node and
// to the origins in others (the fleet's other nodes, which it moves to when this one
// goes away).
func Watch(w http.ResponseWriter, r *http.Request, others []string) {
	page, err := files.ReadFile("static/watch.html")
	if err != nil {
		http.Error(w, "page missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	connect := "'self'"
	for _, o := range others {
		if u, err := url.Parse(o); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			connect += " " + u.Scheme + "://" + u.Host
		}
	}
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; media-src 'self' blob:; connect-src "+connect)
	_, _ = w.Write(page)
}
