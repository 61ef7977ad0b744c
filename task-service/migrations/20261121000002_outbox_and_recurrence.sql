-- Events waiting to be published (the transactional outbox) and recurrence
-- bookkeeping. (Wake-ups are NOTIFYs the service sends, coalesced: a NOTIFY
-- per commit would serialise commits on PostgreSQL's notification queue.)

-- One row per event, written in the transaction of the change it reports and
-- deleted once RabbitMQ confirmed it.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    -- UUID v7 made by the service: unique without an index to maintain.
    event_id      uuid        NOT NULL,
    routing_key   text        NOT NULL,
    -- The CloudEvents JSON, exactly as published.
    payload       bytea       NOT NULL,
    traceparent   text        NOT NULL,
    create_time   timestamptz NOT NULL DEFAULT now(),
    -- For task.due: when the reminder was due (to measure lag).
    due_time      timestamptz,
    -- A relay's lease on the row; NULL or past: free to claim.
    claimed_until timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);

-- What relays claim: new rows in order, and rows whose lease or retry delay
-- has run out. Two partial indexes keep both claims index scans, whatever
-- the statistics say about how many rows are claimed.
CREATE INDEX outbox_unclaimed ON outbox (id) WHERE claimed_until IS NULL;
CREATE INDEX outbox_leased ON outbox (claimed_until) WHERE claimed_until IS NOT NULL;

-- recurrence_done: the next occurrence was created (or the rule ended), so
-- completing, cancelling or the due time passing never makes a second one.
-- series_start: the first occurrence's due time, where COUNT counts from.
ALTER TABLE tasks
    ADD COLUMN series_start timestamptz,
    ADD COLUMN recurrence_done boolean NOT NULL DEFAULT false;
-- One occurrence per series and due time: a constraint, not luck.
CREATE UNIQUE INDEX tasks_series_due_time ON tasks (series_id, due_time) WHERE series_id IS NOT NULL;
-- Recurring tasks whose next occurrence is still to be made, by due time.
CREATE INDEX tasks_recurrence_pending ON tasks (due_time)
    WHERE recurrence <> '' AND NOT recurrence_done;
