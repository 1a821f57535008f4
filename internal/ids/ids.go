// Package ids makes the random identifiers livegate hands out: prefixed, readable ids of
// durable records ("str_…") and bare ones of short-lived things (sessions, peers).
package ids

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// New returns a random, URL-safe identifier with a readable prefix, e.g. "str_...": 120
// random bits.
func New(prefix string) string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms (it panics)
	return prefix + "_" + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// Session returns a bare random identifier of 96 bits, 24 hex characters, for sessions
// and peers.
func Session() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
