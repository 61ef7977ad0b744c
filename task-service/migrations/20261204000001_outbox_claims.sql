-- The relay's lease moves from every row to every batch: a claim is one row
-- here naming the range of outbox ids it took, so claiming 1,000 events
-- writes one small row instead of rewriting 1,000 outbox rows (and their
-- index entries) that are deleted moments later. task-bench --events
-- measured the per-row claim at 13 ms per 1,000 rows, 85 % of the relay's
-- database time.
--
-- A claim covers [first_id, last_id] until claimed_until. Outbox rows in
-- that range are skipped by other claims while it lasts; a relay that dies
-- leaves its claim to run out, and the rows are claimed again. Rows inside
-- the range that the claim did not take (committed after it, or waiting for
-- a retry) simply wait for the claim to end.
CREATE TABLE outbox_claims (
    claim         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    first_id      bigint      NOT NULL,
    last_id       bigint      NOT NULL,
    claimed_until timestamptz NOT NULL
);
-- The relay's pool runs without sequential scans (store::connect_worker_pool).
CREATE INDEX outbox_claims_until ON outbox_claims (claimed_until);

-- An event the broker did not take waits for its retry here (NULL: new).
ALTER TABLE outbox ADD COLUMN not_before timestamptz;
-- Rows leased under the per-row scheme when this runs are offered again
-- when their lease would have ended (at worst published twice, never lost).
UPDATE outbox SET not_before = claimed_until WHERE claimed_until IS NOT NULL;

DROP INDEX outbox_unclaimed;
DROP INDEX outbox_leased;
ALTER TABLE outbox DROP COLUMN claimed_until;

-- What claims read: new rows in order, and rows whose retry is due.
CREATE INDEX outbox_fresh ON outbox (id) WHERE not_before IS NULL;
CREATE INDEX outbox_retrying ON outbox (not_before) WHERE not_before IS NOT NULL;
