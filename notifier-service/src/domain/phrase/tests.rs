//! The phrasings people write, each with the task it must give, read at a
//! fixed "now" in Europe/Berlin or America/New_York.

use chrono::{NaiveDateTime, TimeZone, Weekday};
use chrono_tz::Tz;

use super::{read, Dialect, Due, Priority, Repeat, Said};

const BERLIN: &str = "Europe/Berlin";
const NEW_YORK: &str = "America/New_York";
/// Monday 30 November 2026, 10:00 in Berlin.
const MONDAY: &str = "2026-11-30 10:00";
/// Friday 4 December 2026, 10:00.
const FRIDAY: &str = "2026-12-04 10:00";

fn said(zone: &str, now: &str, text: &str) -> (Tz, Said) {
    let zone: Tz = zone.parse().unwrap();
    let naive = NaiveDateTime::parse_from_str(now, "%Y-%m-%d %H:%M").unwrap();
    let now = zone.from_local_datetime(&naive).earliest().unwrap();
    let dialect = if zone.name().starts_with("America/") {
        Dialect::Us
    } else {
        Dialect::Uk
    };
    (zone, read(text, now, dialect))
}

/// `""`: no due time; `"?words"`: words that are no date; else the local
/// time with its offset.
fn due_text(zone: Tz, due: &Due) -> String {
    match due {
        Due::None => String::new(),
        Due::Unreadable(words) => format!("?{words}"),
        Due::At(at) => at
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %:z")
            .to_string(),
    }
}

#[test]
fn phrasings_give_their_title_and_due_time() {
    #[rustfmt::skip]
    let table: &[(&str, &str, &str, &str, &str)] = &[
        // zone, now, what was written, title, due
        (BERLIN, MONDAY, "pay rent tomorrow 9am #home", "pay rent", "2026-12-01 09:00 +01:00"),
        (BERLIN, MONDAY, "call mom friday at 18:00", "call mom", "2026-12-04 18:00 +01:00"),
        (BERLIN, MONDAY, "dentist on 12 March at 14:30", "dentist", "2027-03-12 14:30 +01:00"),
        (BERLIN, MONDAY, "check the oven in 2 hours", "check the oven", "2026-11-30 12:00 +01:00"),
        (BERLIN, MONDAY, "take out the bins tonight", "take out the bins", "2026-11-30 20:00 +01:00"),
        (BERLIN, MONDAY, "submit report next monday", "submit report", "2026-12-07 09:00 +01:00"),
        (BERLIN, MONDAY, "gym monday 7am", "gym", "2026-12-07 07:00 +01:00"),
        (BERLIN, MONDAY, "standup monday 11:00", "standup", "2026-11-30 11:00 +01:00"),
        (BERLIN, MONDAY, "water plants at 9am", "water plants", "2026-12-01 09:00 +01:00"),
        (BERLIN, MONDAY, "water plants at 11am", "water plants", "2026-11-30 11:00 +01:00"),
        (BERLIN, MONDAY, "buy milk", "buy milk", ""),
        (BERLIN, MONDAY, "\"Meet at 5pm tomorrow\" poster", "Meet at 5pm tomorrow poster", ""),
        (BERLIN, MONDAY, "buy “The 5th Wave” tomorrow", "buy The 5th Wave", "2026-12-01 09:00 +01:00"),
        (BERLIN, MONDAY, "read The 5th Wave", "read The 5th Wave", ""),
        (BERLIN, MONDAY, "pay invoice 2 of 3 by friday !high", "pay invoice 2 of 3", "2026-12-04 09:00 +01:00"),
        (BERLIN, MONDAY, "call bob 6pm", "call bob", "2026-11-30 18:00 +01:00"),
        (BERLIN, MONDAY, "call bob 6 pm", "call bob", "2026-11-30 18:00 +01:00"),
        (BERLIN, MONDAY, "call bob 9:30pm", "call bob", "2026-11-30 21:30 +01:00"),
        (BERLIN, MONDAY, "call bob 9.30am", "call bob", "2026-12-01 09:30 +01:00"),
        (BERLIN, MONDAY, "lunch with Ana tomorrow noon", "lunch with Ana", "2026-12-01 12:00 +01:00"),
        (BERLIN, MONDAY, "dinner tomorrow evening", "dinner", "2026-12-01 19:00 +01:00"),
        (BERLIN, MONDAY, "flight 2026-12-24 18:00", "flight", "2026-12-24 18:00 +01:00"),
        (BERLIN, MONDAY, "party 24/12", "party", "2026-12-24 09:00 +01:00"),
        (BERLIN, MONDAY, "taxes 31 feb", "taxes 31 feb", "?31 feb"),
        (BERLIN, MONDAY, "alarm 25:00", "alarm 25:00", "?25:00"),
        // A written year that has passed: no due time (found by the
        // property test below in CI, 2026-12-05: "1/1/0" was 2000-01-01).
        (BERLIN, MONDAY, "party 1/1/0", "party 1/1/0", "?1/1/0"),
        (BERLIN, MONDAY, "party 24/12/2025", "party 24/12/2025", "?24/12/2025"),
        (BERLIN, MONDAY, "party 2026-11-29", "party 2026-11-29", "?2026-11-29"),
        (BERLIN, MONDAY, "party 12 march 2026", "party 12 march 2026", "?12 march 2026"),
        // Today with its year stays today, as "today" does.
        (BERLIN, MONDAY, "standup 2026-11-30 08:00", "standup", "2026-11-30 08:00 +01:00"),
        (BERLIN, MONDAY, "remind me to call the bank in 30 minutes", "call the bank", "2026-11-30 10:30 +01:00"),
        (BERLIN, MONDAY, "meeting in 3 days at 14:00", "meeting", "2026-12-03 14:00 +01:00"),
        (BERLIN, MONDAY, "in 2 weeks renew subscription", "renew subscription", "2026-12-14 09:00 +01:00"),
        (BERLIN, MONDAY, "Buy milk, tomorrow.", "Buy milk", "2026-12-01 09:00 +01:00"),
        (BERLIN, MONDAY, "march 12th call landlord", "call landlord", "2027-03-12 09:00 +01:00"),
        (BERLIN, MONDAY, "send card on dec 1", "send card", "2026-12-01 09:00 +01:00"),
        (BERLIN, MONDAY, "May the force be with you", "May the force be with you", ""),
        (BERLIN, MONDAY, "pay rent on the 1st", "pay rent on the 1st", ""),
        (BERLIN, MONDAY, "tickets 12 march 2027 8pm", "tickets", "2027-03-12 20:00 +01:00"),
        (BERLIN, MONDAY, "today", "", "2026-11-30 11:00 +01:00"),
        (BERLIN, "2026-11-30 21:10", "tidy up tonight", "tidy up", "2026-11-30 22:00 +01:00"),
        // Weeks, months and weekends (weeks start on Monday).
        (BERLIN, MONDAY, "plan sprint next week", "plan sprint", "2026-12-07 09:00 +01:00"),
        (BERLIN, MONDAY, "plan sprint next week at 2pm", "plan sprint", "2026-12-07 14:00 +01:00"),
        (BERLIN, "2026-12-06 10:00", "plan sprint next week", "plan sprint", "2026-12-07 09:00 +01:00"),
        (BERLIN, "2026-12-15 10:00", "pay insurance next month", "pay insurance", "2027-01-01 09:00 +01:00"),
        (BERLIN, MONDAY, "demo next week friday", "demo", "2026-12-11 09:00 +01:00"),
        (BERLIN, MONDAY, "demo friday next week at 3pm", "demo", "2026-12-11 15:00 +01:00"),
        (BERLIN, "2026-12-06 10:00", "call bank monday next week", "call bank", "2026-12-07 09:00 +01:00"),
        (BERLIN, FRIDAY, "retro next week friday 4pm", "retro", "2026-12-11 16:00 +01:00"),
        (BERLIN, MONDAY, "clean garage this weekend", "clean garage", "2026-12-05 09:00 +01:00"),
        (BERLIN, MONDAY, "clean garage at the weekend 11am", "clean garage", "2026-12-05 11:00 +01:00"),
        (BERLIN, "2026-12-05 08:00", "hike this weekend", "hike", "2026-12-05 09:00 +01:00"),
        (BERLIN, "2026-12-05 10:00", "hike this weekend", "hike", "2026-12-06 09:00 +01:00"),
        (BERLIN, "2026-12-06 10:00", "hike this weekend", "hike", "2026-12-12 09:00 +01:00"),
        (BERLIN, MONDAY, "visit grandma next weekend", "visit grandma", "2026-12-12 09:00 +01:00"),
        (BERLIN, MONDAY, "renew passport next year", "renew passport next year", ""),
        (BERLIN, MONDAY, "tidy desk this week", "tidy desk this week", ""),
        // Month and year ends.
        (BERLIN, "2027-01-31 10:00", "renew in 1 month", "renew", "2027-02-28 09:00 +01:00"),
        (BERLIN, "2026-12-31 10:00", "new year run tomorrow", "new year run", "2027-01-01 09:00 +01:00"),
        // Days of a daylight-saving change in Berlin (28 March 2027: 02:00 → 03:00).
        (BERLIN, "2027-03-27 10:00", "call tomorrow 9am", "call", "2027-03-28 09:00 +02:00"),
        (BERLIN, "2027-03-27 10:00", "backup tomorrow 2:30am", "backup", "2027-03-28 03:30 +02:00"),
        (BERLIN, "2027-03-28 01:30", "check in 2 hours", "check", "2027-03-28 04:30 +02:00"),
        // New York: 1 November 2026 01:00–02:00 happens twice; the first is taken.
        (NEW_YORK, "2026-10-31 12:00", "feed cat tomorrow 1:30am", "feed cat", "2026-11-01 01:30 -04:00"),
        (NEW_YORK, FRIDAY, "review next friday", "review", "2026-12-11 09:00 -05:00"),
        (NEW_YORK, FRIDAY, "drinks friday 5pm", "drinks", "2026-12-04 17:00 -05:00"),
        (NEW_YORK, FRIDAY, "yoga friday 9am", "yoga", "2026-12-11 09:00 -05:00"),
        (NEW_YORK, FRIDAY, "party 12/24", "party", "2026-12-24 09:00 -05:00"),
        (NEW_YORK, FRIDAY, "call at 12am", "call", "2026-12-05 00:00 -05:00"),
        (NEW_YORK, FRIDAY, "pick up Sam at 3:15 pm on saturday", "pick up Sam", "2026-12-05 15:15 -05:00"),
    ];
    assert!(table.len() >= 40);
    let mut wrong = Vec::new();
    for (zone, now, text, title, due) in table {
        let (tz, said) = said(zone, now, text);
        let got = (said.title.as_str(), due_text(tz, &said.due));
        if got != (*title, (*due).to_owned()) {
            wrong.push(format!(
                "{text:?} at {now} {zone}: got {got:?}, want ({title:?}, {due:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn tags_priority_and_recurrence_are_read_and_leave_the_title() {
    let (tz, s) = said(
        BERLIN,
        MONDAY,
        "renew passport every year !low #admin #Admin #home",
    );
    assert_eq!(s.title, "renew passport");
    assert_eq!(s.tags, ["admin", "home"]);
    assert_eq!(s.priority, Some(Priority::Low));
    assert_eq!(s.repeat, Some(Repeat::Yearly));
    assert_eq!(due_text(tz, &s.due), "2026-12-01 09:00 +01:00");

    let (tz, s) = said(BERLIN, MONDAY, "stretch every day 8am");
    assert_eq!(
        (s.title.as_str(), s.repeat),
        ("stretch", Some(Repeat::Daily))
    );
    assert_eq!(due_text(tz, &s.due), "2026-12-01 08:00 +01:00");

    let (tz, s) = said(BERLIN, MONDAY, "team sync every monday");
    assert_eq!(s.repeat, Some(Repeat::On(Weekday::Mon)));
    assert_eq!(s.repeat.unwrap().rule(), "FREQ=WEEKLY;BYDAY=MO");
    assert_eq!(due_text(tz, &s.due), "2026-12-07 09:00 +01:00");

    let (tz, s) = said(BERLIN, MONDAY, "every friday at 5pm drinks");
    assert_eq!(
        (s.title.as_str(), s.repeat),
        ("drinks", Some(Repeat::On(Weekday::Fri)))
    );
    assert_eq!(due_text(tz, &s.due), "2026-12-04 17:00 +01:00");

    let (_, s) = said(BERLIN, MONDAY, "pay rent every month !high");
    assert_eq!(
        (s.repeat.unwrap().rule(), s.priority),
        ("monthly".to_owned(), Some(Priority::High))
    );

    let (tz, s) = said(
        BERLIN,
        MONDAY,
        "watch #movies \"Back to the Future\" saturday 8pm",
    );
    assert_eq!(
        (s.title.as_str(), s.tags.as_slice()),
        ("watch Back to the Future", ["movies".to_owned()].as_slice())
    );
    assert_eq!(due_text(tz, &s.due), "2026-12-05 20:00 +01:00");
}

#[test]
fn nothing_but_markers_leaves_no_title() {
    for text in ["#home !high", "tomorrow 9am", "  ", "\"\""] {
        assert_eq!(said(BERLIN, MONDAY, text).1.title, "", "{text:?}");
    }
}

#[test]
fn titles_and_tags_are_bounded() {
    let long = "word ".repeat(400);
    let (_, s) = said(BERLIN, MONDAY, &long);
    assert_eq!(s.title.chars().count(), 500);
    assert!(s.title.ends_with('…'));
    let many: String = (0..30).map(|i| format!("#t{i} ")).collect();
    let (_, s) = said(BERLIN, MONDAY, &format!("x {many}"));
    assert_eq!(s.tags.len(), 20);
    assert!(s.title.starts_with("x #t20"), "{}", s.title);
    let (_, s) = said(BERLIN, MONDAY, &format!("x #{}", "a".repeat(51)));
    assert!(s.tags.is_empty());
}

#[test]
fn any_text_reads_without_panicking_and_its_words_are_kept() {
    // Bytes a person (or an attacker) can send: the reading is total.
    let samples = [
        "\"",
        "“",
        "\"unclosed tomorrow",
        "in 9999 years",
        "in 1001 days",
        "00:00",
        "12pm",
        "13pm",
        "0am",
        "9:60",
        "31/31",
        "2026-13-45",
        "99/99/9999",
        "every",
        "every every day",
        "next",
        "on at by",
        "in a",
        "#",
        "!high!low",
        "tomorrow tomorrow tomorrow",
        "é 9am ü",
    ];
    for text in samples {
        let (_, s) = said(BERLIN, MONDAY, text);
        assert!(s.title.chars().count() <= 500, "{text:?}");
    }
    let (_, s) = said(BERLIN, MONDAY, "trip in 1001 days");
    assert_eq!(s.due, Due::Unreadable("in 1001 days".into()));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// Any text is read without panicking; nothing written is lost but the
    /// markers and the date (every other word is in the title, in order).
    #[test]
    fn any_text_is_read_and_bounded(text in "[a-z0-9 :#!./\"“”-]{0,80}|(tomorrow|at|on|in|9am|18:00|12|march|friday|next|week|weekend|month|this|the|every|day|#x|!high|\"| ){0,12}") {
        let (_, s) = said(BERLIN, MONDAY, &text);
        proptest::prop_assert!(s.title.chars().count() <= 500);
        proptest::prop_assert!(s.tags.len() <= 20);
        if let Due::At(at) = s.due {
            let now = chrono::Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
            proptest::prop_assert!(at > now - chrono::Duration::days(1), "{text:?} → {at}");
        }
    }
}
