package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"

	"github.com/livegate/livegate/internal/countries"
	"github.com/livegate/livegate/internal/money"
	"github.com/livegate/livegate/internal/problem"
	"github.com/livegate/livegate/internal/store"
)

// Errors of promo codes.
var (
	ErrPromoExhausted = &problem.Error{Status: http.StatusConflict, Type: "promo-code-exhausted", Title: "Promo code used up",
		Msg: "promo code has no redemptions left"}
	ErrPromoInvalid = &problem.Error{Status: http.StatusUnprocessableEntity, Type: "promo-code-invalid", Title: "Promo code does not apply",
		Msg: "promo code does not apply"}
	ErrPromoTaken = &problem.Error{Status: http.StatusConflict, Type: "promo-code-taken", Title: "Promo code already exists",
		Msg: "a promo code with this code exists"}
)

var promoCodeRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_-]{2,31}$`)

// PromoSpec is a promo code as a creator or operator asks for it.
type PromoSpec struct {
	Code           string
	CreatorID      string
	StreamID       string // empty: every ticket of the creator
	PercentOff     int
	AmountOff      int64
	Currency       string // with AmountOff
	ExpiresAt      time.Time
	MaxRedemptions int
	Actor          string
}

// CreatePromoCode validates and saves a promo code, and makes its Stripe coupon and
// promotion code where the platform uses Stripe.
func (s *Service) CreatePromoCode(ctx context.Context, sp PromoSpec) (store.PromoCode, error) {
	code := strings.ToUpper(strings.TrimSpace(sp.Code))
	field := func(f, reason string) (store.PromoCode, error) {
		return store.PromoCode{}, &countries.FieldError{Field: f, Reason: reason}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	switch {
	case !promoCodeRE.MatchString(code):
		return field("code", "3 to 32 letters, digits, - or _")
	case (sp.PercentOff == 0) == (sp.AmountOff == 0):
		return field("percent_off", "give either percent_off (1 to 99) or amount_off with a currency")
	case sp.PercentOff < 0 || sp.PercentOff > 99:
		return field("percent_off", "must be 1 to 99: a sale is never free")
	case sp.AmountOff < 0:
		return field("amount_off", "must be positive")
	case sp.MaxRedemptions < 1 || sp.MaxRedemptions > 1_000_000:
		return field("max_redemptions", "must be 1 to 1000000")
	case !sp.ExpiresAt.IsZero() && !sp.ExpiresAt.After(now):
		return field("expires_at", "is in the past")
	}
	if sp.AmountOff > 0 {
		cur, ok := money.Lookup(sp.Currency)
		if !ok || cur.Code != sp.Currency {
			return field("currency", "an amount_off needs its ISO 4217 currency (upper case)")
		}
		if err := cur.CheckAmount(sp.AmountOff); err != nil {
			return field("amount_off", err.Error())
		}
	} else if sp.Currency != "" {
		return field("currency", "only an amount_off has a currency")
	}
	if _, err := s.st.Creator(ctx, sp.CreatorID); err != nil {
		return store.PromoCode{}, err
	}
	if sp.StreamID != "" {
		st, err := s.st.Stream(ctx, sp.StreamID)
		if err != nil {
			return store.PromoCode{}, err
		}
		if st.CreatorID != sp.CreatorID {
			return field("stream_id", "is another creator's stream")
		}
		if st.AccessMode != store.AccessTicket {
			return field("stream_id", "promo codes apply to ticket streams")
		}
	}
	p := store.PromoCode{ID: store.NewID("promo"), Code: code, CreatorID: sp.CreatorID, StreamID: sp.StreamID, PercentOff: sp.PercentOff,
		AmountOff: sp.AmountOff, Currency: sp.Currency, ExpiresAt: sp.ExpiresAt.UTC(), MaxRedemptions: sp.MaxRedemptions,
		CreatedBy: sp.Actor, CreatedAt: now}
	if _, err := s.st.PromoCodeByCode(ctx, code); err == nil {
		return store.PromoCode{}, fmt.Errorf("%w: %s", ErrPromoTaken, code)
	}
	if !s.DevMode() {
		if err := s.stripePromo(ctx, &p); err != nil {
			return store.PromoCode{}, err
		}
	}
	if err := s.st.CreatePromoCode(ctx, p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.PromoCode{}, fmt.Errorf("%w: %s", ErrPromoTaken, code)
		}
		return store.PromoCode{}, err
	}
	s.log.Info("promo code created", "code", p.Code, "creator", p.CreatorID, "stream", p.StreamID, "cap", p.MaxRedemptions, "actor", sp.Actor)
	return p, nil
}

// stripePromo makes the code's coupon at Stripe: Checkout takes the discount off with
// it, and Stripe keeps its own count under the same cap. livegate applies the code
// itself (the viewer gives it to livegate, which holds the cap at checkout), so the
// session carries the coupon and no promotion code object is needed: Stripe's hosted
// page never asks for a code.
func (s *Service) stripePromo(ctx context.Context, p *store.PromoCode) error {
	md := map[string]string{"livegate_promo": p.ID, "livegate_creator": p.CreatorID, "livegate_code": p.Code}
	cp := &stripe.CouponParams{Duration: stripe.String(string(stripe.CouponDurationOnce)), Name: stripe.String(p.Code),
		MaxRedemptions: stripe.Int64(int64(p.MaxRedemptions)), Metadata: md}
	if p.PercentOff > 0 {
		cp.PercentOff = stripe.Float64(float64(p.PercentOff))
	} else {
		cp.AmountOff, cp.Currency = stripe.Int64(p.AmountOff), stripe.String(strings.ToLower(p.Currency))
	}
	if !p.ExpiresAt.IsZero() {
		cp.RedeemBy = stripe.Int64(p.ExpiresAt.Unix())
	}
	cp.SetIdempotencyKey("coupon-" + p.ID)
	var c *stripe.Coupon
	if err := s.stripeCall(ctx, "coupon", &cp.Params, func() (err error) {
		c, err = s.sc.Coupons.New(cp)
		return err
	}); err != nil {
		return fmt.Errorf("stripe coupon: %w", err)
	}
	p.StripeCouponID = c.ID
	return nil
}

// applicablePromo finds code and checks it applies to a ticket of st at off.
func (s *Service) applicablePromo(ctx context.Context, code string, st store.Stream, off Offer) (store.PromoCode, error) {
	p, err := s.st.PromoCodeByCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return p, fmt.Errorf("%w: no promo code %s", ErrPromoInvalid, strings.ToUpper(code))
	}
	if err != nil {
		return p, err
	}
	switch {
	case p.CreatorID != st.CreatorID || (p.StreamID != "" && p.StreamID != st.ID):
		return p, fmt.Errorf("%w: %s is not for this stream", ErrPromoInvalid, p.Code)
	case !p.ExpiresAt.IsZero() && !time.Now().Before(p.ExpiresAt):
		return p, fmt.Errorf("%w: %s expired at %s", ErrPromoInvalid, p.Code, p.ExpiresAt.Format(time.RFC3339))
	case p.AmountOff > 0 && p.Currency != off.Currency:
		return p, fmt.Errorf("%w: %s takes %s off, and this ticket is sold in %s", ErrPromoInvalid, p.Code, p.Currency, off.Currency)
	case p.Reserved >= p.MaxRedemptions:
		return p, fmt.Errorf("%w: %s has no redemptions left", ErrPromoExhausted, p.Code)
	}
	return p, nil
}

// PromoCodes lists a creator's promo codes (all of them for an empty creatorID).
func (s *Service) PromoCodes(ctx context.Context, creatorID string) ([]store.PromoCode, error) {
	return s.st.PromoCodes(ctx, creatorID)
}
