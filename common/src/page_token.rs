//! Page tokens for ListTasks and ListNotifications: opaque to clients, signed
//! with HMAC-SHA256 so a changed byte is caught, and bound to the caller and
//! to a fingerprint of the filters and order that produced them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::{Caller, JwtSecret};

type HmacSha256 = Hmac<Sha256>;

#[derive(Serialize, Deserialize)]
struct Payload<C> {
    /// The caller the token was issued to.
    u: String,
    /// SHA-256 of the canonical filters and order, hex.
    f: String,
    c: C,
}

/// Signs and checks tokens with a key derived from `JWT_SECRET`, so every
/// replica accepts every other's tokens without another setting.
#[derive(Clone)]
pub struct PageTokens {
    key: Vec<u8>,
}

/// Longest token we issue is ~3 KB (a cursor holding a 500-character
/// title); anything much longer is refused before it is decoded.
const MAX_TOKEN_CHARS: usize = 8 * 1024;

impl PageTokens {
    pub fn new(secret: &JwtSecret) -> Self {
        let mut derive =
            HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes any key length");
        derive.update(b"todogenie/page-token/v1");
        Self {
            key: derive.finalize().into_bytes().to_vec(),
        }
    }

    /// What a token must have been made for: SHA-256 of the canonical
    /// filters and order, given as byte strings.
    pub fn fingerprint(parts: &[&[u8]]) -> String {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part);
            hash.update([0]);
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    pub fn encode<C: Serialize + Clone>(
        &self,
        caller: &Caller,
        fingerprint: &str,
        cursor: &C,
    ) -> String {
        let payload = Payload {
            u: caller.user.as_str().to_owned(),
            f: fingerprint.to_owned(),
            c: cursor.clone(),
        };
        let json = serde_json::to_vec(&payload).expect("a cursor always serialises");
        let mut mac = self.mac();
        mac.update(&json);
        let signature = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// The cursor of a token this service issued to `caller` for the same
    /// filters and order; a description of what is wrong otherwise.
    pub fn decode<C: DeserializeOwned>(
        &self,
        token: &str,
        caller: &Caller,
        fingerprint: &str,
    ) -> Result<C, &'static str> {
        const BAD: &str = "is not a page token issued by this service";
        if token.len() > MAX_TOKEN_CHARS {
            return Err(BAD);
        }
        let (body, signature) = token.split_once('.').ok_or(BAD)?;
        let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| BAD)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| BAD)?;
        let mut mac = self.mac();
        mac.update(&json);
        // Constant-time comparison.
        mac.verify_slice(&signature).map_err(|_| BAD)?;
        let payload: Payload<C> = serde_json::from_slice(&json).map_err(|_| BAD)?;
        if payload.u != caller.user.as_str() {
            return Err("was issued to another caller");
        }
        if payload.f != fingerprint {
            return Err("was issued for other filters or another order_by");
        }
        Ok(payload.c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Role, UserId};

    fn caller(name: &str) -> Caller {
        Caller {
            user: UserId::parse(name).unwrap(),
            role: Role::User,
        }
    }

    #[test]
    fn a_token_comes_back_only_unchanged_to_its_caller_and_query() {
        let tokens =
            PageTokens::new(&JwtSecret::new("0123456789abcdef0123456789abcdef".into()).unwrap());
        let cursor = ("2026-11-21T00:00:00Z".to_owned(), 42_u64);
        let token = tokens.encode(&caller("alice"), "f1", &cursor);
        assert_eq!(
            tokens
                .decode::<(String, u64)>(&token, &caller("alice"), "f1")
                .unwrap(),
            cursor
        );
        assert!(tokens
            .decode::<(String, u64)>(&token, &caller("bob"), "f1")
            .is_err());
        assert!(tokens
            .decode::<(String, u64)>(&token, &caller("alice"), "f2")
            .is_err());

        let mut tampered = token.into_bytes();
        tampered[3] ^= 1;
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(tokens
            .decode::<(String, u64)>(&tampered, &caller("alice"), "f1")
            .is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn tokens() -> PageTokens {
            PageTokens::new(&JwtSecret::new("0123456789abcdef0123456789abcdef".into()).unwrap())
        }

        proptest! {
            /// Whatever a client sends as a token: an error, never a panic,
            /// never a cursor.
            #[test]
            fn any_string_is_refused_without_panicking(raw in ".{0,300}") {
                prop_assert!(tokens().decode::<(String, i64)>(&raw, &caller("alice"), "f").is_err());
            }

            /// Every cursor comes back as it went, and any one changed byte
            /// of its token makes it refused.
            #[test]
            fn cursors_round_trip_and_any_flip_is_refused(
                text in ".{0,500}",
                number in any::<i64>(),
                flip in any::<prop::sample::Index>(),
                bit in 0u8..8,
            ) {
                let tokens = tokens();
                let cursor = (text, number);
                let token = tokens.encode(&caller("alice"), "f", &cursor);
                prop_assert!(token.len() <= MAX_TOKEN_CHARS);
                prop_assert_eq!(
                    tokens.decode::<(String, i64)>(&token, &caller("alice"), "f").unwrap(),
                    cursor
                );
                let mut bytes = token.into_bytes();
                let at = flip.index(bytes.len());
                bytes[at] ^= 1 << bit;
                if let Ok(flipped) = String::from_utf8(bytes) {
                    prop_assert!(
                        tokens.decode::<(String, i64)>(&flipped, &caller("alice"), "f").is_err()
                    );
                }
            }
        }
    }
}
