//! Text fields of a task and of a caller, each parsed once at the edge.

use std::collections::HashSet;

/// PostgreSQL `text` cannot hold NUL; refusing it here keeps it a user error.
fn reject_nul(value: &str) -> Result<(), String> {
    if value.contains('\0') {
        Err("must not contain NUL characters".into())
    } else {
        Ok(())
    }
}

/// A task title: 1 to 500 characters after trimming, stored trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub const MAX_CHARS: usize = 500;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        reject_nul(trimmed)?;
        match trimmed.chars().count() {
            0 => Err("is required and must not be blank".into()),
            n if n > Self::MAX_CHARS => Err(format!(
                "must be at most {} characters, got {n}",
                Self::MAX_CHARS
            )),
            _ => Ok(Self(trimmed.to_owned())),
        }
    }

    /// For values read back from our own database, which were parsed on the way in.
    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A task description: at most 10,000 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(raw: &str) -> Result<Self, String> {
        reject_nul(raw)?;
        let n = raw.chars().count();
        if n > Self::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters, got {n}",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to 20 tags of 1 to 50 characters, trimmed, kept as given, with later
/// duplicates that differ only in case dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

impl Tags {
    pub const MAX_COUNT: usize = 20;
    pub const MAX_CHARS: usize = 50;

    /// Parses every tag; errors are `(index, description)` so the caller can
    /// name `tags[i]`.
    pub fn parse(raw: &[String]) -> Result<Self, Vec<(Option<usize>, String)>> {
        if raw.len() > Self::MAX_COUNT {
            // Over the limit is one error for the list, not one per tag.
            let distinct = raw
                .iter()
                .map(|t| fold(t.trim()))
                .collect::<HashSet<_>>()
                .len();
            if distinct > Self::MAX_COUNT {
                return Err(vec![(
                    None,
                    format!("at most {} tags, got {distinct}", Self::MAX_COUNT),
                )]);
            }
        }
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        let mut tags = Vec::new();
        for (i, tag) in raw.iter().enumerate() {
            let trimmed = tag.trim();
            let n = trimmed.chars().count();
            if let Err(e) = reject_nul(trimmed) {
                errors.push((Some(i), e));
            } else if n == 0 || n > Self::MAX_CHARS {
                errors.push((
                    Some(i),
                    format!(
                        "must be 1 to {} characters after trimming, got {n}",
                        Self::MAX_CHARS
                    ),
                ));
            } else if seen.insert(fold(trimmed)) {
                tags.push(trimmed.to_owned());
            }
        }
        if tags.len() > Self::MAX_COUNT {
            errors.push((
                None,
                format!("at most {} tags, got {}", Self::MAX_COUNT, tags.len()),
            ));
        }
        if errors.is_empty() {
            Ok(Self(tags))
        } else {
            Err(errors)
        }
    }

    pub(crate) fn from_stored(tags: Vec<String>) -> Self {
        Self(tags)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The case-folded forms, as stored for matching.
    pub fn folded(&self) -> Vec<String> {
        self.0.iter().map(|t| fold(t)).collect()
    }
}

/// Case folding used on both sides of every tag comparison.
pub fn fold(tag: &str) -> String {
    tag.trim().to_lowercase()
}

/// A CreateTask idempotency key: 1 to 128 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        reject_nul(raw)?;
        let n = raw.chars().count();
        if n == 0 || n > 128 {
            return Err(format!("must be 1 to 128 characters, got {n}"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters_not_bytes() {
        assert_eq!(
            TaskTitle::parse("  Pay rent \n").unwrap().as_str(),
            "Pay rent"
        );
        assert!(TaskTitle::parse("   ").is_err());
        assert!(TaskTitle::parse(&"é".repeat(500)).is_ok());
        assert!(TaskTitle::parse(&"é".repeat(501)).is_err());
        assert!(TaskTitle::parse("a\0b").is_err());
    }

    #[test]
    fn tags_drop_case_duplicates_and_keep_the_first_spelling() {
        let raw = vec![" Home".to_string(), "home".into(), "WORK".into()];
        let tags = Tags::parse(&raw).unwrap();
        assert_eq!(tags.as_slice(), ["Home", "WORK"]);
        assert_eq!(tags.folded(), ["home", "work"]);
    }

    #[test]
    fn tags_name_each_bad_one_within_the_limit() {
        let mut raw: Vec<String> = (0..18).map(|i| format!("t{i}")).collect();
        raw.push(" ".into());
        raw.push("x".repeat(51));
        let errors = Tags::parse(&raw).unwrap_err();
        let named: Vec<_> = errors.iter().map(|e| e.0).collect();
        assert_eq!(named, [Some(18), Some(19)]);
    }

    #[test]
    fn too_many_tags_are_one_error_however_bad_each_is() {
        let raw: Vec<String> = (0..3000)
            .map(|i| format!("{i}{}", "x".repeat(60)))
            .collect();
        let errors = Tags::parse(&raw).unwrap_err();
        assert_eq!(errors, [(None, "at most 20 tags, got 3000".to_owned())]);
        // Case duplicates are dropped, so they do not count toward the limit.
        let mut dupes: Vec<String> = (0..20).map(|i| format!("t{i}")).collect();
        dupes.extend((0..20).map(|i| format!("T{i}")));
        assert_eq!(Tags::parse(&dupes).unwrap().as_slice().len(), 20);
    }
}
