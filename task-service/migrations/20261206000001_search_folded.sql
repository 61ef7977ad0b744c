-- no-transaction
-- ListTasks' `query` now tests `lower(title || ' ' || description) LIKE
-- lower(word)`, which is what ILIKE does in a UTF-8 database except that
-- ILIKE lowers the word again for every row it tests (see store/list.rs;
-- measured at 1,000,000 tasks, an owner's search 0.53-0.60 ms against
-- 0.69-0.82 ms). The trigram index follows the new expression; trigrams
-- are case-folded either way, so it holds the same entries (74 MB against
-- tasks_search's 93 MB at 1,000,000 tasks, built in 31 s). CONCURRENTLY,
-- with the pending list of 20261205000001: writes go on while it builds.
CREATE INDEX CONCURRENTLY IF NOT EXISTS tasks_search_folded
    ON tasks USING gin (lower(title || ' ' || description) gin_trgm_ops)
    WITH (gin_pending_list_limit = 512);
