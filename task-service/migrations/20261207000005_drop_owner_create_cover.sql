-- no-transaction
-- Replaced by tasks_owner_cover, tasks_owner_create_long and
-- tasks_owner_create_time.
DROP INDEX CONCURRENTLY IF EXISTS tasks_owner_create_cover;
