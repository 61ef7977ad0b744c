-- notifier-service's own tables. Nothing here is read by task-service.

-- Where and how each user is reminded.
CREATE TABLE contacts (
    user_id            text PRIMARY KEY,
    phone_number       text NOT NULL,          -- E.164, e.g. +14155550123
    time_zone          text NOT NULL,
    locale             text NOT NULL,
    whatsapp_opt_in    boolean NOT NULL,
    quiet_start        time,                   -- both set or both NULL
    quiet_end          time,
    -- The 24-hour customer-service window: last inbound message + 24 h.
    window_expire_time timestamptz,
    -- Per-recipient pacing: no message to this contact before this time.
    next_send_time     timestamptz NOT NULL DEFAULT '1970-01-01T00:00:00Z',
    -- Consecutive 131056 (pair rate limit) answers, for the 1, 4, 16, 64 s schedule.
    pair_limited       integer NOT NULL DEFAULT 0,
    create_time        timestamptz NOT NULL DEFAULT now(),
    update_time        timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);
-- Inbound messages name the sender's number, not the user.
CREATE INDEX contacts_phone_number ON contacts (phone_number);

-- Event ids already applied: a redelivered or republished event does nothing.
CREATE TABLE inbox (
    event_id     uuid PRIMARY KEY,
    receive_time timestamptz NOT NULL DEFAULT now()
);

-- The last known state of each task, followed from its change events, so a
-- reminder for a task closed or deleted before it goes out is skipped.
CREATE TABLE task_states (
    task_id     uuid PRIMARY KEY,
    user_id     text NOT NULL,
    state       text NOT NULL,                 -- TASK_STATE_* or DELETED
    -- The task's update_time in the event: older news never overwrites newer.
    version     timestamptz NOT NULL
);

-- One row per message, and the delivery engine's work queue.
CREATE TABLE notifications (
    id                  uuid PRIMARY KEY,
    user_id             text NOT NULL,
    task_id             uuid NOT NULL,
    event_id            uuid NOT NULL,
    reminder_time       timestamptz NOT NULL,
    task_title          text NOT NULL,
    due_time            timestamptz,
    channel             text NOT NULL DEFAULT 'whatsapp',
    status              text NOT NULL DEFAULT 'QUEUED',
    -- Notifications sent together as one digest share this (the lead's id).
    batch_id            uuid,
    provider_message_id text,
    attempts            integer NOT NULL DEFAULT 0,
    -- Failed attempts counted towards the retry limit (credential pauses are not).
    failures            integer NOT NULL DEFAULT 0,
    last_error          text,
    -- When it is due to go out; while a worker holds it, the end of its lease.
    scheduled_time      timestamptz NOT NULL,
    create_time         timestamptz NOT NULL DEFAULT now(),
    update_time         timestamptz NOT NULL DEFAULT now(),
    -- One reminder of one task makes at most one notification, however often
    -- its event arrives and whatever id it was republished with.
    UNIQUE (task_id, reminder_time)
);
-- The engine's claim: only pending rows, in time order.
CREATE INDEX notifications_pending ON notifications (scheduled_time)
    WHERE status IN ('QUEUED', 'DEFERRED');
-- ListNotifications: a user's, newest first.
CREATE INDEX notifications_user ON notifications (user_id, create_time DESC, id DESC);
-- Status webhooks name the provider's message id.
CREATE INDEX notifications_provider_message ON notifications (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
CREATE INDEX notifications_batch ON notifications (batch_id) WHERE batch_id IS NOT NULL;

-- What the webhooks were told (inbound messages, button presses, status
-- reports), recorded before the webhook is answered and acted on by a worker.
-- The key (the provider's message id, or message id and status for a status
-- report) makes a repeated delivery a no-op.
CREATE TABLE inbound (
    key           text PRIMARY KEY,
    provider      text NOT NULL,              -- meta or twilio
    kind          text NOT NULL,              -- status, done, snooze, stop, start, text
    from_number   text,                       -- E.164, for messages
    reference     text,                       -- provider message id or notification id
    detail        text,                       -- the reported status
    error         text,                       -- a failed status's error code and title
    receive_time  timestamptz NOT NULL DEFAULT now(),
    -- While a worker holds it, the end of its lease; then the next try.
    next_try_time timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    done_time     timestamptz,
    last_error    text
);
CREATE INDEX inbound_pending ON inbound (next_try_time) WHERE done_time IS NULL;

-- The order statuses move in; reports only ever raise it.
CREATE FUNCTION status_rank(status text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE status
        WHEN 'SENT' THEN 1
        WHEN 'DELIVERED' THEN 2
        WHEN 'READ' THEN 3
        WHEN 'FAILED' THEN 4
        WHEN 'SKIPPED' THEN 4
        ELSE 0
    END;
