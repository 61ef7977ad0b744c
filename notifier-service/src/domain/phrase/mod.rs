//! What a person means by a message to the business number: a task title,
//! a due time in plain English, `#tags`, `!high` or `!low`, and "every …" as
//! the recurrence; text in double quotes is kept exactly as written. The
//! calendar arithmetic is `interim`'s (module `when`); this layer decides
//! which words are the date, and reads everything around them.

mod grammar;
mod when;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc, Weekday};
use chrono_tz::Tz;

pub(crate) use interim::Dialect;

/// task-service's limits on what we would send it (README, "Talking to TodoGenie").
const MAX_TITLE_CHARS: usize = 500;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    Low,
    High,
}

/// "every day", "every week", "every month", "every year", "every weekday"
/// and "every monday" … "every sunday".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    Daily,
    Weekly,
    Monthly,
    Yearly,
    Weekdays,
    On(Weekday),
}

impl Repeat {
    /// task-service's `recurrence`: a preset or an RRULE value.
    pub(crate) fn rule(self) -> String {
        match self {
            Repeat::Daily => "daily".into(),
            Repeat::Weekly => "weekly".into(),
            Repeat::Monthly => "monthly".into(),
            Repeat::Yearly => "yearly".into(),
            Repeat::Weekdays => "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR".into(),
            Repeat::On(day) => format!("FREQ=WEEKLY;BYDAY={}", &rrule_day(day)),
        }
    }

    /// How the answer says it.
    pub(crate) fn describe(self) -> String {
        match self {
            Repeat::Daily => "every day".into(),
            Repeat::Weekly => "every week".into(),
            Repeat::Monthly => "every month".into(),
            Repeat::Yearly => "every year".into(),
            Repeat::Weekdays => "every weekday".into(),
            Repeat::On(day) => format!("every {}", grammar::weekday_name(day)),
        }
    }

    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "day" => Repeat::Daily,
            "week" => Repeat::Weekly,
            "month" => Repeat::Monthly,
            "year" => Repeat::Yearly,
            "weekday" => Repeat::Weekdays,
            other => Repeat::On(grammar::weekday(other)?),
        })
    }
}

fn rrule_day(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

/// When the task is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Due {
    /// No date or time was written.
    None,
    At(DateTime<Utc>),
    /// Words that look like a date but are none (for instance "31 feb"); they
    /// stay in the title and the answer says so.
    Unreadable(String),
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Said {
    /// Empty when nothing but a date, tags and the like was written.
    pub title: String,
    pub due: Due,
    pub tags: Vec<String>,
    pub priority: Option<Priority>,
    pub repeat: Option<Repeat>,
}

/// One piece of the message: a word, or text in double quotes.
#[derive(Debug)]
enum Piece<'a> {
    Word(&'a str),
    Quoted(&'a str),
}

/// Splits on white space, keeping `"…"` (and `“…”`, as phones type them)
/// whole; an unclosed quote is an ordinary character.
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some((start, open)) = rest.char_indices().find(|&(_, c)| matches!(c, '"' | '“'))
        else {
            out.extend(rest.split_whitespace().map(Piece::Word));
            break;
        };
        let after = &rest[start + open.len_utf8()..];
        let Some(end) = after.find(['"', '”']) else {
            out.extend(rest.split_whitespace().map(Piece::Word));
            break;
        };
        out.extend(rest[..start].split_whitespace().map(Piece::Word));
        out.push(Piece::Quoted(&after[..end]));
        let close = after[end..].chars().next().map_or(1, char::len_utf8);
        rest = &after[end + close..];
    }
    out
}

/// A word as the grammar compares it: lower case, without the punctuation
/// a sentence puts around it.
fn norm(word: &str) -> String {
    word.trim_matches([',', ';', '!', '?', '(', ')'])
        .trim_end_matches('.')
        .to_lowercase()
}

fn tag(word: &str) -> Option<&str> {
    let name = word
        .strip_prefix('#')?
        .trim_end_matches([',', ';', '.', '!', '?', ')']);
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_TAG_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    valid.then_some(name)
}

/// Reads `text` as written by a person whose clock says `now` (in their
/// zone). `dialect` decides what `03/12` means (US: March 12).
pub(crate) fn read(text: &str, now: DateTime<Tz>, dialect: Dialect) -> Said {
    let pieces = pieces(text);
    // What each piece became: `None` while it is still a title word.
    let mut taken = vec![false; pieces.len()];
    let mut tags: Vec<String> = Vec::new();
    let mut priority = None;
    let mut repeat = None;
    for (i, piece) in pieces.iter().enumerate() {
        let Piece::Word(word) = piece else { continue };
        if let Some(name) = tag(word) {
            if tags.len() < MAX_TAGS && !tags.iter().any(|t| t.eq_ignore_ascii_case(name)) {
                tags.push(name.to_owned());
                taken[i] = true;
            } else if tags.iter().any(|t| t.eq_ignore_ascii_case(name)) {
                taken[i] = true;
            }
            continue;
        }
        let marker = word.trim_end_matches([',', ';', '.']).to_lowercase();
        match marker.as_str() {
            "!high" => (priority, taken[i]) = (Some(Priority::High), true),
            "!low" => (priority, taken[i]) = (Some(Priority::Low), true),
            "every" if repeat.is_none() => {
                if let Some(Piece::Word(next)) = pieces.get(i + 1) {
                    if let Some(r) = Repeat::parse(&norm(next)) {
                        repeat = Some(r);
                        taken[i] = true;
                        taken[i + 1] = true;
                    }
                }
            }
            _ => {}
        }
    }
    // The date is looked for in the words left, in order; quoted text and
    // the end of the message break a date apart.
    let rest: Vec<usize> = (0..pieces.len()).filter(|&i| !taken[i]).collect();
    let words: Vec<Option<String>> = rest
        .iter()
        .map(|&i| match pieces[i] {
            Piece::Word(w) => Some(norm(w)),
            Piece::Quoted(_) => None,
        })
        .collect();
    let mut due = Due::None;
    if let Some(found) = grammar::find(&words) {
        let span = &rest[found.start..found.start + found.len];
        match when::resolve(&found.spec, now, dialect, repeat) {
            Some(at) => {
                due = Due::At(at);
                for &i in span {
                    taken[i] = true;
                }
            }
            None => {
                let written: Vec<&str> = span
                    .iter()
                    .map(|&i| match pieces[i] {
                        Piece::Word(w) | Piece::Quoted(w) => w,
                    })
                    .collect();
                due = Due::Unreadable(written.join(" "));
            }
        }
    }
    if due == Due::None {
        if let Some(r) = repeat {
            due = Due::At(when::first_of(r, None, now));
        }
    }
    let title: Vec<&str> = pieces
        .iter()
        .zip(&taken)
        .filter(|(_, &t)| !t)
        .map(|(p, _)| match p {
            Piece::Word(w) | Piece::Quoted(w) => *w,
        })
        .collect();
    Said {
        title: title_of(&title.join(" ")),
        due,
        tags,
        priority,
        repeat,
    }
}

/// The words left, without a leading "remind me (to)" or trailing
/// punctuation, cut to task-service's limit.
fn title_of(words: &str) -> String {
    let mut title = words.trim();
    for prefix in ["remind me to ", "remind me "] {
        if title
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        {
            title = title[prefix.len()..].trim_start();
            break;
        }
    }
    let title = title
        .trim_end_matches(|c: char| matches!(c, ',' | ';' | ':' | '-' | '–') || c.is_whitespace());
    if title.chars().count() <= MAX_TITLE_CHARS {
        return title.to_owned();
    }
    let mut cut: String = title.chars().take(MAX_TITLE_CHARS - 1).collect();
    cut.push('…');
    cut
}
