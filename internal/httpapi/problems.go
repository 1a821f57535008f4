package httpapi

import (
	"net/http"

	"github.com/livegate/livegate/internal/problem"
)

// The problems the API answers of its own; the shared ones are package problem's, and
// the packages behind the API declare theirs (billing's, access's, paywall's).
var (
	errUnauthorized        = &problem.Error{Status: http.StatusUnauthorized, Type: "unauthorized", Title: "API key required", Msg: "API key required"}
	errForbidden           = &problem.Error{Status: http.StatusForbidden, Type: "forbidden", Title: "Not allowed", Msg: "not allowed"}
	errConflict            = &problem.Error{Status: http.StatusConflict, Type: "conflict", Title: "Conflict", Msg: "conflict"}
	errInvalidField        = &problem.Error{Status: http.StatusUnprocessableEntity, Type: "invalid-field", Title: "Invalid field", Msg: "invalid field"}
	errInvalidQuery        = &problem.Error{Status: http.StatusBadRequest, Type: "invalid-query", Title: "Invalid query parameter", Msg: "invalid query parameter"}
	errUnknownCountry      = &problem.Error{Status: http.StatusNotFound, Type: "unknown-country", Title: "Unknown country", Msg: "unknown country"}
	errPaymentRequired     = &problem.Error{Status: http.StatusPaymentRequired, Type: "payment-required", Title: "Payment required", Msg: "payment required"}
	errCheckoutNotFound    = &problem.Error{Status: http.StatusNotFound, Type: "checkout-not-found", Title: "No such checkout", Msg: "no such checkout"}
	errStreamNotEnded      = &problem.Error{Status: http.StatusConflict, Type: "stream-not-ended", Title: "Replay opens when the stream ends", Msg: "the stream has not ended"}
	errReplayExpired       = &problem.Error{Status: http.StatusGone, Type: "replay-expired", Title: "Replay window over", Msg: "replay window over"}
	errNoRecording         = &problem.Error{Status: http.StatusNotFound, Type: "no-recording", Title: "No recording", Msg: "no recording"}
	errRecordingInProgress = &problem.Error{Status: http.StatusConflict, Type: "recording-in-progress", Title: "Recording in progress", Msg: "recording in progress"}
	errRefundsIncomplete   = &problem.Error{Status: http.StatusBadGateway, Type: "refunds-incomplete", Title: "Some refunds failed", Msg: "some refunds failed"}
	errCannotMint          = &problem.Error{Status: http.StatusConflict, Type: "cannot-mint", Title: "Cannot mint tokens", Msg: "cannot mint tokens"}
)

// notFound is the 404 of each kind of resource storeError is asked about; a kind not
// listed answers the generic not-found.
var notFound = map[string]*problem.Error{
	"stream":      problem.ErrStreamNotFound,
	"creator":     &problem.Error{Status: http.StatusNotFound, Type: "creator-not-found", Title: "No such creator", Msg: "no such creator"},
	"country":     &problem.Error{Status: http.StatusNotFound, Type: "country-not-found", Title: "No such country policy", Msg: "no such country policy"},
	"ban":         &problem.Error{Status: http.StatusNotFound, Type: "ban-not-found", Title: "No such ban", Msg: "no such ban"},
	"bans":        &problem.Error{Status: http.StatusNotFound, Type: "bans-not-found", Title: "No such bans", Msg: "no such bans"},
	"checkout":    errCheckoutNotFound,
	"delivery":    &problem.Error{Status: http.StatusNotFound, Type: "delivery-not-found", Title: "No such delivery", Msg: "no such delivery"},
	"entitlement": &problem.Error{Status: http.StatusNotFound, Type: "entitlement-not-found", Title: "No such entitlement", Msg: "no such entitlement"},
	"payouts":     &problem.Error{Status: http.StatusNotFound, Type: "payouts-not-found", Title: "No such payout", Msg: "no such payout"},
	"recording":   &problem.Error{Status: http.StatusNotFound, Type: "recording-not-found", Title: "No such recording", Msg: "no such recording"},
	"audit":       &problem.Error{Status: http.StatusNotFound, Type: "audit-not-found", Title: "No such audit", Msg: "no such audit"},
	"resource":    &problem.Error{Status: http.StatusNotFound, Type: "resource-not-found", Title: "Not found", Msg: "not found"},
}

// errBanNotFound is the ban-not-found declared in notFound, for the handler that answers
// it without the store.
var errBanNotFound = notFound["ban"]
