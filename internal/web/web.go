// Package web serves livegate's pages: for now the viewer page, which asks for access
// (or shows the paywall) and plays the stream over WHEP in any modern browser.
package web

import (
	"embed"
	"net/http"
)

//go:embed static/watch.html
var files embed.FS

// Watch serves the viewer page of /watch/{stream}.
func Watch(w http.ResponseWriter, r *http.Request) {
	page, err := files.ReadFile("static/watch.html")
	if err != nil {
		http.Error(w, "page missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; media-src 'self' blob:; connect-src 'self'")
	_, _ = w.Write(page)
}
