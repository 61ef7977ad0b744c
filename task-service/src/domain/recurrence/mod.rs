//! Recurrence: the rule a task repeats by (none, a preset, or an RFC 5545
//! RRULE value) and its next occurrence. Limits keep any rule cheap: no
//! SECONDLY or MINUTELY, at most 24 firings a day, and each next occurrence
//! is found from the current one (not the series' start) within a fixed
//! budget of work.

use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Datelike, Months, NaiveDateTime, SubsecRound, TimeZone as _, Utc};
use rrule::{Frequency, RRule, Unvalidated};

use super::TimeZone;

/// A recurrence rule: none, a preset, or an RRULE value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recurrence(String);

const PRESETS: [&str; 4] = ["daily", "weekly", "monthly", "yearly"];

/// The longest `recurrence` value accepted, in characters.
pub const MAX_CHARS: usize = 500;
/// The most a rule may fire in one day: hourly is the finest.
pub const MAX_PER_DAY: u64 = 24;
/// The work one next occurrence may cost: instances looked through, and
/// time. Measured: the `rrule` crate scans ~90 ns per empty hour, so a sparse
/// hourly rule (Feb 29 at 09:00) costs ~3 ms per instance, and one that never
/// fires stops at the crate's own bound (100,000 periods, ~9 ms). 100,000
/// instances of a rule that fires at most 24 times a day span 11 years.
pub const MAX_INSTANCES: u32 = 100_000;
pub const MAX_WORK: StdDuration = StdDuration::from_millis(20);

/// Where a series stands: an occurrence's due time and its number in the
/// series (the first task is 1: RFC 5545 counts DTSTART as the first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occurrence {
    pub due: DateTime<Utc>,
    pub number: u32,
}

/// The budget ran out before the next occurrence was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "its next occurrence cannot be found within {MAX_INSTANCES} occurrences or {} ms of work",
    MAX_WORK.as_millis()
)]
pub struct OverBudget;

impl Recurrence {
    /// Checks the grammar and the limits: a preset (stored lower-case) or an
    /// RRULE value (stored upper-case, without an `RRULE:` prefix). Whether
    /// the rule works from the task's due time is `check_from`'s question.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        let chars = trimmed.chars().count();
        if chars > MAX_CHARS {
            return Err(format!(
                "must be at most {MAX_CHARS} characters, got {chars}"
            ));
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
        let rule = Self::rule(value)?;
        if matches!(rule.get_freq(), Frequency::Secondly | Frequency::Minutely) {
            return Err(
                "FREQ=SECONDLY and FREQ=MINUTELY are not allowed: hourly is the finest".into(),
            );
        }
        let per_day = most_per_day(&rule);
        if per_day > MAX_PER_DAY {
            return Err(format!(
                "can fire up to {per_day} times in one day; at most {MAX_PER_DAY} are allowed"
            ));
        }
        Ok(Self(value.to_owned()))
    }

    fn rule(value: &str) -> Result<RRule<Unvalidated>, String> {
        value
            .parse::<RRule<Unvalidated>>()
            .map_err(|e| format!("is not a valid RRULE value: {}", quote(&e.to_string())))
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
        let start = due
            .trunc_subsecs(0)
            .with_timezone(&rrule::Tz::Tz(zone.tz()));
        Self::rule(&self.0)?
            .validate(start)
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "is not a valid RRULE from the due time: {}",
                    quote(&e.to_string())
                )
            })
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

    /// Whether the rule itself ends the series (COUNT or UNTIL). A rule
    /// without either that yields no next occurrence never fires again.
    pub fn ends(&self) -> bool {
        self.0.contains("COUNT=") || self.0.contains("UNTIL=")
    }

    /// The first occurrence after `current` that is also after `after`
    /// (missed occurrences are not back-filled, but COUNT counts them).
    /// `anchor` is the due time the series' day of month comes from (the
    /// clamped presets need it: Jan 31 → Feb 28 → Mar 31). `Ok(None)` when
    /// COUNT or UNTIL ended the series. Bounded work; still, call it off the
    /// async runtime's threads.
    pub fn next_after(
        &self,
        zone: TimeZone,
        anchor: DateTime<Utc>,
        current: Occurrence,
        after: DateTime<Utc>,
    ) -> Result<Option<Occurrence>, OverBudget> {
        let after = after.max(current.due);
        match self.as_str() {
            "" => Ok(None),
            "daily" => by_rrule("FREQ=DAILY", zone, current, after),
            "weekly" => by_rrule("FREQ=WEEKLY", zone, current, after),
            "monthly" => Ok(clamped_months(1, zone, anchor, current, after)),
            "yearly" => Ok(clamped_months(12, zone, anchor, current, after)),
            rule => by_rrule(rule, zone, current, after),
        }
    }
}

/// Quotes at most 100 characters of a message that may echo user input.
fn quote(message: &str) -> String {
    message.chars().take(100).collect()
}

/// An upper bound on how many times `rule` can fire in one day: the hours it
/// fires in, times the minutes and seconds of each (BYSETPOS caps a period).
fn most_per_day(rule: &RRule<Unvalidated>) -> u64 {
    let count = |n: usize| u64::try_from(n.max(1)).unwrap_or(u64::MAX);
    let within_hour = count(rule.get_by_minute().len()) * count(rule.get_by_second().len());
    let set_pos = rule.get_by_set_pos().len();
    let capped = |n: u64| {
        if set_pos == 0 {
            n
        } else {
            n.min(count(set_pos))
        }
    };
    let by_hour = rule.get_by_hour().len();
    match rule.get_freq() {
        Frequency::Hourly => {
            let by_interval = 24u64.div_ceil(u64::from(rule.get_interval().max(1)));
            let hours = if by_hour == 0 {
                by_interval
            } else {
                count(by_hour).min(by_interval)
            };
            hours.saturating_mul(capped(within_hour))
        }
        Frequency::Secondly | Frequency::Minutely => u64::MAX,
        _ => capped(count(by_hour).saturating_mul(within_hour)),
    }
}

/// `rule` without its COUNT part, and the COUNT: we count occurrences from
/// the series' start ourselves, so the rule can start at the current one.
fn split_count(rule: &str) -> (String, Option<u32>) {
    let mut count = None;
    let parts: Vec<&str> = rule
        .split(';')
        .filter(|part| match part.strip_prefix("COUNT=") {
            Some(n) => {
                count = Some(n.parse().unwrap_or(u32::MAX));
                false
            }
            None => true,
        })
        .collect();
    (parts.join(";"), count)
}

fn by_rrule(
    rule: &str,
    zone: TimeZone,
    current: Occurrence,
    after: DateTime<Utc>,
) -> Result<Option<Occurrence>, OverBudget> {
    let (rule, count) = split_count(rule);
    let Ok(rule) = rule.parse::<RRule<Unvalidated>>() else {
        return Ok(None);
    };
    // RFC 5545 counts in whole seconds; the fraction of the start carries over.
    let whole = current.due.trunc_subsecs(0);
    let fraction = current.due - whole;
    let Ok(set) = rule.build(whole.with_timezone(&rrule::Tz::Tz(zone.tz()))) else {
        return Ok(None);
    };
    let started = Instant::now();
    let mut number = current.number;
    // `limit`: the crate gives up after 100,000 periods without an instance.
    for (looked, instance) in set.limit().into_iter().enumerate() {
        let due = instance.with_timezone(&Utc) + fraction;
        if due > current.due {
            number = number.saturating_add(1);
            if count.is_some_and(|count| number > count) {
                return Ok(None);
            }
            if due > after {
                return Ok(Some(Occurrence { due, number }));
            }
        }
        if looked >= MAX_INSTANCES as usize || started.elapsed() > MAX_WORK {
            return Err(OverBudget);
        }
    }
    Ok(None)
}

/// Every `step` months from the anchor's local date and time, the day of
/// month clamped to the month's last day; computed, not iterated.
fn clamped_months(
    step: u32,
    zone: TimeZone,
    anchor: DateTime<Utc>,
    current: Occurrence,
    after: DateTime<Utc>,
) -> Option<Occurrence> {
    let tz = zone.tz();
    let local = anchor.with_timezone(&tz).naive_local();
    let target = after.with_timezone(&tz).naive_local();
    let months = (target.year() - local.year()) * 12 + target.month() as i32 - local.month() as i32;
    let first = (u32::try_from(months.max(0)).unwrap_or(0) / step)
        .saturating_sub(1)
        .max(1);
    (first..first + 4)
        .filter_map(|k| add_months_clamped(local, k * step))
        .filter_map(|naive| resolve(zone, naive))
        .find(|t| *t > after)
        .map(|due| Occurrence {
            due,
            number: current.number.saturating_add(1),
        })
}

/// chrono's `checked_add_months` already clamps the day to the month's end.
fn add_months_clamped(local: NaiveDateTime, months: u32) -> Option<NaiveDateTime> {
    local
        .checked_add_months(Months::new(months))
        .filter(|d| d.year() <= 9999)
}

/// A local time in the zone: the earlier of an ambiguous (autumn) pair, and
/// for a time skipped by a spring change, the same wall time an hour later.
fn resolve(zone: TimeZone, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    let tz = zone.tz();
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests;
