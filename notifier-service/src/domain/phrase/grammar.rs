//! Which words of a message are its due date: a small grammar over the
//! message's words ("on 12 March at 14:30", "friday 6 pm", "in 2 hours",
//! "tomorrow evening", "next week", "this weekend"), giving a [`Spec`] whose pieces are left in the form
//! `interim` reads. Month names count only next to a day number, and a bare
//! number is never a time, so "May the force" and "The 5th Wave" stay words.

use chrono::{NaiveTime, Weekday};

use super::when::hm;

/// The words found to be a date: `len` words from `start`.
#[derive(Debug)]
pub(super) struct Found {
    pub start: usize,
    pub len: usize,
    pub spec: Spec,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Spec {
    pub day: Option<Day>,
    pub time: Option<Time>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Day {
    Today,
    Tomorrow,
    Tonight,
    /// `next`: not today, even if that is the day.
    Weekday {
        day: Weekday,
        next: bool,
    },
    /// "next week": that week's Monday.
    NextWeek,
    /// "next week friday", "friday next week": that day of next week.
    InNextWeek(Weekday),
    /// "next month": its first day.
    NextMonth,
    /// "this weekend", "the weekend": the first Saturday or Sunday still
    /// ahead; "next weekend": next week's Saturday.
    Weekend {
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
pub(super) enum Unit {
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Time {
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
            let next = word(j) == "next";
            let day = match (word(j + 1), next) {
                ("week", true) => match weekday(word(j + 2)) {
                    Some(day) => return Some((3, Day::InNextWeek(day))),
                    None => Day::NextWeek,
                },
                ("month", true) => Day::NextMonth,
                ("weekend", _) => Day::Weekend { next },
                (other, _) => Day::Weekday {
                    day: weekday(other)?,
                    next,
                },
            };
            return Some((2, day));
        }
        "the" if word(j + 1) == "weekend" => return Some((2, Day::Weekend { next: false })),
        _ => {}
    }
    if let Some(day) = weekday(word(j)) {
        if (word(j + 1), word(j + 2)) == ("next", "week") {
            return Some((3, Day::InNextWeek(day)));
        }
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
