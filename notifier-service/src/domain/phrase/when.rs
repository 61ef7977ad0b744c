//! When a date the grammar found falls, for a person whose clock says
//! "now": the calendar is `interim`'s (month names, weekdays, intervals, 12-
//! and 24-hour clocks, `12/03` by dialect), always asked on a UTC clock that
//! shows the person's wall time, so no daylight-saving gap can fail it; our
//! rules on top (a past time means the next one, a weekday said on that day
//! is today if the time is still ahead, "next" skips today, weeks start on
//! Monday), and the zone
//! applied once, at the end.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, Months, NaiveDate, NaiveDateTime, NaiveTime,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use interim::Dialect;

use super::grammar::{Day, Spec, Time, Unit};
use super::Repeat;

/// The time of a day named without one ("tomorrow", "friday").
const DEFAULT_TIME: NaiveTime = hm(9, 0);
/// "tonight".
const TONIGHT: NaiveTime = hm(20, 0);
/// The longest "in N units" read as a date.
const MAX_AMOUNT: u32 = 1000;

pub(super) const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(t) => t,
        None => panic!("a valid constant time"),
    }
}

/// `naive` in `zone`: the earlier of a repeated hour, and past a skipped
/// one (02:30 on the spring change is 03:30).
fn local(zone: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => zone
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// When the spec falls, for a person whose clock says `now`; `None` when
/// the words name no real moment ("31 feb", "25:00").
pub(super) fn resolve(
    spec: &Spec,
    now: DateTime<Tz>,
    dialect: Dialect,
    repeat: Option<Repeat>,
) -> Option<DateTime<Utc>> {
    let zone = now.timezone();
    let now_utc = now.with_timezone(&Utc);
    let wall = now.naive_local().and_utc();
    let ask = |text: &str| interim::parse_date_string(text, wall, dialect).ok();
    let time = match &spec.time {
        None => None,
        Some(Time::Fixed(t)) => Some(*t),
        Some(Time::Clock(text)) => Some(ask(text.as_deref()?)?.time()),
    };
    let today = wall.date_naive();
    let at = |date: NaiveDate, t: NaiveTime| local(zone, date.and_time(t));
    let day = match &spec.day {
        Some(day) => day,
        None => {
            if let Some(r) = repeat {
                return Some(first_of(r, time, now));
            }
            // Only a time: the next such time.
            let t = time?;
            let first = at(today, t)?;
            return if first > now_utc {
                Some(first)
            } else {
                at(today.succ_opt()?, t)
            };
        }
    };
    match day {
        Day::Today => match time {
            Some(t) => at(today, t),
            None => {
                let nine = at(today, DEFAULT_TIME)?;
                // Later than nine: the next full hour.
                Some(if nine > now_utc {
                    nine
                } else {
                    next_full_hour(now_utc)
                })
            }
        },
        Day::Tomorrow => at(today.succ_opt()?, time.unwrap_or(DEFAULT_TIME)),
        Day::Tonight => {
            let tonight = at(today, time.unwrap_or(TONIGHT))?;
            Some(if tonight > now_utc {
                tonight
            } else {
                next_full_hour(now_utc)
            })
        }
        Day::Weekday { day, next } => {
            Some(on_weekday(*day, *next, time.unwrap_or(DEFAULT_TIME), now))
        }
        Day::NextWeek => at(next_monday(today), time.unwrap_or(DEFAULT_TIME)),
        Day::InNextWeek(day) => at(
            next_monday(today) + Duration::days(i64::from(day.num_days_from_monday())),
            time.unwrap_or(DEFAULT_TIME),
        ),
        Day::NextMonth => {
            let first = today.with_day(1)?;
            at(
                first.checked_add_months(Months::new(1))?,
                time.unwrap_or(DEFAULT_TIME),
            )
        }
        Day::Weekend { next: false } => {
            let t = time.unwrap_or(DEFAULT_TIME);
            let saturday = on_weekday(Weekday::Sat, false, t, now);
            Some(saturday.min(on_weekday(Weekday::Sun, false, t, now)))
        }
        Day::Weekend { next: true } => at(
            next_monday(today) + Duration::days(5),
            time.unwrap_or(DEFAULT_TIME),
        ),
        Day::Calendar { text, year } => {
            let date = ask(text)?.date_naive();
            let t = time.unwrap_or(DEFAULT_TIME);
            let first = at(date, t)?;
            if *year {
                // A year written out is that day or none: a day already
                // past ("1/1/2020", or "1/1/0", which interim reads as
                // 2000) is no due time, as "31 feb" is none.
                return (date >= today).then_some(first);
            }
            if first > now_utc {
                return Some(first);
            }
            // "12 march" said in November: next year's.
            at(date.with_year(date.year() + 1)?, t)
        }
        Day::In { amount, unit } => {
            if *amount > MAX_AMOUNT {
                return None;
            }
            let seconds = match unit {
                Unit::Minutes => 60,
                Unit::Hours => 3600,
                _ => {
                    let name = match unit {
                        Unit::Days => "days",
                        Unit::Weeks => "weeks",
                        Unit::Months => "months",
                        _ => "years",
                    };
                    let date = ask(&format!("{amount} {name}"))?.date_naive();
                    return at(date, time.unwrap_or(DEFAULT_TIME));
                }
            };
            // An instant: as long as said, whatever the clocks do meanwhile.
            Some(now_utc + Duration::seconds(i64::from(*amount) * seconds))
        }
    }
}

/// The first `day` at `time` that is still ahead (today counts unless
/// `next`).
fn on_weekday(day: Weekday, next: bool, time: NaiveTime, now: DateTime<Tz>) -> DateTime<Utc> {
    let today = now.date_naive();
    let ahead = (7 + day.num_days_from_monday() - today.weekday().num_days_from_monday()) % 7;
    let mut date = today + Duration::days(i64::from(ahead));
    let zone = now.timezone();
    let now_utc = now.with_timezone(&Utc);
    loop {
        let candidate = local(zone, date.and_time(time));
        match candidate {
            Some(t) if t > now_utc && !(next && date == today) => return t,
            _ => date += Duration::days(7),
        }
    }
}

/// The Monday of the week after `today`'s (weeks start on Monday).
fn next_monday(today: NaiveDate) -> NaiveDate {
    today + Duration::days(7 - i64::from(today.weekday().num_days_from_monday()))
}

fn next_full_hour(now: DateTime<Utc>) -> DateTime<Utc> {
    let hour = now.timestamp() - now.timestamp().rem_euclid(3600);
    DateTime::from_timestamp(hour + 3600, 0).unwrap_or(now)
}

/// The first occurrence of a recurrence with no date written: its day (a
/// weekday's, the next working day's) at `time` (09:00 unless said), still
/// ahead.
pub(super) fn first_of(
    repeat: Repeat,
    time: Option<NaiveTime>,
    now: DateTime<Tz>,
) -> DateTime<Utc> {
    let time = time.unwrap_or(DEFAULT_TIME);
    match repeat {
        Repeat::On(day) => on_weekday(day, false, time, now),
        Repeat::Weekdays => [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ]
        .into_iter()
        .map(|d| on_weekday(d, false, time, now))
        .min()
        .expect("five weekdays"),
        _ => {
            let every_day = [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ];
            every_day
                .into_iter()
                .map(|d| on_weekday(d, false, time, now))
                .min()
                .expect("seven days")
        }
    }
}
