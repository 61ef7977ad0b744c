-- Which delivery round holds a notification: set by the claim, required by
-- the statement that records the outcome (so a round whose lease ran out,
-- and whose rows another round took, can record nothing and stops sending),
-- cleared when the outcome is recorded.
ALTER TABLE notifications ADD COLUMN claim uuid;
