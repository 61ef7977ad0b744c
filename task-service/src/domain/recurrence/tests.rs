//! The recurrence rules' tests: presets and RRULEs across DST, COUNT and
//! UNTIL, limits, and properties over generated rules.

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
    let mut current = Occurrence {
        due: start,
        number: 1,
    };
    for _ in 0..n {
        match recurrence
            .next_after(zone(z), start, current, current.due)
            .unwrap()
        {
            Some(next) => {
                out.push(next.due);
                current = next;
            }
            None => break,
        }
    }
    out
}

#[test]
fn recurrence_accepts_presets_and_real_rrules_only() {
    let utc = TimeZone::default();
    let due = || Some(at("UTC", 2027, 1, 31, 8, 0));
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
fn missed_occurrences_are_not_back_filled_but_count_toward_count() {
    let start = at("UTC", 2027, 1, 1, 9, 0);
    let later = at("UTC", 2027, 1, 10, 12, 0);
    let first = Occurrence {
        due: start,
        number: 1,
    };
    let daily = Recurrence::parse("daily").unwrap();
    assert_eq!(
        daily.next_after(zone("UTC"), start, first, later).unwrap(),
        Some(Occurrence {
            due: at("UTC", 2027, 1, 11, 9, 0),
            number: 11
        })
    );
    // Jan 2 to Jan 10 were missed: numbers 2 to 10. Jan 11 is the 11th.
    let eleven = Recurrence::parse("FREQ=DAILY;COUNT=11").unwrap();
    let next = eleven.next_after(zone("UTC"), start, first, later).unwrap();
    assert_eq!(next.map(|n| n.number), Some(11));
    let ten = Recurrence::parse("FREQ=DAILY;COUNT=10").unwrap();
    assert_eq!(
        ten.next_after(zone("UTC"), start, first, later).unwrap(),
        None
    );
}

#[test]
fn a_long_series_goes_on_from_its_current_occurrence() {
    // 20,000 hours in: counted from the start this was the old cap.
    let start = at("UTC", 2027, 1, 1, 0, 0);
    let current = Occurrence {
        due: start + chrono::Duration::hours(20_000),
        number: 20_001,
    };
    let hourly = Recurrence::parse("FREQ=HOURLY;COUNT=20002").unwrap();
    let next = hourly
        .next_after(zone("UTC"), start, current, current.due)
        .unwrap()
        .unwrap();
    assert_eq!(next.due, current.due + chrono::Duration::hours(1));
    assert_eq!(next.number, 20_002);
    assert_eq!(
        hourly
            .next_after(zone("UTC"), start, next, next.due)
            .unwrap(),
        None,
        "COUNT=20002 ends after the 20,002nd"
    );
}

#[test]
fn limits_refuse_fine_rules_and_long_values() {
    for rule in [
        "FREQ=SECONDLY",
        "FREQ=MINUTELY;INTERVAL=60",
        "FREQ=HOURLY;BYMINUTE=0,30",
        "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12;BYMINUTE=0,30",
        "FREQ=WEEKLY;BYHOUR=9;BYMINUTE=0;BYSECOND=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24",
    ] {
        assert!(Recurrence::parse(rule).is_err(), "{rule} must be refused");
    }
    for rule in [
        "FREQ=HOURLY",
        "FREQ=HOURLY;INTERVAL=2;BYMINUTE=0,30",
        "FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23",
        "FREQ=DAILY;BYHOUR=9,10;BYMINUTE=0,15,30,45;BYSETPOS=1,-1",
    ] {
        assert!(Recurrence::parse(rule).is_ok(), "{rule} must be accepted");
    }
    let long = format!("FREQ=DAILY;BYMONTH={}", vec!["1"; 300].join(","));
    let err = Recurrence::parse(&long).unwrap_err();
    assert!(err.contains("at most 500 characters"), "{err}");
}

#[test]
fn a_rule_that_never_fires_yields_nothing_within_the_budget() {
    let start = at("UTC", 2027, 1, 1, 9, 0);
    let first = Occurrence {
        due: start,
        number: 1,
    };
    let never = Recurrence::parse("FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30").unwrap();
    assert!(!never.ends());
    assert!(matches!(
        never.next_after(zone("UTC"), start, first, start),
        Ok(None) | Err(OverBudget)
    ));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const FREQS: [&str; 7] = [
        "SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY",
    ];
    const ZONES: [&str; 4] = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
    ];

    fn list(range: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = String> {
        prop::collection::vec(range, 1..6)
            .prop_map(|v| v.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
    }

    /// RRULE values built from real parts with values in and out of range.
    fn rule() -> impl Strategy<Value = String> {
        let part = prop_oneof![
            (1..400u32).prop_map(|n| format!("INTERVAL={n}")),
            (1..5000u32).prop_map(|n| format!("COUNT={n}")),
            Just("UNTIL=20300101T000000Z".to_owned()),
            list(-2..=61).prop_map(|l| format!("BYSECOND={l}")),
            list(-2..=61).prop_map(|l| format!("BYMINUTE={l}")),
            list(-1..=25).prop_map(|l| format!("BYHOUR={l}")),
            list(-32..=32).prop_map(|l| format!("BYMONTHDAY={l}")),
            list(-367..=367).prop_map(|l| format!("BYYEARDAY={l}")),
            list(-54..=54).prop_map(|l| format!("BYWEEKNO={l}")),
            list(0..=13).prop_map(|l| format!("BYMONTH={l}")),
            list(-10..=10).prop_map(|l| format!("BYSETPOS={l}")),
            prop::sample::subsequence(
                vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU", "1MO", "-1FR"],
                1..4
            )
            .prop_map(|d| format!("BYDAY={}", d.join(","))),
        ];
        (
            prop::sample::select(&FREQS[..]),
            prop::collection::vec(part, 0..5),
        )
            .prop_map(|(freq, parts)| {
                std::iter::once(format!("FREQ={freq}"))
                    .chain(parts)
                    .collect::<Vec<_>>()
                    .join(";")
            })
    }

    fn any_rule() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => rule(),
            1 => ".{0,80}",
            1 => prop::sample::select(&PRESETS[..]).prop_map(str::to_owned),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any rule is refused, or gives its next occurrence (strictly
        /// later than both the current one and `after`), ends, or reports
        /// the budget spent: never a panic, never backwards.
        #[test]
        fn any_rule_is_refused_or_moves_forward_within_the_budget(
            raw in any_rule(),
            zone_name in prop::sample::select(&ZONES[..]),
            start_secs in 946_684_800i64..4_102_444_800,
            gap_hours in 0i64..20_000,
            number in 1u32..10_000,
        ) {
            let Ok(recurrence) = Recurrence::parse(&raw) else { return Ok(()) };
            let z = zone(zone_name);
            let start = DateTime::from_timestamp(start_secs, 0).unwrap();
            if recurrence.check_from(Some(start), z).is_err() {
                return Ok(());
            }
            let current = Occurrence { due: start, number };
            let after = start + chrono::Duration::hours(gap_hours);
            // Ok(None) (ended) and Err(OverBudget) are both answers.
            if let Ok(Some(next)) = recurrence.next_after(z, start, current, after) {
                prop_assert!(next.due > after && next.due > current.due);
                prop_assert!(next.number > current.number);
            }
        }

        /// Limits hold for every accepted rule: no SECONDLY or MINUTELY,
        /// at most 500 characters.
        #[test]
        fn accepted_rules_respect_the_limits(raw in any_rule()) {
            if let Ok(recurrence) = Recurrence::parse(&raw) {
                prop_assert!(recurrence.as_str().chars().count() <= MAX_CHARS);
                prop_assert!(!recurrence.as_str().contains("SECONDLY"));
                prop_assert!(!recurrence.as_str().contains("MINUTELY"));
            }
        }
    }
}
