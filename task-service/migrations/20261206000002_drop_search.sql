-- no-transaction
-- tasks_search_folded answers every search tasks_search did (the new expression).
DROP INDEX CONCURRENTLY IF EXISTS tasks_search;
