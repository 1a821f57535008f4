-- The access a sale paid for (the entitlement's source: the payment intent of a ticket,
-- the subscription of a subscription's invoice), so that a refund or a lost dispute of
-- any sale ends the access it bought.
ALTER TABLE ledger ADD COLUMN access_source TEXT NOT NULL DEFAULT '';

-- Transfers the operator made to creators paid out manually: what the manual payout
-- statement subtracts from what a creator earned. A reference (the bank transfer's) is
-- recorded once per creator.
CREATE TABLE payouts (
	id          TEXT PRIMARY KEY,
	creator_id  TEXT NOT NULL,
	currency    TEXT NOT NULL,
	amount      BIGINT NOT NULL,
	reference   TEXT NOT NULL,
	paid_at     BIGINT NOT NULL,
	recorded_by TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	UNIQUE (creator_id, reference)
);
CREATE INDEX payouts_creator ON payouts(creator_id, paid_at);

-- Operators' bans: a viewer kept out of one stream, one creator's streams, or all, until
-- a time. /access and every WHEP join on every node read them.
CREATE TABLE bans (
	id         TEXT PRIMARY KEY,
	viewer_id  TEXT NOT NULL,
	stream_id  TEXT NOT NULL,
	creator_id TEXT NOT NULL,
	until_at   BIGINT NOT NULL,
	reason     TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	lifted_at  BIGINT
);
CREATE INDEX bans_viewer ON bans(viewer_id, until_at);
