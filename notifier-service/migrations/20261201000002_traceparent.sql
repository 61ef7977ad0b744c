-- The trace of the event that queued a notification (W3C traceparent, from
-- its message's header): the send, its own trace, links to it.
ALTER TABLE notifications ADD COLUMN traceparent text
    CHECK (traceparent IS NULL OR length(traceparent) <= 64);
