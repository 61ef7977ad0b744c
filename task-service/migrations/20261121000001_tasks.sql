-- Tasks, their pending reminder fire times, and CreateTask idempotency keys.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE tasks (
    id            uuid PRIMARY KEY,
    owner         text        NOT NULL CHECK (length(owner) BETWEEN 1 AND 128),
    title         text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    state         text        NOT NULL
                  CHECK (state IN ('pending', 'in_progress', 'completed', 'archived', 'cancelled')),
    -- 1 low, 2 medium, 3 high: numeric so that ORDER BY priority means urgency.
    priority      smallint    NOT NULL CHECK (priority BETWEEN 1 AND 3),
    -- Tags as the owner gave them, and case-folded for matching (GIN-indexed).
    tags          text[]      NOT NULL DEFAULT '{}',
    tags_folded   text[]      NOT NULL DEFAULT '{}',
    due_time      timestamptz,
    time_zone     text        NOT NULL DEFAULT 'UTC',
    recurrence    text        NOT NULL DEFAULT '',
    -- What the owner asked for: [{"at": "<rfc3339>"} | {"before_due_secs": n}].
    -- The fire times derived from it live in `reminders`.
    reminders     jsonb       NOT NULL DEFAULT '[]',
    series_id     uuid,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    complete_time timestamptz,
    -- Bumped on every change; the etag is derived from it.
    version       bigint      NOT NULL DEFAULT 1
);

-- One index per ListTasks ordering within an owner (id last: keyset tie-break).
CREATE INDEX tasks_owner_create_time ON tasks (owner, create_time, id);
CREATE INDEX tasks_owner_update_time ON tasks (owner, update_time, id);
CREATE INDEX tasks_owner_due_time    ON tasks (owner, due_time, id);
CREATE INDEX tasks_owner_priority    ON tasks (owner, priority, id);
CREATE INDEX tasks_owner_title       ON tasks (owner, title, id);
-- Admin listings across owners: everything, or one state, newest first.
CREATE INDEX tasks_create_time       ON tasks (create_time, id);
CREATE INDEX tasks_state_create_time ON tasks (state, create_time, id);
-- `tags` filter (all of) and `query` (case-insensitive substrings).
CREATE INDEX tasks_tags_folded       ON tasks USING gin (tags_folded);
CREATE INDEX tasks_search            ON tasks USING gin ((title || ' ' || description) gin_trgm_ops);

-- Pending reminder fire times. A row is removed when it fires (the scheduler
-- keeps this table small) or when the task's reminders or due time change.
CREATE TABLE reminders (
    task_id   uuid        NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    fire_time timestamptz NOT NULL,
    -- 'rule': derived from the task's due time and reminders; 'snooze': SnoozeTask.
    source    text        NOT NULL CHECK (source IN ('rule', 'snooze')),
    PRIMARY KEY (task_id, fire_time)
);
CREATE INDEX reminders_fire_time ON reminders (fire_time);

-- CreateTask request ids, kept 24 hours, with the task each one created.
CREATE TABLE create_requests (
    owner        text        NOT NULL,
    request_id   text        NOT NULL,
    -- SHA-256 of the request's task, to refuse a reused id with other content.
    request_hash bytea       NOT NULL,
    task_id      uuid        NOT NULL,
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (owner, request_id)
);
CREATE INDEX create_requests_create_time ON create_requests (create_time);
