-- Recordings for replays: whether a stream is recorded, how long after its end buyers
-- may replay it and how long it is kept, and the parts written (one per room per node:
-- an encoder reconnecting to the same node continues its part).
ALTER TABLE streams ADD COLUMN record INTEGER NOT NULL DEFAULT 0;
ALTER TABLE streams ADD COLUMN replay_window_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE streams ADD COLUMN retention_seconds BIGINT NOT NULL DEFAULT 0;
CREATE TABLE recordings (
	id          TEXT PRIMARY KEY,
	stream_id   TEXT NOT NULL REFERENCES streams(id),
	creator_id  TEXT NOT NULL,
	storage_key TEXT NOT NULL,
	node        TEXT NOT NULL,
	state       TEXT NOT NULL,
	started_at  BIGINT NOT NULL,
	ended_at    BIGINT,
	bytes       BIGINT NOT NULL DEFAULT 0,
	duration_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX recordings_stream ON recordings(stream_id, started_at);
CREATE INDEX recordings_in_progress ON recordings(node) WHERE state = 'recording';
