//! The rules of tasks, as types: a value of these types has been checked, so
//! code below the gRPC handlers never sees a raw, unchecked string.

mod lifecycle;
mod list;
mod recurrence;
mod schedule;
mod task;
mod text;

pub use lifecycle::{Priority, TaskState};
pub use list::{
    Cursor, CursorValue, Direction, ListFilter, OrderBy, OwnerScope, PageSize, SortKey,
};
pub use recurrence::{Occurrence, OverBudget, Recurrence};
pub use schedule::{Reminder, Reminders, SnoozeDuration, TimeZone};
pub use task::{to_stored_precision, Changed, Rejected, Task, TaskPatch, TaskSpec};
pub use text::{fold as tag_fold, Description, RequestId, Tags, TaskTitle};
pub use todogenie_common::auth::UserId;
pub use todogenie_common::FieldViolations;
