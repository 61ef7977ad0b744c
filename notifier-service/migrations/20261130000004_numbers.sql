-- What a phone number itself said, apart from whoever typed it into a
-- contact: it sent STOP (or No), which holds whatever UpsertContact says
-- until the number sends START; and the confirmation request it is owed, at
-- most one per 24 hours.
CREATE TABLE numbers (
    phone_number      text PRIMARY KEY,
    stopped           boolean NOT NULL DEFAULT false,
    -- A confirmation request is to be sent, naming this user ({{1}}).
    request_due       boolean NOT NULL DEFAULT false,
    request_user      text,
    request_next_try  timestamptz NOT NULL DEFAULT now(),
    request_attempts  integer NOT NULL DEFAULT 0,
    -- When the last request went out.
    request_time      timestamptz
);
CREATE INDEX numbers_request_due ON numbers (request_next_try) WHERE request_due;
-- How many numbers one user had asked in the last 24 hours (a bound).
CREATE INDEX numbers_request_user ON numbers (request_user, request_time);

-- Which users a number agreed to get reminders for: the one its request
-- named when it said Yes (or START), or one an admin or service vouched
-- for. Per user, so that a number that confirmed for alice is not
-- confirmed for whoever types it in next.
CREATE TABLE confirmations (
    phone_number text NOT NULL,
    user_id      text NOT NULL,
    PRIMARY KEY (phone_number, user_id)
);

-- A STOP or START report whose change was committed: a retry only sends
-- the confirmation.
ALTER TABLE inbound ADD COLUMN applied boolean NOT NULL DEFAULT false;

-- A number's messages: its window when a contact first names it, and what
-- DeleteContact forgets.
CREATE INDEX inbound_from_number ON inbound (from_number) WHERE from_number IS NOT NULL;
