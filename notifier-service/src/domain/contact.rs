//! A contact's parts, each parsed once at the edge: an E.164 number checked
//! by `phonenumber` (libphonenumber's metadata), an IANA zone, a BCP 47
//! locale, and quiet hours that may span midnight.

use std::fmt;

use chrono::{DateTime, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use todogenie_common::auth::UserId;
use todogenie_common::FieldViolations;

/// A valid phone number, always held in E.164 form (`+14155550123`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts only E.164 (a `+`, the country code, the number) that
    /// libphonenumber knows to be a valid number.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if !raw.starts_with('+') || !raw[1..].bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be E.164: `+`, country code and number, digits only".into());
        }
        let parsed = phonenumber::parse(None, raw).map_err(|_| "is not a phone number")?;
        if !phonenumber::is_valid(&parsed) {
            return Err("is not a valid number for its country".into());
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// A number as WhatsApp writes it in webhooks (`wa_id`, digits only) or
    /// Twilio (`whatsapp:+1…`).
    pub(crate) fn from_provider(raw: &str) -> Result<Self, String> {
        let raw = raw.trim().trim_start_matches("whatsapp:");
        if raw.starts_with('+') {
            Self::parse(raw)
        } else {
            Self::parse(&format!("+{raw}"))
        }
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits only, as the Cloud API's `to` takes it.
    pub(crate) fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// For logs: the country code and the last two digits only.
    pub(crate) fn masked(&self) -> String {
        let keep = self.0.len().saturating_sub(2);
        format!("{}…{}", &self.0[..3.min(keep)], &self.0[keep..])
    }
}

/// Never print a full number by accident (README, "Logs").
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// An IANA zone name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Zone(pub Tz);

impl Zone {
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Ok(Self(Tz::UTC));
        }
        raw.parse::<Tz>()
            .map(Self)
            .map_err(|_| format!("`{raw}` is not an IANA time zone name"))
    }

    pub(crate) fn name(&self) -> &'static str {
        self.0.name()
    }
}

/// A BCP 47 language tag, kept as given (e.g. `en`, `pt-BR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Locale(String);

impl Locale {
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Ok(Self("en".into()));
        }
        let tag = language_tags::LanguageTag::parse(raw)
            .map_err(|e| format!("is not a BCP 47 language tag: {e}"))?;
        Ok(Self(tag.to_string()))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The closest locale chrono can format dates in: the tag's language and
    /// region (`pt-BR` → `pt_BR`), else the language's main one, else `en_US`.
    pub(crate) fn chrono_locale(&self) -> chrono::Locale {
        let mut parts = self.0.split('-');
        let language = parts.next().unwrap_or("en").to_ascii_lowercase();
        let region = parts
            .find(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_alphabetic()))
            .map(str::to_ascii_uppercase);
        if let Some(region) = region {
            if let Ok(locale) = chrono::Locale::try_from(format!("{language}_{region}").as_str()) {
                return locale;
            }
        }
        let main_region = match language.as_str() {
            "en" => "US",
            "pt" => "PT",
            "es" => "ES",
            "de" => "DE",
            "fr" => "FR",
            "it" => "IT",
            "nl" => "NL",
            other => {
                return chrono::Locale::try_from(
                    format!("{other}_{}", other.to_ascii_uppercase()).as_str(),
                )
                .unwrap_or(chrono::Locale::en_US)
            }
        };
        chrono::Locale::try_from(format!("{language}_{main_region}").as_str())
            .unwrap_or(chrono::Locale::en_US)
    }
}

/// Local times between which nothing is sent; `start > end` spans midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    pub(crate) fn parse(start: &str, end: &str) -> Result<Self, String> {
        let time = |raw: &str| {
            NaiveTime::parse_from_str(raw, "%H:%M")
                .map_err(|_| format!("`{raw}` is not a local time HH:MM"))
        };
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err("start and end must differ".into());
        }
        Ok(Self { start, end })
    }

    /// When a message due at `at` may go out: `at` itself outside quiet
    /// hours, else the next local `end` (the first valid instant after a DST
    /// gap).
    pub(crate) fn release_time(&self, zone: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&zone);
        let now = local.time();
        let quiet = if self.start < self.end {
            now >= self.start && now < self.end
        } else {
            now >= self.start || now < self.end
        };
        if !quiet {
            return None;
        }
        let mut day = local.date_naive();
        if now >= self.end && self.start > self.end {
            day = day.succ_opt()?;
        }
        let mut naive = day.and_time(self.end);
        // A DST gap can swallow `end`: try minute by minute for an hour.
        for _ in 0..=60 {
            if let Some(release) = zone.from_local_datetime(&naive).earliest() {
                return Some(release.with_timezone(&Utc));
            }
            naive += chrono::Duration::minutes(1);
        }
        None
    }
}

/// What UpsertContact asks to store, all parts checked.
#[derive(Debug, Clone)]
pub(crate) struct ContactSpec {
    pub user: UserId,
    pub phone_number: PhoneNumber,
    pub zone: Zone,
    pub locale: Locale,
    pub whatsapp_opt_in: bool,
    pub quiet_hours: Option<QuietHours>,
}

/// What the number itself said (CONTRACT §5, "The number confirms").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NumberState {
    /// It answered Yes, or sent START.
    pub confirmed: bool,
    /// It sent STOP (or No): holds until it sends START.
    pub stopped: bool,
}

/// Whether reminders may go to a contact's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhatsAppStatus {
    /// The owner has not opted in.
    Off,
    /// Waiting for the number to confirm.
    Pending,
    Confirmed,
    /// The number sent STOP.
    Stopped,
}

impl WhatsAppStatus {
    /// A STOP from the number outranks whatever the owner set.
    pub(crate) fn of(opt_in: bool, number: NumberState) -> Self {
        match (number.stopped, opt_in, number.confirmed) {
            (true, _, _) => Self::Stopped,
            (false, false, _) => Self::Off,
            (false, true, true) => Self::Confirmed,
            (false, true, false) => Self::Pending,
        }
    }

    /// The proto enum's name, for reasons recorded on notifications.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Off => "WHATSAPP_STATUS_OFF",
            Self::Pending => "WHATSAPP_STATUS_PENDING",
            Self::Confirmed => "WHATSAPP_STATUS_CONFIRMED",
            Self::Stopped => "WHATSAPP_STATUS_STOPPED",
        }
    }
}

/// A stored contact.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub spec: ContactSpec,
    pub number: NumberState,
    pub window_expire_time: Option<DateTime<Utc>>,
    pub pacing: Pacing,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// How fast we may write to a contact: one message per 6 s, and the
/// 131056 (pair rate limit) streak behind the 1, 4, 16, 64 s schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pacing {
    /// Nothing goes to this contact before this time.
    pub next_send_time: DateTime<Utc>,
    pub pair_limited: u32,
}

impl Contact {
    pub(crate) fn whatsapp_status(&self) -> WhatsAppStatus {
        WhatsAppStatus::of(self.spec.whatsapp_opt_in, self.number)
    }

    /// Inside the 24-hour customer-service window at `now`.
    pub(crate) fn window_open(&self, now: DateTime<Utc>) -> bool {
        self.window_expire_time.is_some_and(|until| until > now)
    }
}

/// Parses each part, recording what is wrong under its field name.
pub(crate) fn parse_contact_parts(
    violations: &mut FieldViolations,
    phone_number: &str,
    time_zone: &str,
    locale: &str,
    quiet_hours: Option<(&str, &str)>,
) -> Option<(PhoneNumber, Zone, Locale, Option<QuietHours>)> {
    let phone = violations.check("contact.phone_number", PhoneNumber::parse(phone_number));
    let zone = violations.check("contact.time_zone", Zone::parse(time_zone));
    let locale = violations.check("contact.locale", Locale::parse(locale));
    let quiet = match quiet_hours {
        None => Some(None),
        Some((start, end)) => violations
            .check("contact.quiet_hours", QuietHours::parse(start, end))
            .map(Some),
    };
    Some((phone?, zone?, locale?, quiet?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_must_be_valid_e164() {
        assert_eq!(
            PhoneNumber::parse("+14155550123").unwrap().as_str(),
            "+14155550123"
        );
        assert_eq!(
            PhoneNumber::parse("+491701234567").unwrap().digits(),
            "491701234567"
        );
        assert!(PhoneNumber::parse("14155550123").is_err(), "no plus");
        assert!(PhoneNumber::parse("+1 415 555 0123").is_err(), "spaces");
        assert!(PhoneNumber::parse("+1415").is_err(), "too short");
        assert!(
            PhoneNumber::parse("+999123456789").is_err(),
            "no such country"
        );
        assert_eq!(
            PhoneNumber::from_provider("whatsapp:+14155550123")
                .unwrap()
                .as_str(),
            "+14155550123"
        );
        assert_eq!(
            PhoneNumber::from_provider("14155550123").unwrap().as_str(),
            "+14155550123"
        );
        assert!(!format!("{:?}", PhoneNumber::parse("+14155550123").unwrap()).contains("555012"));
    }

    #[test]
    fn quiet_hours_hold_until_their_end_across_midnight_and_dst() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let night = QuietHours::parse("22:00", "07:00").unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 23:30 local (CET, UTC+1) → 07:00 next morning.
        assert_eq!(
            night.release_time(berlin, at("2026-01-10T22:30:00Z")),
            Some(at("2026-01-11T06:00:00Z"))
        );
        // 05:00 local → 07:00 the same morning.
        assert_eq!(
            night.release_time(berlin, at("2026-01-11T04:00:00Z")),
            Some(at("2026-01-11T06:00:00Z"))
        );
        assert_eq!(night.release_time(berlin, at("2026-01-11T12:00:00Z")), None);
        // 02:00-02:30 does not exist on 29 March 2026 in Berlin.
        let gap = QuietHours::parse("01:00", "02:30").unwrap();
        assert_eq!(
            gap.release_time(berlin, at("2026-03-29T00:30:00Z")),
            Some(at("2026-03-29T01:00:00Z"))
        );
        assert!(QuietHours::parse("25:00", "07:00").is_err());
    }

    #[test]
    fn stop_outranks_the_owners_wish_and_only_a_confirmed_number_gets_reminders() {
        use WhatsAppStatus::*;
        let number = |confirmed, stopped| NumberState { confirmed, stopped };
        assert_eq!(WhatsAppStatus::of(false, number(false, false)), Off);
        assert_eq!(WhatsAppStatus::of(false, number(true, false)), Off);
        assert_eq!(WhatsAppStatus::of(true, number(false, false)), Pending);
        assert_eq!(WhatsAppStatus::of(true, number(true, false)), Confirmed);
        assert_eq!(WhatsAppStatus::of(true, number(true, true)), Stopped);
        assert_eq!(WhatsAppStatus::of(false, number(false, true)), Stopped);
    }

    #[test]
    fn locales_are_bcp47_and_map_to_a_date_locale() {
        assert_eq!(Locale::parse("").unwrap().as_str(), "en");
        assert_eq!(
            Locale::parse("pt-BR").unwrap().chrono_locale(),
            chrono::Locale::pt_BR
        );
        assert_eq!(
            Locale::parse("de").unwrap().chrono_locale(),
            chrono::Locale::de_DE
        );
        assert!(Locale::parse("not a tag!").is_err());
    }
}
