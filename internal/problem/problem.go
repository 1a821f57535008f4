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

// typeURI builds the problem type URI of a slug such as "stream-not-live".
func typeURI(slug string) string { return "/problems/" + slug }

// writeDetails sends d as the response. Only Answer calls it: every problem a handler
// answers is a declared Error (a test keeps it so).
func writeDetails(w http.ResponseWriter, r *http.Request, d Details) {
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

// Occurrence is one time a declared Error happens: what happened this time, and what a
// client may act on (the field at fault, where to buy and for how much).
type Occurrence struct {
	kind     *Error
	detail   string
	field    string
	checkout any
	price    any
}

// With is e this time, with detail as the problem's detail.
func (e *Error) With(detail string) *Occurrence { return &Occurrence{kind: e, detail: detail} }

// Field is e this time, blaming a request field.
func (e *Error) Field(field, detail string) *Occurrence {
	return &Occurrence{kind: e, detail: detail, field: field}
}

// Offer adds where to buy and for how much (payment-required problems).
func (o *Occurrence) Offer(checkout, price any) *Occurrence {
	o.checkout, o.price = checkout, price
	return o
}

func (o *Occurrence) Error() string {
	if o.detail == "" {
		return o.kind.Msg
	}
	return o.kind.Msg + ": " + o.detail
}

func (o *Occurrence) Unwrap() error { return o.kind }

// Answer writes the problem of the first Error in err's chain and reports whether there
// was one. The detail is an Occurrence's own, or the Error's Hint, or err's text (with its
// context).
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
	d := Details{Type: typeURI(pe.Type), Title: pe.Title, Status: pe.Status, Detail: err.Error()}
	if pe.Hint != "" {
		d.Detail = pe.Hint
	}
	var o *Occurrence
	if errors.As(err, &o) && o.kind == pe {
		d.Detail, d.Field, d.Checkout, d.Price = o.detail, o.field, o.checkout, o.price
	}
	writeDetails(w, r, d)
	return true
}

// Answers that more than one package gives, declared here once.
var (
	ErrInternal       = &Error{Status: http.StatusInternalServerError, Type: "internal", Title: "Internal error", Msg: "internal error"}
	ErrBodyTooLarge   = &Error{Status: http.StatusRequestEntityTooLarge, Type: "body-too-large", Title: "Request body too large", Msg: "request body too large"}
	ErrMediaType      = &Error{Status: http.StatusUnsupportedMediaType, Type: "unsupported-media-type", Title: "Unsupported media type", Msg: "unsupported media type"}
	ErrNotFound       = &Error{Status: http.StatusNotFound, Type: "not-found", Title: "Not found", Msg: "not found"}
	ErrMethod         = &Error{Status: http.StatusMethodNotAllowed, Type: "method-not-allowed", Title: "Method not allowed", Msg: "method not allowed"}
	ErrBadJSON        = &Error{Status: http.StatusBadRequest, Type: "bad-json", Title: "Malformed JSON", Msg: "malformed JSON"}
	ErrStreamEnded    = &Error{Status: http.StatusConflict, Type: "stream-ended", Title: "Stream has ended", Msg: "stream has ended"}
	ErrStreamNotLive  = &Error{Status: http.StatusConflict, Type: "stream-not-live", Title: "Stream is not live", Msg: "stream is not live"}
	ErrStreamNotFound = &Error{Status: http.StatusNotFound, Type: "stream-not-found", Title: "No such stream", Msg: "no such stream"}
	ErrSessionMissing = &Error{Status: http.StatusNotFound, Type: "session-not-found", Title: "No such session", Msg: "no such session"}
	// ErrUnavailable is a dependency that is down (the session store, the fleet's
	// registry): retry shortly.
	ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Type: "sessions-unavailable", Title: "Temporarily unavailable",
		Msg: "temporarily unavailable", Hint: "retry shortly", RetryAfter: 5 * time.Second}
)
