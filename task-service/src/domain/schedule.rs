//! When a task happens and when its owner hears of it: time zone, recurrence
//! rule and reminders.

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

/// A recurrence rule: none, a preset, or an RFC 5545 RRULE value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recurrence(String);

const PRESETS: [&str; 4] = ["daily", "weekly", "monthly", "yearly"];

impl Recurrence {
    /// Checks the grammar: a preset (stored lower-case) or an RRULE value
    /// (stored upper-case, without an `RRULE:` prefix). Whether the rule works
    /// from the task's due time is `check_from`'s question.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        let lower = trimmed.to_ascii_lowercase();
        if PRESETS.contains(&lower.as_str()) {
            return Ok(Self(lower));
        }
        let upper = trimmed.to_ascii_uppercase();
        let value = upper.strip_prefix("RRULE:").unwrap_or(&upper);
        if value.contains(['\n', '\r']) || value.contains("DTSTART") {
            return Err("must be a single RRULE value such as FREQ=WEEKLY;BYDAY=MO".into());
        }
        Self::rule(value)?;
        Ok(Self(value.to_owned()))
    }

    fn rule(value: &str) -> Result<rrule::RRule<rrule::Unvalidated>, String> {
        value
            .parse()
            .map_err(|e| format!("is not a valid RRULE value: {e}"))
    }

    /// RFC 5545 needs a start: a rule recurs from the due time, in the zone.
    pub fn check_from(&self, due: Option<DateTime<Utc>>, zone: TimeZone) -> Result<(), String> {
        if self.0.is_empty() {
            return Ok(());
        }
        let Some(due) = due else {
            return Err("needs a due_time to recur from".into());
        };
        if PRESETS.contains(&self.0.as_str()) {
            return Ok(());
        }
        let start = due.with_timezone(&rrule::Tz::Tz(zone.tz()));
        Self::rule(&self.0)?
            .validate(start)
            .map(|_| ())
            .map_err(|e| format!("is not a valid RRULE from the due time: {e}"))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_some(&self) -> bool {
        !self.0.is_empty()
    }
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
    fn recurrence_accepts_presets_and_real_rrules_only() {
        let utc = TimeZone::default();
        assert_eq!(Recurrence::parse("Monthly").unwrap().as_str(), "monthly");
        let weekly = Recurrence::parse("rrule:freq=weekly;byday=MO,WE;count=10").unwrap();
        assert_eq!(weekly.as_str(), "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10");
        assert!(weekly.check_from(due(), utc).is_ok());
        assert!(Recurrence::parse("FREQ=MONTHLY;BYMONTHDAY=-1").is_ok());
        assert!(Recurrence::parse("FREQ=SOMETIMES").is_err());
        assert!(Recurrence::parse("fortnightly").is_err());
        let bad_hour = Recurrence::parse("FREQ=DAILY;BYHOUR=25");
        assert!(bad_hour.is_err() || bad_hour.unwrap().check_from(due(), utc).is_err());
        let daily = Recurrence::parse("daily").unwrap();
        assert!(daily.check_from(None, utc).is_err());
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
