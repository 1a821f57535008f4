-- The access a sale paid for (the entitlement's source: the payment intent of a ticket,
-- the subscription of a subscription's invoice), so that a refund or a lost dispute of
-- any sale ends the access it bought.
ALTER TABLE ledger ADD COLUMN access_source TEXT NOT NULL DEFAULT '';
