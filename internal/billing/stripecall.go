package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/livegate/livegate/internal/problem"
)

// Every call to Stripe has a budget, so that an API that stalls (or a network that drops
// packets) costs a buyer seconds, not stripe-go's 80 s a try times three, and a webhook
// answers within Stripe's own timeout. Budgets are deadlines on the call's context:
// stripe-go stops retrying when the context ends.
const (
	// buyerBudget is the default for a buyer's request: every Stripe call a checkout
	// makes (a product, a price, a coupon, the session) together.
	buyerBudget = 6 * time.Second
	// webhookBudget is what an incoming event may spend at Stripe before its answer:
	// Stripe waits some seconds for one, and retries an event that failed.
	webhookBudget = 4 * time.Second
	// operatorBudget bounds any other call (an operator's refund, a creator's
	// onboarding or price): stripeCall gives it to a call whose context has no deadline.
	operatorBudget = 20 * time.Second
	// paymentsRetryAfter is what a buyer is told to wait when Stripe did not answer.
	paymentsRetryAfter = 10 * time.Second
)

// withBuyerBudget is ctx with the time a buyer's request may spend at Stripe.
func (s *Service) withBuyerBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	budget := s.cfg.BuyerBudget
	if budget <= 0 {
		budget = buyerBudget
	}
	return context.WithTimeout(ctx, budget)
}

// ErrPaymentsUnavailable is Stripe not answering in time, or answering that it failed.
var ErrPaymentsUnavailable = &problem.Error{Status: http.StatusServiceUnavailable, Type: "payments-unavailable",
	Title: "Payments are unavailable", Msg: "the payment provider did not answer in time",
	Hint: "the payment provider did not answer in time: nothing was charged, try again shortly", RetryAfter: paymentsRetryAfter}

// stripeCall makes one call to Stripe under the context's deadline (the caller's budget)
// and accounts for its failure: a metric and a log line each. A timeout, a network
// error, a rate limit or a 5xx from Stripe wraps ErrPaymentsUnavailable; an error
// Stripe gave for the request itself (4xx) is returned as it is.
func (s *Service) stripeCall(ctx context.Context, op string, p *stripe.Params, call func() error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, operatorBudget)
		defer cancel()
	}
	p.Context = ctx
	start := time.Now()
	err := call()
	if err == nil {
		return nil
	}
	reason := "request"
	var se *stripe.Error
	switch {
	case errors.As(err, &se) && se.HTTPStatusCode != http.StatusTooManyRequests && se.HTTPStatusCode < 500:
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		reason = "timeout"
	default:
		reason = "unavailable"
	}
	s.cfg.Metrics.StripeFailures.WithLabelValues(op, reason).Inc()
	s.log.Warn("stripe call failed", "op", op, "reason", reason, "elapsed", time.Since(start).Round(time.Millisecond), "err", err)
	if reason == "request" {
		return err
	}
	return fmt.Errorf("%w: %s (%s after %v): %v", ErrPaymentsUnavailable, op, reason, time.Since(start).Round(time.Millisecond), err)
}
