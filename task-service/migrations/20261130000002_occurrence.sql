-- Each occurrence's number in its series (the first is 1, as RFC 5545 counts
-- DTSTART): a rule's COUNT is counted from the series' start, while its next
-- occurrence is computed from the current one, not by replaying the series.
ALTER TABLE tasks ADD COLUMN occurrence integer NOT NULL DEFAULT 1 CHECK (occurrence >= 1);
