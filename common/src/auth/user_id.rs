//! The one identity both services share: a JWT `sub`, a task's owner, a
//! contact's user.

/// A user id: 1 to 128 characters, no NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub const MAX_CHARS: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        let n = raw.chars().count();
        if n == 0 || n > Self::MAX_CHARS {
            return Err(format!(
                "must be 1 to {} characters, got {n}",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A value read back from our own database, where only parsed ids are
    /// written.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
