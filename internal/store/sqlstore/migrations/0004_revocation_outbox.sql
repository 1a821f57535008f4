-- Revocations waiting to reach every node: written in the transaction that revokes the
-- entitlement, delivered to the session store's fan-out until it lands.
CREATE TABLE revocation_outbox (
	id             TEXT PRIMARY KEY,
	entitlement_id TEXT NOT NULL,
	reason         TEXT NOT NULL,
	created_at     BIGINT NOT NULL,
	delivered_at   BIGINT
);
CREATE INDEX revocation_outbox_pending ON revocation_outbox(created_at) WHERE delivered_at IS NULL;
CREATE INDEX entitlements_revoked ON entitlements(state, updated_at);
