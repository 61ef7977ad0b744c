-- no-transaction
-- The engine's claim takes every due row of each recipient it takes (one
-- digest, not pieces of it in two rounds): this finds a recipient's pending
-- rows without reading their history. Only pending rows are in it, as in
-- notifications_pending. CONCURRENTLY: sends and consumption go on while it
-- builds (one statement per file, since it cannot run in a transaction).
CREATE INDEX CONCURRENTLY IF NOT EXISTS notifications_pending_user ON notifications (user_id)
    WHERE status IN ('QUEUED', 'DEFERRED');
