-- no-transaction
-- The owners' cover index (as tasks_owner_create_cover, which it replaces)
-- for the tasks whose entry fits a B-tree page (see tasks_cover_fits); the
-- others are in tasks_owner_create_long. CONCURRENTLY: writes go on while it
-- is built.
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_owner_cover
    ON tasks (owner, create_time, id)
    INCLUDE (state, priority, tags_folded, due_time, title, description)
    WHERE tasks_cover_fits(owner, title, description, tags_folded);
