-- no-transaction
-- tasks_owner_create_cover has the same key and answers every query this one did.
DROP INDEX CONCURRENTLY IF EXISTS tasks_owner_create_time;
