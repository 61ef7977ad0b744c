//! Collects every bad field of a request so one `INVALID_ARGUMENT` names them
//! all, with a `google.rpc.BadRequest` detail per field.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// `(field path, what is wrong)` pairs, in the order they were found: at
/// most [`FieldViolations::MAX`] of them, and a count of the rest, so that
/// no request can make an error larger than itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldViolations {
    listed: Vec<(String, String)>,
    more: usize,
}

/// Longest field path and description kept; user input quoted inside a
/// description is cut to 100 characters where it is quoted.
const MAX_FIELD_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 300;

fn cut(mut text: String, max: usize) -> String {
    if let Some((at, _)) = text.char_indices().nth(max) {
        text.truncate(at);
        text.push('…');
    }
    text
}

/// At most `max` characters of user input, to quote it back in an error.
pub fn quote(raw: &str, max: usize) -> String {
    cut(raw.to_owned(), max)
}

impl FieldViolations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = Self::new();
        violations.add(field, description);
        violations
    }

    /// Most violations one `BadRequest` lists.
    pub const MAX: usize = 100;

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.listed.len() < Self::MAX {
            self.listed.push((
                cut(field.into(), MAX_FIELD_CHARS),
                cut(description.into(), MAX_DESCRIPTION_CHARS),
            ));
        } else {
            self.more += 1;
        }
    }

    /// Keeps the value of `result`, or records its error under `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// The listed violations (not the ones over [`Self::MAX`]).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.listed.iter().map(|(f, d)| (f.as_str(), d.as_str()))
    }

    /// Appends `other`'s violations, within the same bound.
    pub fn extend(&mut self, other: FieldViolations) {
        for (field, description) in other.listed {
            self.add(field, description);
        }
        self.more += other.more;
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), Self> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .listed
            .iter()
            .map(|(field, d)| format!("{field}: {d}"))
            .collect();
        f.write_str(&parts.join("; "))?;
        if self.more > 0 {
            write!(f, "; and {} more not listed", self.more)?;
        }
        Ok(())
    }
}

impl From<FieldViolations> for Status {
    fn from(violations: FieldViolations) -> Self {
        let details: Vec<FieldViolation> = violations
            .iter()
            .map(|(field, description)| FieldViolation::new(field, description))
            .collect();
        // The details list them all; the message (a header) stays short.
        Status::with_error_details(
            Code::InvalidArgument,
            cut(format!("invalid argument: {violations}"), 1000),
            ErrorDetails::with_bad_request(details),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn past_the_limit_violations_are_counted_not_listed() {
        let mut violations = FieldViolations::new();
        for i in 0..3000 {
            violations.add(format!("tags[{i}]"), "x".repeat(10_000));
        }
        assert_eq!(violations.iter().count(), FieldViolations::MAX);
        assert!(violations
            .to_string()
            .ends_with("; and 2900 more not listed"));
        let status = Status::from(violations);
        assert_eq!(
            status
                .get_details_bad_request()
                .unwrap()
                .field_violations
                .len(),
            FieldViolations::MAX
        );
        assert!(status.message().chars().count() <= 1001);
    }

    proptest! {
        /// Any violations, of any length: at most 100 listed, each field and
        /// description cut, the message short, and the detail decodable.
        #[test]
        fn a_bad_request_is_bounded_whatever_goes_in(
            entries in prop::collection::vec((".{0,400}", ".{0,600}"), 0..300)
        ) {
            let mut violations = FieldViolations::new();
            for (field, description) in &entries {
                violations.add(field.as_str(), description.as_str());
            }
            prop_assert_eq!(violations.iter().count(), entries.len().min(FieldViolations::MAX));
            for (field, description) in violations.iter() {
                prop_assert!(field.chars().count() <= MAX_FIELD_CHARS + 1);
                prop_assert!(description.chars().count() <= MAX_DESCRIPTION_CHARS + 1);
            }
            if entries.is_empty() {
                return Ok(());
            }
            let status = Status::from(violations);
            prop_assert!(status.message().chars().count() <= 1001);
            let details = status.get_details_bad_request().unwrap();
            prop_assert_eq!(details.field_violations.len(), entries.len().min(FieldViolations::MAX));
        }
    }
}
