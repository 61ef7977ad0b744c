-- no-transaction
-- An owner's tasks newest first, every one of them: ListTasks' default
-- listing. tasks_owner_create_cover answered it until it had to leave out
-- the tasks whose text is too long for a B-tree entry (20261207000001);
-- reading the two partial indexes that replace it and merging them took
-- three times as long at 1,000,000 tasks (0.60 against 0.19 ms, planning
-- included), so the plain index comes back (it was dropped in 20261203000002
-- as a duplicate of the cover's key).
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_owner_create_time ON tasks (owner, create_time, id);
