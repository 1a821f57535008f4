package whip

import (
	"net/http"

	"github.com/livegate/livegate/internal/problem"
)

// The problems WHIP and WHEP answer of their own; the shared ones are package problem's,
// the media ones package sfu's.
var (
	errBadMaxLayer        = &problem.Error{Status: http.StatusBadRequest, Type: "bad-max-layer", Title: "Unknown layer", Msg: "unknown layer"}
	errBadStreamKey       = &problem.Error{Status: http.StatusUnauthorized, Type: "bad-stream-key", Title: "Stream key rejected", Msg: "stream key rejected"}
	errBadSDPFrag         = &problem.Error{Status: http.StatusBadRequest, Type: "bad-sdpfrag", Title: "Malformed SDP fragment", Msg: "malformed SDP fragment"}
	errTooManyPatches     = &problem.Error{Status: http.StatusTooManyRequests, Type: "too-many-patches", Title: "Too many PATCH requests", Msg: "too many PATCH requests"}
	errIfMatchRequired    = &problem.Error{Status: http.StatusPreconditionRequired, Type: "if-match-required", Title: "ICE restart needs If-Match: *", Msg: "ICE restart needs If-Match: *"}
	errETagMismatch       = &problem.Error{Status: http.StatusPreconditionFailed, Type: "etag-mismatch", Title: "Session has changed", Msg: "session has changed"}
	errBadCandidate       = &problem.Error{Status: http.StatusBadRequest, Type: "bad-candidate", Title: "Candidate rejected", Msg: "candidate rejected"}
	errBadBody            = &problem.Error{Status: http.StatusBadRequest, Type: "bad-body", Title: "Unreadable request body", Msg: "unreadable request body"}
	errNegotiationTimeout = &problem.Error{Status: http.StatusServiceUnavailable, Type: "timeout", Title: "Negotiation timed out", Msg: "negotiation timed out"}
)
