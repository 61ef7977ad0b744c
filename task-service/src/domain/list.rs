//! What a ListTasks request asks for, parsed: whose tasks, which ones, in
//! what order, how many.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Priority, Task, TaskState, UserId};

/// Whose tasks a listing covers, after the role rules were applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerScope {
    One(UserId),
    Everyone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Priority,
    DueTime,
    Title,
    CreateTime,
    UpdateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// A parsed `order_by`: at least one key, each at most once. Ties on all of
/// them break on the task id, in the direction of the last key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy(Vec<(SortKey, Direction)>);

impl OrderBy {
    /// `"priority desc, due_time"`; empty means `create_time desc`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Ok(Self(vec![(SortKey::CreateTime, Direction::Desc)]));
        }
        let mut keys: Vec<(SortKey, Direction)> = Vec::new();
        for part in raw.split(',') {
            let words: Vec<&str> = part.split_whitespace().collect();
            let (name, direction) = match words.as_slice() {
                [name] => (*name, Direction::Asc),
                [name, dir] if dir.eq_ignore_ascii_case("desc") => (*name, Direction::Desc),
                [name, dir] if dir.eq_ignore_ascii_case("asc") => (*name, Direction::Asc),
                _ => {
                    return Err(format!(
                        "cannot read {:?}: expected `field` or `field desc`",
                        part.trim()
                    ))
                }
            };
            let key = match name {
                "priority" => SortKey::Priority,
                "due_time" => SortKey::DueTime,
                "title" => SortKey::Title,
                "create_time" => SortKey::CreateTime,
                "update_time" => SortKey::UpdateTime,
                other => {
                    return Err(format!(
                    "unknown field {:?}: use priority, due_time, title, create_time or update_time",
                    other.chars().take(64).collect::<String>()
                ))
                }
            };
            if keys.iter().any(|(k, _)| *k == key) {
                return Err(format!("{name} is named twice"));
            }
            keys.push((key, direction));
        }
        Ok(Self(keys))
    }

    pub fn keys(&self) -> &[(SortKey, Direction)] {
        &self.0
    }

    /// The direction the id tie-break takes.
    pub fn tie_break(&self) -> Direction {
        self.0.last().map_or(Direction::Asc, |(_, d)| *d)
    }

    /// A canonical spelling, for fingerprints.
    pub fn canonical(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(k, d)| format!("{k:?} {d:?}")).collect();
        parts.join(",")
    }
}

/// 1 to 1000: 0 means 50, above 1000 means 1000, negative is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub fn parse(raw: i32) -> Result<Self, String> {
        match raw {
            ..0 => Err(format!("must not be negative, got {raw}")),
            0 => Ok(Self(50)),
            1..=1000 => Ok(Self(raw.unsigned_abs())),
            _ => Ok(Self(1000)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// The filters of a listing: every condition must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFilter {
    pub scope: OwnerScope,
    /// Lower-cased words, each a substring of title or description.
    pub words: Vec<String>,
    /// Any of these; empty means all.
    pub states: Vec<TaskState>,
    /// Any of these; empty means all.
    pub priorities: Vec<Priority>,
    /// Case-folded; all of them.
    pub tags: Vec<String>,
    pub due_after: Option<DateTime<Utc>>,
    pub due_before: Option<DateTime<Utc>>,
}

impl ListFilter {
    /// Whether it tests more than the owner: words, states, priorities,
    /// tags or a due range.
    pub fn thins(&self) -> bool {
        !self.states.is_empty() || self.thins_beyond_states()
    }

    /// Whether it tests more than the owner and the state: words,
    /// priorities, tags or a due range.
    pub fn thins_beyond_states(&self) -> bool {
        !self.words.is_empty()
            || !self.priorities.is_empty()
            || !self.tags.is_empty()
            || self.due_after.is_some()
            || self.due_before.is_some()
    }

    /// A canonical spelling, so that a page token can prove it was made for
    /// the same filters (order of repeated values does not matter).
    pub fn canonical(&self) -> String {
        let mut states = self.states.clone();
        states.sort();
        states.dedup();
        let mut priorities = self.priorities.clone();
        priorities.sort();
        priorities.dedup();
        let mut tags = self.tags.clone();
        tags.sort();
        tags.dedup();
        let scope = match &self.scope {
            OwnerScope::One(owner) => format!("owner={}", owner.as_str()),
            OwnerScope::Everyone => "everyone".to_owned(),
        };
        serde_json::json!({
            "scope": scope,
            "words": self.words,
            "states": states.iter().map(|s| s.as_db()).collect::<Vec<_>>(),
            "priorities": priorities.iter().map(|p| p.as_db()).collect::<Vec<_>>(),
            "tags": tags,
            "due_after": self.due_after.map(|t| t.timestamp_micros()),
            "due_before": self.due_before.map(|t| t.timestamp_micros()),
        })
        .to_string()
    }
}

/// Where a page ended: the last task's value of each sort key, and its id.
/// The next page starts strictly after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub keys: Vec<CursorValue>,
    pub id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CursorValue {
    Priority(i16),
    DueTime(Option<DateTime<Utc>>),
    Title(String),
    Time(DateTime<Utc>),
}

impl Cursor {
    pub fn after(task: &Task, order: &OrderBy) -> Self {
        let keys = order
            .keys()
            .iter()
            .map(|(key, _)| match key {
                SortKey::Priority => CursorValue::Priority(task.priority.as_db()),
                SortKey::DueTime => CursorValue::DueTime(task.due_time),
                SortKey::Title => CursorValue::Title(task.title.as_str().to_owned()),
                SortKey::CreateTime => CursorValue::Time(task.create_time),
                SortKey::UpdateTime => CursorValue::Time(task.update_time),
            })
            .collect();
        Self { keys, id: task.id }
    }

    /// Whether the cursor's values have the shape of `order`'s keys.
    pub fn fits(&self, order: &OrderBy) -> bool {
        self.keys.len() == order.keys().len()
            && self.keys.iter().zip(order.keys()).all(|(value, (key, _))| {
                matches!(
                    (value, key),
                    (CursorValue::Priority(_), SortKey::Priority)
                        | (CursorValue::DueTime(_), SortKey::DueTime)
                        | (CursorValue::Title(_), SortKey::Title)
                        | (
                            CursorValue::Time(_),
                            SortKey::CreateTime | SortKey::UpdateTime
                        )
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by_reads_keys_and_directions() {
        let order = OrderBy::parse("priority desc, due_time").unwrap();
        assert_eq!(
            order.keys(),
            [
                (SortKey::Priority, Direction::Desc),
                (SortKey::DueTime, Direction::Asc)
            ]
        );
        assert_eq!(order.tie_break(), Direction::Asc);
        assert_eq!(
            OrderBy::parse("").unwrap().keys(),
            [(SortKey::CreateTime, Direction::Desc)]
        );
    }

    #[test]
    fn order_by_refuses_unknown_repeated_and_garbled_keys() {
        assert!(OrderBy::parse("owner").is_err());
        assert!(OrderBy::parse("title, title desc").is_err());
        assert!(OrderBy::parse("title sideways").is_err());
        assert!(OrderBy::parse("title,").is_err());
    }

    #[test]
    fn page_size_defaults_and_clamps() {
        assert_eq!(PageSize::parse(0).unwrap().get(), 50);
        assert_eq!(PageSize::parse(7).unwrap().get(), 7);
        assert_eq!(PageSize::parse(5000).unwrap().get(), 1000);
        assert!(PageSize::parse(-1).is_err());
    }
}
