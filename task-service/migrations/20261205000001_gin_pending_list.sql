-- The GIN indexes (search words, tags) keep new entries in a pending list
-- and merge it into the index when it passes gin_pending_list_limit (4 MB by
-- default); the insert that passes it does the merge. The trigram index
-- fills 4 MB in about 8,500 tasks, and its merge took 40–60 ms: the
-- CreateTask batch that triggered it, and with one group-commit writer
-- every CreateTask behind it, waited that long every few seconds under load
-- (statement log of task-bench --paced, 2026-12-02). A 512 kB list merges
-- eight times as often in an eighth of the time; pgbench's closed-loop rate
-- on CreateTask's statement did not change (5,082–5,709 against
-- 5,237–5,816 tps, alternating). ALTER INDEX … SET takes a SHARE UPDATE
-- EXCLUSIVE lock: inserts go on meanwhile.
ALTER INDEX tasks_search SET (gin_pending_list_limit = 512);
ALTER INDEX tasks_tags_folded SET (gin_pending_list_limit = 512);
