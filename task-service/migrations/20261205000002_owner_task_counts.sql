-- Each owner's number of tasks that are not archived (the quota,
-- TASK_MAX_TASKS_PER_OWNER), kept by triggers on `tasks` so that every
-- path that writes tasks (CreateTask alone or in a group-commit batch, a
-- series' next occurrence, archive and unarchive, delete, a bench's
-- TRUNCATE) keeps it, in the same transaction as the change.
--
-- Before, each replica counted an owner's tasks itself every 10 s: an
-- index scan over the owner's tasks that visits the table for every task
-- whose page vacuum has not marked all-visible, which is every recent one.
-- Measured at 10,000,000 tasks: 61 ms and 9,300 table pages read for an
-- owner with 12,800 tasks, and the CreateTask that waited for it took 0.6 s
-- (task-bench --create-only); with the default quota of 100,000 an owner
-- near it would cost a 100,000-row scan every 10 s on every replica.
-- Reading this row costs the same for every owner.
--
-- Statement triggers with transition tables: a batch of CreateTasks adds
-- one row per owner, not one update per task. The insert trigger takes the
-- owners' rows in owner order, so two batches that share owners never wait
-- on each other crosswise (a deadlock).
CREATE TABLE owner_task_counts (
    owner text   PRIMARY KEY,
    open  bigint NOT NULL
);

CREATE FUNCTION owner_task_counts_after_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO owner_task_counts AS c (owner, open)
    SELECT owner, count(*) FROM inserted WHERE state <> 'archived'
    GROUP BY owner ORDER BY owner
    ON CONFLICT (owner) DO UPDATE SET open = c.open + EXCLUDED.open;
    RETURN NULL;
END
$$;

CREATE FUNCTION owner_task_counts_after_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE owner_task_counts AS c SET open = c.open - d.n
    FROM (SELECT owner, count(*) AS n FROM deleted WHERE state <> 'archived'
          GROUP BY owner) AS d
    WHERE c.owner = d.owner;
    RETURN NULL;
END
$$;

-- Row by row, and only for a task that enters or leaves ARCHIVED or changes
-- owner (the WHEN below): an ordinary update does not run it.
CREATE FUNCTION owner_task_counts_after_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'archived' THEN
        UPDATE owner_task_counts SET open = open - 1 WHERE owner = OLD.owner;
    END IF;
    IF NEW.state <> 'archived' THEN
        INSERT INTO owner_task_counts AS c (owner, open) VALUES (NEW.owner, 1)
        ON CONFLICT (owner) DO UPDATE SET open = c.open + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION owner_task_counts_after_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE owner_task_counts;
    RETURN NULL;
END
$$;

-- Writes to tasks wait from here to this migration's commit, so the count
-- below and the triggers see the same tasks (at 10,000,000 tasks the count
-- takes a few seconds).
LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER owner_task_counts_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION owner_task_counts_after_insert();
CREATE TRIGGER owner_task_counts_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION owner_task_counts_after_delete();
CREATE TRIGGER owner_task_counts_update AFTER UPDATE OF state, owner ON tasks
    FOR EACH ROW
    WHEN ((OLD.state = 'archived') IS DISTINCT FROM (NEW.state = 'archived')
          OR OLD.owner IS DISTINCT FROM NEW.owner)
    EXECUTE FUNCTION owner_task_counts_after_update();
CREATE TRIGGER owner_task_counts_truncate AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION owner_task_counts_after_truncate();

INSERT INTO owner_task_counts (owner, open)
SELECT owner, count(*) FROM tasks WHERE state <> 'archived' GROUP BY owner;
