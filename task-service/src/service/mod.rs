//! What each RPC does, in transactions: the access rules (who may see and
//! change which task), the order of writes, and the events each committed
//! change leaves in the outbox. Handlers call in here with parsed values;
//! SQL is in `store`.

mod group_commit;
mod limits;
pub(crate) mod recurrence;
mod tasks;

pub(crate) use limits::Limits;
pub(crate) use tasks::{IdempotencyKey, Tasks};
