// Package problem writes errors as RFC 9457 application/problem+json with a stable type
// per kind of failure, so clients branch on the type, never on the prose.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Details is one problem document.
type Details struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Field names the request field at fault, when there is one.
	Field string `json:"field,omitempty"`
	// Checkout and Price extend payment-required problems: where to buy, for how much.
	Checkout any `json:"checkout,omitempty"`
	Price    any `json:"price,omitempty"`
}

// Type builds the problem type URI of a slug such as "stream-not-live".
func Type(slug string) string { return "/problems/" + slug }

// Write sends a problem document. slug names the type; title is short and fixed per type;
// detail says what happened this time.
func Write(w http.ResponseWriter, r *http.Request, status int, slug, title, detail string) {
	WriteDetails(w, r, Details{Type: Type(slug), Title: title, Status: status, Detail: detail})
}

// WriteDetails sends d as the response.
func WriteDetails(w http.ResponseWriter, r *http.Request, d Details) {
	if d.Instance == "" && r != nil {
		d.Instance = r.URL.Path
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(d.Status)
	_ = json.NewEncoder(w).Encode(d)
}

// RetryAfter sets Retry-After to the given delay, rounded up to whole seconds.
func RetryAfter(w http.ResponseWriter, d time.Duration) {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(s))
}

// Unavailable answers 503 for a dependency that is down (the session store), with
// Retry-After, under one stable type.
func Unavailable(w http.ResponseWriter, r *http.Request, title string) {
	RetryAfter(w, 5*time.Second)
	Write(w, r, http.StatusServiceUnavailable, "sessions-unavailable", title, "retry shortly")
}
