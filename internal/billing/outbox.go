package billing

import (
	"context"
	"time"
)

// Outbox timing: a pending revocation is retried from outboxRetryMin, doubling to
// outboxRetryMax while delivery fails, so it lands within outboxRetryMax of the session
// store answering again. outboxPoll picks up revocations queued by other nodes' webhooks
// whose delivery never happened (their node died right after commit).
const (
	outboxRetryMin = 100 * time.Millisecond
	outboxRetryMax = time.Second
	outboxPoll     = 2 * time.Second
	outboxBatch    = 100
)

func (s *Service) wakeOutbox() {
	select {
	case s.outboxWake <- struct{}{}:
	default: // already nudged
	}
}

// RunOutbox delivers queued revocations with Config.Deliver until ctx ends: at once after
// the commit that queued them, then retried until each one lands. Every node of a fleet
// runs it; a revocation delivered twice drops nothing twice.
func (s *Service) RunOutbox(ctx context.Context) {
	retry := outboxRetryMin
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.outboxWake:
		case <-timer.C:
		}
		if s.deliverPending(ctx) {
			retry = outboxRetryMin
			resetTimer(timer, outboxPoll)
		} else {
			resetTimer(timer, retry)
			retry = min(2*retry, outboxRetryMax)
		}
	}
}

// deliverPending sends every pending revocation once; false if any could not be sent.
func (s *Service) deliverPending(ctx context.Context) bool {
	pending, err := s.st.PendingRevocations(ctx, outboxBatch)
	if err != nil {
		s.log.Warn("read revocation outbox", "err", err)
		return false
	}
	for _, r := range pending {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.cfg.Deliver(dctx, r)
		cancel()
		if err != nil {
			s.log.Warn("deliver revocation; will retry", "entitlement", r.EntitlementID, "queued", r.CreatedAt, "err", err)
			s.cfg.Metrics.RevocationRetries.Inc()
			return false
		}
		if err := s.st.RevocationDelivered(ctx, r.ID, time.Now()); err != nil {
			s.log.Warn("mark revocation delivered", "entitlement", r.EntitlementID, "err", err)
			return false
		}
		s.cfg.Metrics.RevocationsDelivered.Inc()
		s.log.Info("revocation delivered", "entitlement", r.EntitlementID, "after", time.Since(r.CreatedAt).String())
	}
	if len(pending) == outboxBatch {
		s.wakeOutbox() // more behind these
	}
	return true
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}
