-- no-transaction
-- An owner's tasks whose text does not fit the cover index, newest first:
-- few, and read whole from the table (ListTasks' second branch).
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_owner_create_long
    ON tasks (owner, create_time, id)
    WHERE NOT tasks_cover_fits(owner, title, description, tags_folded);
