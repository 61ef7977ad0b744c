//! Task states, the transitions between them, and priorities.

use std::fmt;

/// Bound as the text in `tasks.state` (its CHECK lists the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    InProgress,
    Completed,
    Archived,
    Cancelled,
}

impl TaskState {
    /// The contract's lifecycle table. Staying in the same state is always
    /// allowed (a no-op) and not asked of this function.
    pub fn may_become(self, to: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, to),
            (Pending, InProgress | Completed | Cancelled)
                | (InProgress, Pending | Completed | Cancelled)
                | (Completed, Pending | Archived)
                | (Cancelled, Pending | Archived)
        )
    }

    /// Reminders fire only for tasks that are still to be done.
    pub fn is_open(self) -> bool {
        matches!(self, TaskState::Pending | TaskState::InProgress)
    }

    /// The form stored in the `tasks.state` column.
    pub fn as_db(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::InProgress => "in_progress",
            TaskState::Completed => "completed",
            TaskState::Archived => "archived",
            TaskState::Cancelled => "cancelled",
        }
    }

    pub fn from_db(value: &str) -> Option<Self> {
        Some(match value {
            "pending" => TaskState::Pending,
            "in_progress" => TaskState::InProgress,
            "completed" => TaskState::Completed,
            "archived" => TaskState::Archived,
            "cancelled" => TaskState::Cancelled,
            _ => return None,
        })
    }
}

impl fmt::Display for TaskState {
    /// The proto enum name, as clients know it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskState::Pending => "TASK_STATE_PENDING",
            TaskState::InProgress => "TASK_STATE_IN_PROGRESS",
            TaskState::Completed => "TASK_STATE_COMPLETED",
            TaskState::Archived => "TASK_STATE_ARCHIVED",
            TaskState::Cancelled => "TASK_STATE_CANCELLED",
        })
    }
}

impl fmt::Display for Priority {
    /// The proto enum name, as clients know it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Priority::Low => "PRIORITY_LOW",
            Priority::Medium => "PRIORITY_MEDIUM",
            Priority::High => "PRIORITY_HIGH",
        })
    }
}

/// Stored as 1..=3 so that ordering by the column orders by urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type)]
#[repr(i16)]
pub enum Priority {
    Low = 1,
    Medium = 2,
    High = 3,
}

impl Priority {
    pub fn as_db(self) -> i16 {
        self as i16
    }

    pub fn from_db(value: i16) -> Option<Self> {
        Some(match value {
            1 => Priority::Low,
            2 => Priority::Medium,
            3 => Priority::High,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::{self, *};

    #[test]
    fn the_lifecycle_table_is_exactly_the_contracts() {
        let all = [Pending, InProgress, Completed, Archived, Cancelled];
        let allowed: Vec<(TaskState, TaskState)> = all
            .iter()
            .flat_map(|&from| all.iter().map(move |&to| (from, to)))
            .filter(|&(from, to)| from.may_become(to))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Pending, InProgress),
                (Pending, Completed),
                (Pending, Cancelled),
                (InProgress, Pending),
                (InProgress, Completed),
                (InProgress, Cancelled),
                (Completed, Pending),
                (Completed, Archived),
                (Cancelled, Pending),
                (Cancelled, Archived),
            ]
        );
    }
}
