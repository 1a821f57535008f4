ALTER TABLE creators ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE creators ADD COLUMN stripe_account_id TEXT NOT NULL DEFAULT '';
ALTER TABLE creators ADD COLUMN charges_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE creators ADD COLUMN payouts_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE creators ADD COLUMN stripe_product_id TEXT NOT NULL DEFAULT '';
CREATE INDEX creators_stripe_account ON creators(stripe_account_id);

CREATE TABLE country_policies (
	code             TEXT PRIMARY KEY,
	enabled          INTEGER NOT NULL,
	launch_at        BIGINT,
	currency         TEXT NOT NULL,
	min_ticket       BIGINT NOT NULL,
	max_ticket       BIGINT NOT NULL,
	min_sub          BIGINT NOT NULL,
	max_sub          BIGINT NOT NULL,
	fee_bps          INTEGER NOT NULL,
	fee_waived_until BIGINT,
	payouts          TEXT NOT NULL,
	updated_at       BIGINT NOT NULL
);

CREATE TABLE audit_log (
	id     TEXT PRIMARY KEY,
	object TEXT NOT NULL,
	actor  TEXT NOT NULL,
	at     BIGINT NOT NULL,
	before_json TEXT NOT NULL,
	after_json  TEXT NOT NULL
);
CREATE INDEX audit_log_object ON audit_log(object, at);

CREATE TABLE stream_prices (
	stream_id TEXT NOT NULL REFERENCES streams(id),
	currency  TEXT NOT NULL,
	amount    BIGINT NOT NULL,
	PRIMARY KEY (stream_id, currency)
);

CREATE TABLE subscription_prices (
	creator_id      TEXT NOT NULL REFERENCES creators(id),
	currency        TEXT NOT NULL,
	amount          BIGINT NOT NULL,
	stripe_price_id TEXT NOT NULL,
	PRIMARY KEY (creator_id, currency)
);

CREATE TABLE checkouts (
	id                TEXT PRIMARY KEY,
	stripe_session_id TEXT NOT NULL,
	viewer_id         TEXT NOT NULL,
	kind              TEXT NOT NULL,
	stream_id         TEXT NOT NULL,
	creator_id        TEXT NOT NULL,
	country           TEXT NOT NULL,
	currency          TEXT NOT NULL,
	amount            BIGINT NOT NULL,
	fee_bps           INTEGER NOT NULL,
	fee               BIGINT NOT NULL,
	payouts           TEXT NOT NULL,
	state             TEXT NOT NULL,
	url               TEXT NOT NULL,
	created_at        BIGINT NOT NULL
);

CREATE TABLE entitlements (
	id             TEXT PRIMARY KEY,
	viewer_id      TEXT NOT NULL,
	kind           TEXT NOT NULL,
	stream_id      TEXT NOT NULL,
	creator_id     TEXT NOT NULL,
	source         TEXT NOT NULL UNIQUE,
	state          TEXT NOT NULL,
	revoked_reason TEXT NOT NULL,
	expires_at     BIGINT,
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL
);
CREATE INDEX entitlements_viewer ON entitlements(viewer_id, state);
CREATE INDEX entitlements_stream ON entitlements(stream_id);

CREATE TABLE ledger (
	id             TEXT PRIMARY KEY,
	kind           TEXT NOT NULL,
	creator_id     TEXT NOT NULL,
	stream_id      TEXT NOT NULL,
	viewer_id      TEXT NOT NULL,
	country        TEXT NOT NULL,
	currency       TEXT NOT NULL,
	gross          BIGINT NOT NULL,
	fee            BIGINT NOT NULL,
	net            BIGINT NOT NULL,
	payouts        TEXT NOT NULL,
	stripe_event_id TEXT NOT NULL,
	stripe_object  TEXT NOT NULL,
	payment_intent TEXT NOT NULL,
	created_at     BIGINT NOT NULL,
	UNIQUE (kind, stripe_object)
);
CREATE INDEX ledger_creator ON ledger(creator_id, created_at);
CREATE INDEX ledger_payment_intent ON ledger(payment_intent);

CREATE TABLE pending_refunds (
	payment_intent TEXT NOT NULL,
	refund_id      TEXT NOT NULL,
	amount         BIGINT NOT NULL,
	event_id       TEXT NOT NULL,
	at             BIGINT NOT NULL,
	PRIMARY KEY (payment_intent, refund_id)
);

CREATE TABLE stripe_events (
	id           TEXT PRIMARY KEY,
	type         TEXT NOT NULL,
	processed_at BIGINT NOT NULL
);
