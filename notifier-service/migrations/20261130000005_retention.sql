-- Retention (NOTIFIER_RETENTION): what is finished is deleted after it, in
-- small batches, each found through one of these indexes.
CREATE INDEX notifications_finished ON notifications (update_time)
    WHERE status IN ('DELIVERED', 'READ', 'FAILED', 'SKIPPED');
CREATE INDEX inbound_done ON inbound (done_time) WHERE done_time IS NOT NULL;
-- When the notifier last heard of a task (closed ones are forgotten after
-- the retention, open ones kept).
ALTER TABLE task_states ADD COLUMN seen_time timestamptz NOT NULL DEFAULT now();
CREATE INDEX task_states_closed ON task_states (seen_time)
    WHERE state IN ('TASK_STATE_COMPLETED', 'TASK_STATE_ARCHIVED', 'TASK_STATE_CANCELLED', 'DELETED');
CREATE INDEX inbox_receive_time ON inbox (receive_time);
