-- no-transaction
-- A person's filtered listings (a search word, a tag, a state) read only this
-- index: it carries every column a filter tests, so PostgreSQL tests them on
-- the index entries (an index-only scan) and visits the table only for the
-- page of tasks it returns. An owner's tasks lie on as many table pages as
-- the owner has tasks (they were written among everyone else's): measured at
-- 10,000,000 tasks (1,000 per owner), a search word plus a tag read 1,000
-- table pages, 18.8 ms, where this index's entries take 0.6 ms (2.5 ms with
-- the matching rows fetched); ListTasks' p95 for that form went from 20.9 to
-- 6.3-7.7 ms. CONCURRENTLY: building it on a large table does not
-- stop writes (it is one statement per file because it cannot run in a
-- transaction).
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_owner_create_cover
    ON tasks (owner, create_time, id)
    INCLUDE (state, priority, tags_folded, due_time, title, description);
