// Package problem writes errors as RFC 9457 application/problem+json with a stable type
// per kind of failure, so clients branch on the type, never on the prose.
package problem

import (
	"encoding/json"
	"errors"
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

// Error is a sentinel error that says how an HTTP API answers it. Each package declares
// its errors once with their status and type (sfu.ErrNoCodec is 400 "unsupported-codec"),
// and every handler answers an error wrapping one of them with Answer: the mapping from
// errors to problems is the list of these declarations, not a switch per handler.
type Error struct {
	Status int
	Type   string // the slug, e.g. "stream-not-live"
	Title  string
	Msg    string // the error text (Error())
	// Hint, when set, is the detail instead of the error text: what the caller can do.
	Hint string
	// RetryAfter, when set, is sent as Retry-After.
	RetryAfter time.Duration
	// Challenge, when set, is sent as WWW-Authenticate.
	Challenge string
}

func (e *Error) Error() string { return e.Msg }

// Answer writes the problem of the first Error in err's chain and reports whether there
// was one; the detail is err's text (with its context), or the Error's Hint.
func Answer(w http.ResponseWriter, r *http.Request, err error) bool {
	var pe *Error
	if !errors.As(err, &pe) {
		return false
	}
	if pe.RetryAfter > 0 {
		RetryAfter(w, pe.RetryAfter)
	}
	if pe.Challenge != "" {
		w.Header().Set("WWW-Authenticate", pe.Challenge)
	}
	detail := err.Error()
	if pe.Hint != "" {
		detail = pe.Hint
	}
	Write(w, r, pe.Status, pe.Type, pe.Title, detail)
	return true
}
