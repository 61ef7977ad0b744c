-- What a phone number itself said, apart from whoever typed it into a
-- contact: it confirmed (Yes or START), or it sent STOP (or No), which holds
-- whatever UpsertContact says until the number sends START. And the
-- confirmation request it is owed: at most one per 24 hours.
CREATE TABLE numbers (
    phone_number      text PRIMARY KEY,
    confirmed         boolean NOT NULL DEFAULT false,
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

-- A STOP or START report whose change was committed: a retry only sends
-- the confirmation.
ALTER TABLE inbound ADD COLUMN applied boolean NOT NULL DEFAULT false;

-- A number's messages: its window when a contact first names it, and what
-- DeleteContact forgets.
CREATE INDEX inbound_from_number ON inbound (from_number) WHERE from_number IS NOT NULL;
