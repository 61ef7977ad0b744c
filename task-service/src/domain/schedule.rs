//! When a task happens and when its owner hears of it: time zone,
//! reminders and snoozes (the recurrence rule is in `recurrence`).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// An IANA time zone name, checked against chrono-tz's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// Empty means UTC.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Ok(Self(chrono_tz::UTC));
        }
        raw.parse::<chrono_tz::Tz>()
            .map(Self)
            .map_err(|_| format!("unknown IANA time zone {:?}", truncate(raw)))
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self(chrono_tz::UTC)
    }
}

/// Quotes at most 64 characters of user input back in an error message.
fn truncate(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// One reminder as the owner set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reminder {
    /// A fixed moment.
    At(DateTime<Utc>),
    /// A span before the due time, in seconds; follows the due time.
    BeforeDueSecs(i64),
}

/// The reminders of a task: at most 10. Empty means "at the due time".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reminders(Vec<Reminder>);

impl Reminders {
    pub const MAX_COUNT: usize = 10;
    /// Nobody needs to hear of a task more than a year early.
    pub const MAX_BEFORE_DUE_SECS: i64 = 366 * 24 * 3600;

    /// Checks count and spans. Errors are `(index, description)`, `None` for
    /// the list as a whole. Whether relative ones have a due time to follow is
    /// `check_from`'s question.
    pub fn parse(reminders: Vec<Reminder>) -> Result<Self, Vec<(Option<usize>, String)>> {
        let mut errors = Vec::new();
        if reminders.len() > Self::MAX_COUNT {
            errors.push((
                None,
                format!(
                    "at most {} reminders, got {}",
                    Self::MAX_COUNT,
                    reminders.len()
                ),
            ));
        }
        for (i, reminder) in reminders.iter().enumerate() {
            if let Reminder::BeforeDueSecs(secs) = *reminder {
                if !(0..=Self::MAX_BEFORE_DUE_SECS).contains(&secs) {
                    errors.push((Some(i), "must be between 0 and 366 days".into()));
                }
            }
        }
        if errors.is_empty() {
            Ok(Self(reminders))
        } else {
            Err(errors)
        }
    }

    /// Indexes of relative reminders, which cannot stand without a due time.
    pub fn check_from(&self, due: Option<DateTime<Utc>>) -> Vec<usize> {
        if due.is_some() {
            return Vec::new();
        }
        (0..self.0.len())
            .filter(|&i| matches!(self.0[i], Reminder::BeforeDueSecs(_)))
            .collect()
    }

    pub(crate) fn from_stored(reminders: Vec<Reminder>) -> Self {
        Self(reminders)
    }

    pub fn as_slice(&self) -> &[Reminder] {
        &self.0
    }

    /// The moments these reminders fire for a task due at `due`, ascending and
    /// without duplicates. No reminders and a due time: the implicit one.
    pub fn fire_times(&self, due: Option<DateTime<Utc>>) -> Vec<DateTime<Utc>> {
        let mut times: Vec<DateTime<Utc>> = if self.0.is_empty() {
            due.into_iter().collect()
        } else {
            self.0
                .iter()
                .filter_map(|r| match *r {
                    Reminder::At(at) => Some(at),
                    Reminder::BeforeDueSecs(secs) => due.map(|d| d - Duration::seconds(secs)),
                })
                .collect()
        };
        times.sort();
        times.dedup();
        times
    }
}

/// How long SnoozeTask postpones: more than zero, at most 366 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnoozeDuration(Duration);

impl SnoozeDuration {
    pub fn parse(duration: Duration) -> Result<Self, String> {
        if duration <= Duration::zero() {
            return Err("must be more than zero".into());
        }
        if duration > Duration::days(366) {
            return Err("must be at most 366 days".into());
        }
        Ok(Self(duration))
    }

    pub fn get(self) -> Duration {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn due() -> Option<DateTime<Utc>> {
        Some(Utc.with_ymd_and_hms(2027, 1, 31, 8, 0, 0).unwrap())
    }

    #[test]
    fn zones_are_iana_names() {
        assert_eq!(TimeZone::parse("").unwrap().name(), "UTC");
        assert_eq!(
            TimeZone::parse("Europe/Berlin").unwrap().name(),
            "Europe/Berlin"
        );
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert!(TimeZone::parse("+02:00").is_err());
    }

    #[test]
    fn without_reminders_a_due_task_fires_at_its_due_time() {
        let none = Reminders::parse(vec![]).unwrap();
        assert_eq!(none.fire_times(due()), vec![due().unwrap()]);
        assert!(none.fire_times(None).is_empty());
        let some = Reminders::parse(vec![Reminder::BeforeDueSecs(3600)]).unwrap();
        assert_eq!(
            some.fire_times(due()),
            vec![due().unwrap() - Duration::hours(1)]
        );
    }

    #[test]
    fn relative_reminders_need_a_due_time() {
        let reminders = Reminders::parse(vec![Reminder::BeforeDueSecs(60)]).unwrap();
        assert_eq!(reminders.check_from(None), vec![0]);
        assert!(reminders.check_from(due()).is_empty());
        assert!(Reminders::parse(vec![Reminder::BeforeDueSecs(-1)]).is_err());
    }
}
