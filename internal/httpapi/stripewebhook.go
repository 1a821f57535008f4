package httpapi

// Stripe webhooks.

import (
	"io"
	"net/http"

	"github.com/livegate/livegate/internal/problem"
)

// stripeWebhook verifies and applies a Stripe event. A bad signature is the caller's fault
// (400); a failure to apply is ours (500) so that Stripe retries.
func (a *api) stripeWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		problem.Answer(w, r, problem.ErrBodyTooLarge)
		return
	}
	err = a.Billing.HandleWebhook(r.Context(), body, r.Header.Get("Stripe-Signature"))
	switch {
	case err != nil && problem.Answer(w, r, err): // a bad signature
	case err != nil:
		a.Logger.Error("webhook", "err", err)
		problem.Answer(w, r, problem.ErrInternal)
	default:
		writeJSON(w, http.StatusOK, map[string]bool{"received": true})
	}
}
