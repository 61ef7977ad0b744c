-- Talking to TodoGenie: the Undo button under a task made from a message,
-- and a row picked from the `today` list, are reports too.
ALTER TABLE inbound DROP CONSTRAINT inbound_kind_known;
ALTER TABLE inbound ADD CONSTRAINT inbound_kind_known
    CHECK (kind IN ('status', 'done', 'snooze', 'stop', 'start', 'text', 'undo', 'pick'));

-- A number with no confirmed contact gets at most one "not linked" answer
-- per 24 hours: when it last got one. Rows older than a day mean nothing
-- and are deleted by the retention worker.
CREATE TABLE stranger_answers (
    phone_number text PRIMARY KEY,
    answer_time  timestamptz NOT NULL
);
