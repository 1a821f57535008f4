CREATE TABLE creators (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE streams (
	id          TEXT PRIMARY KEY,
	creator_id  TEXT NOT NULL REFERENCES creators(id),
	title       TEXT NOT NULL,
	access_mode TEXT NOT NULL,
	key_hash    BLOB NOT NULL,
	state       TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	started_at  BIGINT,
	ended_at    BIGINT
);

CREATE INDEX streams_state ON streams(state, created_at);
CREATE INDEX streams_creator ON streams(creator_id, created_at);
