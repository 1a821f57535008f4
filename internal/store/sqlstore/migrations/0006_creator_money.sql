-- Tips: bounds per country, like tickets'. Both zero: no tips sold there.
ALTER TABLE country_policies ADD COLUMN min_tip BIGINT NOT NULL DEFAULT 0;
ALTER TABLE country_policies ADD COLUMN max_tip BIGINT NOT NULL DEFAULT 0;

-- A checkout may be a gift (its entitlement goes to recipient_id), a tip (with a message),
-- and carry a promo code (discount is what it took off the list price, amount + discount).
ALTER TABLE checkouts ADD COLUMN recipient_id TEXT NOT NULL DEFAULT '';
ALTER TABLE checkouts ADD COLUMN message TEXT NOT NULL DEFAULT '';
ALTER TABLE checkouts ADD COLUMN promo_code_id TEXT NOT NULL DEFAULT '';
ALTER TABLE checkouts ADD COLUMN discount BIGINT NOT NULL DEFAULT 0;

-- Each ledger row's discount, and its value in US dollar cents at the rate of its day,
-- with the rate (a decimal, USD per major unit) and where it came from (stripe, table).
ALTER TABLE ledger ADD COLUMN discount BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN usd_gross BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN usd_net BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN usd_rate TEXT NOT NULL DEFAULT '';
ALTER TABLE ledger ADD COLUMN usd_rate_source TEXT NOT NULL DEFAULT '';
CREATE INDEX ledger_created ON ledger(created_at);

CREATE TABLE promo_codes (
	id               TEXT PRIMARY KEY,
	code             TEXT NOT NULL UNIQUE,
	creator_id       TEXT NOT NULL,
	stream_id        TEXT NOT NULL,
	percent_off      INTEGER NOT NULL,
	amount_off       BIGINT NOT NULL,
	currency         TEXT NOT NULL,
	expires_at       BIGINT,
	max_redemptions  INTEGER NOT NULL,
	-- reserved counts checkouts holding the code (open or completed): the cap is held
	-- there, by one conditional UPDATE; redeemed counts the completed ones.
	reserved         INTEGER NOT NULL,
	redeemed         INTEGER NOT NULL,
	stripe_coupon_id TEXT NOT NULL,
	created_by       TEXT NOT NULL,
	created_at       BIGINT NOT NULL
);
CREATE INDEX promo_codes_creator ON promo_codes(creator_id);

CREATE TABLE tips (
	id          TEXT PRIMARY KEY,
	checkout_id TEXT NOT NULL UNIQUE,
	stream_id   TEXT NOT NULL,
	creator_id  TEXT NOT NULL,
	viewer_id   TEXT NOT NULL,
	currency    TEXT NOT NULL,
	amount      BIGINT NOT NULL,
	message     TEXT NOT NULL,
	payment_intent TEXT NOT NULL,
	refunded    INTEGER NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE INDEX tips_stream ON tips(stream_id, created_at);

-- The platform fee a subscription's next invoices take, kept in step with the viewer's
-- country (a waiver ending) at each renewal.
CREATE TABLE subscription_fees (
	subscription_id TEXT PRIMARY KEY,
	checkout_id     TEXT NOT NULL,
	fee_bps         INTEGER NOT NULL,
	updated_at      BIGINT NOT NULL
);

-- Webhooks out to the embedding platform.
CREATE TABLE webhook_endpoints (
	id          TEXT PRIMARY KEY,
	url         TEXT NOT NULL,
	secret      TEXT NOT NULL,
	event_types TEXT NOT NULL,
	enabled     INTEGER NOT NULL,
	created_at  BIGINT NOT NULL
);
CREATE TABLE outbound_events (
	id         TEXT PRIMARY KEY,
	type       TEXT NOT NULL,
	payload    TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
	id              TEXT PRIMARY KEY,
	event_id        TEXT NOT NULL,
	endpoint_id     TEXT NOT NULL,
	state           TEXT NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at BIGINT NOT NULL,
	last_status     INTEGER NOT NULL,
	last_error      TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	delivered_at    BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_at);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries(event_id);

-- USD rates an operator configured (the --usd-rates file is the other source): a sale
-- takes the latest rate of its currency dated on or before its day.
CREATE TABLE usd_rates (
	currency TEXT NOT NULL,
	day      TEXT NOT NULL,
	rate     TEXT NOT NULL,
	PRIMARY KEY (currency, day)
);
