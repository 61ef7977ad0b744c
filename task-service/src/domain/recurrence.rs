//! The next occurrence of a recurring task: RFC 5545 rules through the
//! `rrule` crate, presets `monthly` and `yearly` with the day clamped to the
//! month's end, all evaluated in the task's zone so local times survive DST.

use chrono::{DateTime, Datelike, Months, NaiveDateTime, SubsecRound, TimeZone as _, Utc};

use super::{Recurrence, TimeZone};

/// How many occurrences we look through before giving up on a rule that
/// never produces one in the future (a safety bound, 27 years of daily).
const MAX_STEPS: usize = 10_000;

impl Recurrence {
    /// The first occurrence of the series starting at `series_start` that is
    /// strictly after `after` (the later of the current due time and now:
    /// missed occurrences are not back-filled). `None` when COUNT or UNTIL
    /// ended the series.
    pub fn next_after(
        &self,
        zone: TimeZone,
        series_start: DateTime<Utc>,
        after: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self.as_str() {
            "" => None,
            "daily" => by_rrule("FREQ=DAILY", zone, series_start, after),
            "weekly" => by_rrule("FREQ=WEEKLY", zone, series_start, after),
            "monthly" => clamped_months(1, zone, series_start, after),
            "yearly" => clamped_months(12, zone, series_start, after),
            rule => by_rrule(rule, zone, series_start, after),
        }
    }
}

fn by_rrule(
    rule: &str,
    zone: TimeZone,
    start: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let rule: rrule::RRule<rrule::Unvalidated> = rule.parse().ok()?;
    // RFC 5545 counts in whole seconds; the fraction of the start carries over.
    let whole = start.trunc_subsecs(0);
    let fraction = start - whole;
    let set = rule
        .build(whole.with_timezone(&rrule::Tz::Tz(zone.tz())))
        .ok()?;
    set.into_iter()
        .take(MAX_STEPS)
        .map(|t| t.with_timezone(&Utc) + fraction)
        .find(|t| *t > after)
}

/// Every `step` months from `start`'s local date and time, the day of month
/// clamped to the month's last day (Jan 31 → Feb 28 → Mar 31).
fn clamped_months(
    step: u32,
    zone: TimeZone,
    start: DateTime<Utc>,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let local = start.with_timezone(&zone.tz()).naive_local();
    (1..MAX_STEPS as u32)
        .filter_map(|k| add_months_clamped(local, k * step))
        .filter_map(|naive| resolve(zone, naive))
        .find(|t| *t > after)
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
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeZone {
        TimeZone::parse(name).unwrap()
    }

    fn at(zone_name: &str, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        zone(zone_name)
            .tz()
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn series(rule: &str, z: &str, start: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let recurrence = Recurrence::parse(rule).unwrap();
        let mut out = Vec::new();
        let mut current = start;
        for _ in 0..n {
            match recurrence.next_after(zone(z), start, current) {
                Some(next) => {
                    out.push(next);
                    current = next;
                }
                None => break,
            }
        }
        out
    }

    #[test]
    fn daily_keeps_local_time_across_spring_and_autumn_in_berlin() {
        let start = at("Europe/Berlin", 2027, 3, 27, 9, 0);
        let next = series("daily", "Europe/Berlin", start, 2);
        assert_eq!(
            next,
            [
                at("Europe/Berlin", 2027, 3, 28, 9, 0),
                at("Europe/Berlin", 2027, 3, 29, 9, 0)
            ]
        );
        assert_eq!(
            (next[0] - start).num_hours(),
            23,
            "the spring day is 23 hours long"
        );
        let autumn = at("Europe/Berlin", 2027, 10, 30, 9, 0);
        let next = series("daily", "Europe/Berlin", autumn, 1);
        assert_eq!((next[0] - autumn).num_hours(), 25);
    }

    #[test]
    fn weekly_keeps_local_time_across_new_york_changes() {
        let start = at("America/New_York", 2027, 3, 9, 8, 30);
        assert_eq!(
            series("weekly", "America/New_York", start, 1),
            [at("America/New_York", 2027, 3, 16, 8, 30)]
        );
        let fall = at("America/New_York", 2027, 11, 1, 8, 30);
        assert_eq!(
            series("FREQ=WEEKLY", "America/New_York", fall, 1),
            [at("America/New_York", 2027, 11, 8, 8, 30)]
        );
    }

    #[test]
    fn monthly_preset_clamps_to_month_end_and_returns_to_the_31st() {
        let start = at("UTC", 2027, 1, 31, 10, 0);
        assert_eq!(
            series("monthly", "UTC", start, 3),
            [
                at("UTC", 2027, 2, 28, 10, 0),
                at("UTC", 2027, 3, 31, 10, 0),
                at("UTC", 2027, 4, 30, 10, 0)
            ]
        );
        // RFC 5545 itself skips months without a 31st; BYMONTHDAY=-1 is the last day.
        assert_eq!(
            series("FREQ=MONTHLY", "UTC", start, 1),
            [at("UTC", 2027, 3, 31, 10, 0)]
        );
        assert_eq!(
            series("FREQ=MONTHLY;BYMONTHDAY=-1", "UTC", start, 1),
            [at("UTC", 2027, 2, 28, 10, 0)]
        );
    }

    #[test]
    fn yearly_from_february_29() {
        let start = at("UTC", 2028, 2, 29, 7, 0);
        assert_eq!(
            series("yearly", "UTC", start, 1),
            [at("UTC", 2029, 2, 28, 7, 0)]
        );
        assert_eq!(
            series("FREQ=YEARLY", "UTC", start, 1),
            [at("UTC", 2032, 2, 29, 7, 0)]
        );
    }

    #[test]
    fn byday_count_and_until_end_the_series() {
        let monday = at("Europe/Berlin", 2027, 1, 4, 18, 0);
        let next = series(
            "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4",
            "Europe/Berlin",
            monday,
            10,
        );
        assert_eq!(
            next,
            [
                at("Europe/Berlin", 2027, 1, 6, 18, 0),
                at("Europe/Berlin", 2027, 1, 11, 18, 0),
                at("Europe/Berlin", 2027, 1, 13, 18, 0)
            ],
            "COUNT=4 includes the first occurrence"
        );
        let until = series(
            "FREQ=DAILY;UNTIL=20270107T000000Z",
            "Europe/Berlin",
            monday,
            10,
        );
        assert_eq!(until.len(), 2);
    }

    #[test]
    fn missed_occurrences_are_not_back_filled() {
        let start = at("UTC", 2027, 1, 1, 9, 0);
        let later = at("UTC", 2027, 1, 10, 12, 0);
        let recurrence = Recurrence::parse("daily").unwrap();
        assert_eq!(
            recurrence.next_after(zone("UTC"), start, later),
            Some(at("UTC", 2027, 1, 11, 9, 0))
        );
    }
}
