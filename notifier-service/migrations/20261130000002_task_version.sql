-- Task news is ordered by the task's version (its etag, which only grows
-- with each change), not by update_time, which each task-service replica
-- stamps from its own clock. Rows from before start at 0: the next event of
-- their task replaces them.
ALTER TABLE task_states ALTER COLUMN version TYPE bigint USING 0;
