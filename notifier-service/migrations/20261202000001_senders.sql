-- The replicas sending for this WhatsApp account, each with its last
-- heartbeat (PostgreSQL's clock, the only one they share) and the
-- WHATSAPP_MAX_MPS it was started with. Live replicas divide the smallest
-- limit among themselves; a row whose heartbeat is stale is a dead replica's,
-- deleted by the next heartbeat of any other.
CREATE TABLE senders (
    id uuid PRIMARY KEY,
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    max_mps integer NOT NULL CHECK (max_mps > 0)
);
