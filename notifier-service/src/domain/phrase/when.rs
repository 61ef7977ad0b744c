//! Which words of a message are its due date, and when that is. Finding
//! the words is ours (a small grammar over the message's words: "on",
//! "at", "in 2 hours", "tonight", a weekday said on that day); the
//! calendar is `interim`'s (month names, weekdays, intervals, 12- and
//! 24-hour clocks, `12/03` by dialect), always asked on a UTC clock that
//! shows the person's wall time, so no daylight-saving gap can fail it;
//! the zone is applied once, at the end.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use chrono_tz::Tz;
use interim::Dialect;

use super::Repeat;

/// The time of a day named without one ("tomorrow", "friday").
const DEFAULT_TIME: NaiveTime = hm(9, 0);
/// "tonight".
const TONIGHT: NaiveTime = hm(20, 0);
/// The longest "in N units" read as a date.
const MAX_AMOUNT: u32 = 1000;

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(t) => t,
        None => panic!("a valid constant time"),
    }
}

/// The words found to be a date: `len` words from `start`.
#[derive(Debug)]
pub(super) struct Found {
    pub start: usize,
    pub len: usize,
    pub spec: Spec,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Spec {
    day: Option<Day>,
    time: Option<Time>,
}

#[derive(Debug, PartialEq, Eq)]
enum Day {
    Today,
    Tomorrow,
    Tonight,
    /// `next`: not today, even if that is the day.
    Weekday {
        day: Weekday,
        next: bool,
    },
    /// Text for interim: `12 march`, `12 march 2027`, `2026-12-24`, `12/03`.
    Calendar {
        text: String,
        year: bool,
    },
    /// Text for interim: `2 hours`, `3 days`.
    In {
        amount: u32,
        unit: Unit,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

#[derive(Debug, PartialEq, Eq)]
enum Time {
    /// Text for interim: `9am`, `9.30pm`, `18:00`; `None` if out of range.
    Clock(Option<String>),
    Fixed(NaiveTime),
}

pub(super) fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" => Weekday::Mon,
        "tuesday" => Weekday::Tue,
        "wednesday" => Weekday::Wed,
        "thursday" => Weekday::Thu,
        "friday" => Weekday::Fri,
        "saturday" => Weekday::Sat,
        "sunday" => Weekday::Sun,
        _ => return None,
    })
}

pub(super) fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Month names and their usual short forms; only ever read next to a day
/// number, so "may" and "march" stay words elsewhere.
fn month(word: &str) -> bool {
    matches!(
        word,
        "january"
            | "february"
            | "march"
            | "april"
            | "may"
            | "june"
            | "july"
            | "august"
            | "september"
            | "october"
            | "november"
            | "december"
            | "jan"
            | "feb"
            | "mar"
            | "apr"
            | "jun"
            | "jul"
            | "aug"
            | "sep"
            | "sept"
            | "oct"
            | "nov"
            | "dec"
    )
}

/// `12`, `12th`, `1st`: a day of the month.
fn day_number(word: &str) -> Option<u32> {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &word[digits.len()..];
    if !matches!(suffix, "" | "st" | "nd" | "rd" | "th") || digits.is_empty() || digits.len() > 2 {
        return None;
    }
    digits.parse().ok().filter(|d| (1..=31).contains(d))
}

fn year(word: &str) -> Option<u32> {
    (word.len() == 4)
        .then(|| word.parse().ok())
        .flatten()
        .filter(|y| (2000..=2100).contains(y))
}

/// `2026-12-24`, `12/03`, `12/03/2027`: written with digits only.
fn numeric_date(word: &str) -> Option<Day> {
    let all = |sep: char, parts: usize| {
        let p: Vec<&str> = word.split(sep).collect();
        p.len() == parts
            && p.iter()
                .all(|x| !x.is_empty() && x.len() <= 4 && x.bytes().all(|b| b.is_ascii_digit()))
    };
    if all('-', 3) && word.len() == 10 {
        return Some(Day::Calendar {
            text: word.into(),
            year: true,
        });
    }
    if all('/', 2) && word.len() <= 5 {
        return Some(Day::Calendar {
            text: word.into(),
            year: false,
        });
    }
    if all('/', 3) && word.len() <= 10 {
        return Some(Day::Calendar {
            text: word.into(),
            year: true,
        });
    }
    None
}

fn amount(word: &str) -> Option<u32> {
    Some(match word {
        "a" | "an" | "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "ten" => 10,
        digits if (1..=4).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok()?
        }
        _ => return None,
    })
}

fn unit(word: &str) -> Option<Unit> {
    Some(match word {
        "min" | "mins" | "minute" | "minutes" => Unit::Minutes,
        "h" | "hr" | "hrs" | "hour" | "hours" => Unit::Hours,
        "day" | "days" => Unit::Days,
        "week" | "weeks" => Unit::Weeks,
        "month" | "months" => Unit::Months,
        "year" | "years" => Unit::Years,
        _ => return None,
    })
}

/// A clock time in one word: `9am`, `9:30pm`, `9.30am`, `18:00`.
fn clock(word: &str) -> Option<Time> {
    let (digits, twelve) = match word.strip_suffix("am").or_else(|| word.strip_suffix("pm")) {
        Some(d) => (d, true),
        None => (word, false),
    };
    let (hour, minute) = match digits.split_once([':', '.']) {
        Some((h, m)) => (h, Some(m)),
        // A bare number is a time only with am or pm.
        None if twelve => (digits, None),
        None => return None,
    };
    let number = |s: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let h = number(hour, 1..=2)?;
    let m = match minute {
        Some(m) => number(m, 2..=2)?,
        None => 0,
    };
    // `18.30` without am/pm is more often money than a time.
    if !twelve && word.contains('.') {
        return None;
    }
    let in_range = if twelve {
        (1..=12).contains(&h)
    } else {
        h <= 23
    } && m <= 59;
    Some(Time::Clock(in_range.then(|| word.to_owned())))
}

/// The date the words from `i` on make, and how many words it took.
fn match_at(w: &[Option<String>], i: usize) -> Option<(usize, Spec)> {
    let word = |j: usize| w.get(j).and_then(|x| x.as_deref()).unwrap_or("");
    // "in 2 hours", "in a week", then maybe "at 9am".
    if word(i) == "in" {
        if let (Some(amount), Some(unit)) = (amount(word(i + 1)), unit(word(i + 2))) {
            let mut spec = Spec {
                day: Some(Day::In { amount, unit }),
                time: None,
            };
            let mut len = 3;
            if !matches!(unit, Unit::Minutes | Unit::Hours) {
                if let Some((n, time)) = time_after(w, i + 3) {
                    spec.time = Some(time);
                    len += n;
                }
            }
            return Some((len, spec));
        }
    }
    let lead = usize::from(matches!(word(i), "on" | "at" | "by"));
    let j = i + lead;
    if let Some((n, day)) = day_at(w, j) {
        let mut spec = Spec {
            day: Some(day),
            time: None,
        };
        let mut len = lead + n;
        if let Some((t, time)) = time_after(w, j + n) {
            spec.time = Some(time);
            len += t;
        } else if let Some(fixed) = part_of_day(word(j + n)) {
            spec.time = Some(Time::Fixed(fixed));
            len += 1;
        }
        return Some((len, spec));
    }
    if let Some((n, time)) = time_at(w, j) {
        let mut spec = Spec {
            day: None,
            time: Some(time),
        };
        let mut len = lead + n;
        let on = usize::from(word(j + n) == "on");
        if let Some((d, day)) = day_at(w, j + n + on) {
            spec.day = Some(day);
            len += on + d;
        }
        return Some((len, spec));
    }
    None
}

/// A time after a day: `9am`, `at 9am`, `at 18:00`, `by noon`.
fn time_after(w: &[Option<String>], j: usize) -> Option<(usize, Time)> {
    let word = w.get(j).and_then(|x| x.as_deref()).unwrap_or("");
    let lead = usize::from(matches!(word, "at" | "by"));
    time_at(w, j + lead).map(|(n, t)| (lead + n, t))
}

fn time_at(w: &[Option<String>], j: usize) -> Option<(usize, Time)> {
    let word = |j: usize| w.get(j).and_then(|x| x.as_deref()).unwrap_or("");
    match word(j) {
        "noon" | "midday" => return Some((1, Time::Fixed(hm(12, 0)))),
        "" => return None,
        _ => {}
    }
    // "9 am", "9:30 pm" before "9:30" alone.
    if matches!(word(j + 1), "am" | "pm") {
        if let Some(time) = clock(&format!("{}{}", word(j), word(j + 1))) {
            return Some((2, time));
        }
    }
    clock(word(j)).map(|time| (1, time))
}

/// "tomorrow morning", "friday evening".
fn part_of_day(word: &str) -> Option<NaiveTime> {
    Some(match word {
        "morning" => hm(9, 0),
        "afternoon" => hm(15, 0),
        "evening" => hm(19, 0),
        "night" => hm(20, 0),
        _ => return None,
    })
}

fn day_at(w: &[Option<String>], j: usize) -> Option<(usize, Day)> {
    let word = |j: usize| w.get(j).and_then(|x| x.as_deref()).unwrap_or("");
    match word(j) {
        "today" => return Some((1, Day::Today)),
        "tomorrow" | "tmrw" | "tmr" => return Some((1, Day::Tomorrow)),
        "tonight" => return Some((1, Day::Tonight)),
        "next" | "this" => {
            let day = weekday(word(j + 1))?;
            return Some((
                2,
                Day::Weekday {
                    day,
                    next: word(j) == "next",
                },
            ));
        }
        _ => {}
    }
    if let Some(day) = weekday(word(j)) {
        return Some((1, Day::Weekday { day, next: false }));
    }
    if let Some(day) = numeric_date(word(j)) {
        return Some((1, day));
    }
    // "12 march [2027]" and "march 12[th] [2027]", given to interim as
    // "12 march [2027]" (it reads "march 12 2027" as a time).
    let (number, name) = if let (Some(d), true) = (day_number(word(j)), month(word(j + 1))) {
        (d, word(j + 1))
    } else if let (true, Some(d)) = (month(word(j)), day_number(word(j + 1))) {
        (d, word(j))
    } else {
        return None;
    };
    let mut text = format!("{number} {name}");
    let explicit = year(word(j + 2));
    if let Some(y) = explicit {
        text.push_str(&format!(" {y}"));
    }
    Some((
        2 + usize::from(explicit.is_some()),
        Day::Calendar {
            text,
            year: explicit.is_some(),
        },
    ))
}

/// The longest date in the words (the last of equals): a message names one
/// due time, and more words read as one date beat fewer.
pub(super) fn find(words: &[Option<String>]) -> Option<Found> {
    let mut best: Option<Found> = None;
    for start in 0..words.len() {
        if let Some((len, spec)) = match_at(words, start) {
            if best.as_ref().is_none_or(|b| len >= b.len) {
                best = Some(Found { start, len, spec });
            }
        }
    }
    best
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
        Day::Calendar { text, year } => {
            let date = ask(text)?.date_naive();
            let t = time.unwrap_or(DEFAULT_TIME);
            let first = at(date, t)?;
            if *year || first > now_utc {
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
