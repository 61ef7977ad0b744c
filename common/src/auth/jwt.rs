//! Issuing and checking HS256 tokens with `jsonwebtoken`. Only HS256 is
//! accepted, `exp` and `sub` are required, and no token text is ever logged.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Caller, Role, UserId};

/// `JWT_SECRET`: never printed, not even by `{:?}`.
#[derive(Clone)]
pub struct JwtSecret(String);

impl JwtSecret {
    /// HS256 keys shorter than the hash are weak; 32 bytes is SHA-256's size.
    pub const MIN_BYTES: usize = 32;

    pub fn new(secret: String) -> Result<Self, String> {
        if secret.len() < Self::MIN_BYTES {
            return Err(format!("must be at least {} bytes", Self::MIN_BYTES));
        }
        Ok(Self(secret))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    exp: u64,
}

/// Why a token was refused; said to the client without the token itself.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed, wrongly signed or expired")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("the token's sub must be 1 to 128 characters")]
    BadSubject,
    #[error("the token's role must be user, admin or service")]
    BadRole,
}

/// Keys derived once from the secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &JwtSecret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp", "sub"]);
        // Small clock skew between replicas only.
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret.expose()),
            decoding: DecodingKey::from_secret(secret.expose()),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Caller, TokenError> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(TokenError::Invalid)?
            .claims;
        let user = UserId::parse(&claims.sub).map_err(|_| TokenError::BadSubject)?;
        let role = match claims.role.as_deref() {
            None => Role::User,
            Some(raw) => Role::parse(raw).ok_or(TokenError::BadRole)?,
        };
        Ok(Caller { user, role })
    }

    /// A signed token for `sub` with `role`, valid for `ttl`.
    pub fn issue(&self, sub: &UserId, role: Role, ttl: Duration) -> String {
        let exp = SystemTime::now()
            .checked_add(ttl)
            .unwrap_or(SystemTime::now())
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            sub: sub.as_str().to_owned(),
            role: Some(role.as_str().to_owned()),
            exp,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of a plain claims struct cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> JwtKeys {
        JwtKeys::new(&JwtSecret::new(secret.into()).unwrap())
    }

    #[test]
    fn a_token_round_trips_with_its_role() {
        let keys = keys("a-secret-of-thirty-two-bytes-long");
        let token = keys.issue(
            &UserId::parse("alice").unwrap(),
            Role::Admin,
            Duration::from_secs(60),
        );
        let caller = keys.verify(&token).unwrap();
        assert_eq!(caller.user.as_str(), "alice");
        assert_eq!(caller.role, Role::Admin);
    }

    #[test]
    fn another_secret_an_expiry_or_another_algorithm_is_refused() {
        let ours = keys("a-secret-of-thirty-two-bytes-long");
        let theirs = keys("another-secret-of-thirty-two-bytes");
        let alice = UserId::parse("alice").unwrap();
        let forged = theirs.issue(&alice, Role::Admin, Duration::from_secs(60));
        assert!(ours.verify(&forged).is_err());

        let expired = Claims {
            sub: "alice".into(),
            role: None,
            exp: 1_000,
        };
        let secret = EncodingKey::from_secret(b"a-secret-of-thirty-two-bytes-long");
        let old = encode(&Header::new(Algorithm::HS256), &expired, &secret).unwrap();
        assert!(ours.verify(&old).is_err());

        let far = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let claims = Claims {
            sub: "alice".into(),
            role: None,
            exp: far,
        };
        let hs384 = encode(&Header::new(Algorithm::HS384), &claims, &secret).unwrap();
        assert!(ours.verify(&hs384).is_err());
        let hs256 = encode(&Header::new(Algorithm::HS256), &claims, &secret).unwrap();
        assert_eq!(
            ours.verify(&hs256).unwrap().role,
            Role::User,
            "no role means user"
        );
    }
}
