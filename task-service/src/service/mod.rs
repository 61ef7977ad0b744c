//! What each RPC does, in transactions: the access rules (who may see and
//! change which task) and the order of writes. Handlers call in here with
//! parsed values; SQL is in `store`.

mod tasks;

pub use tasks::{IdempotencyKey, Page, Tasks};
