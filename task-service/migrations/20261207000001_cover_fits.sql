-- Whether a task's entry in the owners' cover index fits a B-tree page.
--
-- tasks_owner_create_cover carried title, description and tags whole, and a
-- B-tree entry holds at most 2,704 bytes: a task the contract allows (a
-- 10,000-character description, or a 500-character title and 20 tags of 50
-- characters in four-byte UTF-8) was refused with "index row size exceeds
-- btree version 4 maximum" unless its text happened to compress. The cover
-- now holds the tasks whose text fits with room to spare (this function,
-- its predicate), and a plain index the others (ListTasks reads both; see
-- store/list.rs).
--
-- 2,000 bytes of text: the entry's other columns, headers and alignment
-- take at most about 300 (20 array elements of 7 bytes, 24 of array header,
-- fixed-size columns), and PostgreSQL compresses an entry only when that
-- helps, so an entry within this bound never exceeds 2,704 bytes.
--
-- IMMUTABLE as an index predicate must be: it reads only its arguments
-- (array_to_string is STABLE only because some element types' output is;
-- text's is not). PL/pgSQL rather than SQL: every insert evaluates it once
-- per partial index, and a SQL function that is not inlined took 2.5 µs a
-- call against 0.8 µs (200,000 calls in psql, net of the query's own 0.4 µs
-- a row, 2026-12-03).
CREATE FUNCTION tasks_cover_fits(owner text, title text, description text, tags text[])
    RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN octet_length(owner) + octet_length(title) + octet_length(description)
        + coalesce(octet_length(array_to_string(tags, '')), 0) <= 2000;
END
$$;
