//! Claims, and issuing and verifying the built-in issuer's tokens.
//!
//! Key rotation: tokens are signed with the current secret and carry its key
//! id (`kid`, the first 8 bytes of the secret's SHA-256, in hex). Verification
//! picks the key by `kid` among the current and the previous secrets; a token
//! without `kid` is tried against the current secret only.

use super::{Issuer, Viewer, ViewerKind};
use crate::domain::account::Email;
use chrono::{DateTime, Duration, TimeZone, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// The `iss` of tokens cartql signs itself.
pub const ISSUER: &str = "cartql";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 5;
/// The longest lifetime a token may be issued with.
pub const MAX_TTL_DAYS: i64 = 366;

/// What a cartql token carries. Everything else about a viewer is in the store.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The viewer's id.
    pub sub: String,
    /// Issuer, always [`ISSUER`].
    pub iss: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not before (seconds since the epoch).
    pub nbf: i64,
    /// Expires at (seconds since the epoch). Required.
    pub exp: i64,
    /// Guest or customer.
    pub kind: ViewerKind,
    /// Granted roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// When the session began (seconds): the log-in, sign-up or guest session
    /// this token descends from; renewals keep it. Absent in tokens of older
    /// versions (then `iat` stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The customer's e-mail (built-in customers), for their carts' buyer identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// What a new token says, with every time decided by the caller (in seconds
/// since the epoch).
#[derive(Clone, Debug)]
pub struct Grant<'a> {
    /// The viewer id.
    pub subject: &'a str,
    /// Guest or customer.
    pub kind: ViewerKind,
    /// Roles to grant.
    pub roles: &'a [String],
    /// `iat`: may be later than now (see `IdentityStore::valid_after`), never earlier.
    pub issued_at: i64,
    /// `nbf` and the moment the grant is made.
    pub now: i64,
    /// `exp`.
    pub expires_at: i64,
    /// `auth_time`: when the session began.
    pub auth_time: i64,
    /// The customer's e-mail, if known.
    pub email: Option<&'a Email>,
}

/// Why a token was refused. Every variant answers HTTP 401 with
/// `WWW-Authenticate: Bearer error="invalid_token"`; the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be 'Bearer <token>'")]
    BadHeader,
    /// Not three base64url parts, or unreadable JSON.
    #[error("the token is malformed")]
    Malformed,
    /// Signed with another algorithm than the one configured (including `none`).
    #[error("the token's algorithm is not accepted")]
    WrongAlgorithm,
    /// The signature does not match.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Wrong `iss`, a missing required claim, or a claim of the wrong shape.
    #[error("the token's claims are invalid: {0}")]
    BadClaims(String),
    /// The `kid` names no key the server accepts (unknown, or rotated out).
    #[error("the token's key id is not known")]
    UnknownKey,
    /// Issued before the owner's last "log out everywhere".
    #[error("the token has been revoked; log in again")]
    Revoked,
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenError::WrongAlgorithm
            }
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::BadClaims("unexpected issuer".into()),
            ErrorKind::InvalidAudience => TokenError::BadClaims("unexpected audience".into()),
            ErrorKind::MissingRequiredClaim(c) => TokenError::BadClaims(format!("missing '{c}'")),
            ErrorKind::Json(e) => TokenError::BadClaims(e.to_string()),
            _ => TokenError::Malformed,
        }
    }
}

/// One HMAC key and its id.
struct HmacKey {
    kid: String,
    decoding: DecodingKey,
}

/// The built-in issuer: signs HS256 tokens with the current secret and
/// verifies them with the current or a previous one.
pub struct TokenKeys {
    kid: String,
    encoding: EncodingKey,
    /// The current key first, then the previous ones.
    keys: Vec<HmacKey>,
    validation: Validation,
    /// Tokens whose signature and claims were verified, by their text: a
    /// client sends the same token with every request, and checking it is a
    /// sixth of a cart write's work (`scripts/instructions`). Only expiry is
    /// checked again on a hit (a signature cannot change; the keys are fixed
    /// for the process); revocation is the verifier's, checked every time.
    verified: Mutex<lru::LruCache<Box<str>, Viewer>>,
}

/// Verified tokens kept.
const VERIFIED_TOKENS: usize = 4096;
/// Longest token kept, in bytes.
const MAX_CACHED_TOKEN: usize = 2048;

/// The key id of a secret: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(secret: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(secret)[..8])
}

impl TokenKeys {
    /// Keys from an HMAC secret of at least 32 bytes.
    pub fn from_secret(secret: &[u8]) -> Result<TokenKeys, String> {
        Self::with_previous(secret, &[])
    }

    /// Keys that sign with `current` and still accept tokens signed with any
    /// of `previous` (each at least 32 bytes).
    pub fn with_previous(current: &[u8], previous: &[Vec<u8>]) -> Result<TokenKeys, String> {
        let mut keys = Vec::with_capacity(1 + previous.len());
        for secret in std::iter::once(current).chain(previous.iter().map(Vec::as_slice)) {
            if secret.len() < super::secret::MIN_SECRET_BYTES {
                return Err(format!(
                    "the secret must be at least {} bytes",
                    super::secret::MIN_SECRET_BYTES
                ));
            }
            keys.push(HmacKey {
                kid: key_id(secret),
                decoding: DecodingKey::from_secret(secret).map_err(|e| e.to_string())?,
            });
        }
        // The algorithm is pinned here; the token header only has to agree.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        // `exp` and `nbf` are checked against the injected clock in `verify`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = LEEWAY_SECONDS;
        let entries =
            std::num::NonZeroUsize::new(VERIFIED_TOKENS).unwrap_or(std::num::NonZeroUsize::MIN);
        Ok(TokenKeys {
            kid: key_id(current),
            encoding: EncodingKey::from_secret(current).map_err(|e| e.to_string())?,
            keys,
            validation,
            verified: Mutex::new(lru::LruCache::new(entries)),
        })
    }

    /// The id of the key new tokens are signed with.
    pub fn current_kid(&self) -> &str {
        &self.kid
    }

    /// Signs a token for `subject` valid for `ttl` from `now` (Unix
    /// seconds), starting a session.
    pub fn issue(
        &self,
        subject: &str,
        kind: ViewerKind,
        roles: &[String],
        ttl: Duration,
        now: i64,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        self.sign(&Grant {
            subject,
            kind,
            roles,
            issued_at: now,
            now,
            expires_at: now.saturating_add(ttl.num_seconds()),
            auth_time: now,
            email: None,
        })
    }

    /// Signs a token saying exactly what `grant` says. Its lifetime must be
    /// between 1 second and [`MAX_TTL_DAYS`] days.
    pub fn sign(&self, grant: &Grant<'_>) -> Result<(String, DateTime<Utc>), TokenError> {
        check_subject(grant.subject)?;
        let lifetime = grant.expires_at.saturating_sub(grant.now);
        if lifetime <= 0 || lifetime > Duration::days(MAX_TTL_DAYS).num_seconds() {
            return Err(TokenError::BadClaims(format!(
                "lifetime must be between 1 second and {MAX_TTL_DAYS} days"
            )));
        }
        let expires_at = Utc
            .timestamp_opt(grant.expires_at, 0)
            .single()
            .ok_or_else(|| TokenError::BadClaims("'exp' is out of range".into()))?;
        let claims = Claims {
            sub: grant.subject.to_string(),
            iss: ISSUER.to_string(),
            iat: grant.issued_at.max(grant.now),
            nbf: grant.now,
            exp: grant.expires_at,
            kind: grant.kind,
            roles: grant.roles.to_vec(),
            auth_time: Some(grant.auth_time),
            email: grant.email.map(|e| e.as_str().to_string()),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| TokenError::BadClaims(e.to_string()))?;
        Ok((token, expires_at))
    }

    /// Verifies a token at `now` (Unix seconds, from the injected clock)
    /// and returns who it speaks for.
    pub fn verify(&self, token: &str, now: i64) -> Result<Viewer, TokenError> {
        self.verify_expired_within(token, now, 0)
    }

    /// [`TokenKeys::verify`], but a token that expired at most `grace`
    /// seconds ago (beyond the leeway) is accepted too: a guest token
    /// brought back to `renewToken` within the guest renewal window.
    pub fn verify_expired_within(
        &self,
        token: &str,
        now: i64,
        grace: i64,
    ) -> Result<Viewer, TokenError> {
        if token.len() <= MAX_CACHED_TOKEN {
            let hit = self
                .verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(token)
                .cloned();
            if let Some(viewer) = hit {
                if expired(viewer.expires_at.timestamp().saturating_add(grace), now) {
                    return Err(TokenError::Expired);
                }
                return Ok(viewer);
            }
        }
        let viewer = self.verify_uncached(token, now, grace)?;
        if token.len() <= MAX_CACHED_TOKEN {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .put(token.into(), viewer.clone());
        }
        Ok(viewer)
    }

    fn verify_uncached(&self, token: &str, now: i64, grace: i64) -> Result<Viewer, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| &k.kid == kid)
                .ok_or(TokenError::UnknownKey)?,
            None => self.keys.first().ok_or(TokenError::UnknownKey)?,
        };
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, &self.validation)?;
        let claims = data.claims;
        // Times are judged here, on the injected clock (jsonwebtoken would
        // read the system's), with the same leeway.
        if expired(claims.exp.saturating_add(grace), now) {
            return Err(TokenError::Expired);
        }
        if claims.nbf.saturating_sub(LEEWAY_SECONDS as i64) > now {
            return Err(TokenError::NotYetValid);
        }
        check_subject(&claims.sub)?;
        let expires_at = Utc
            .timestamp_opt(claims.exp, 0)
            .single()
            .ok_or_else(|| TokenError::BadClaims("'exp' is out of range".into()))?;
        Ok(Viewer {
            id: claims.sub,
            kind: claims.kind,
            roles: claims.roles,
            expires_at,
            issued_at: Some(claims.iat),
            auth_time: Some(claims.auth_time.unwrap_or(claims.iat)),
            issuer: Issuer::BuiltIn,
            email: claims.email.as_deref().and_then(|e| Email::parse(e).ok()),
        })
    }
}

/// Whether a token with this `exp` is expired at `now`: past it by more than
/// the leeway (as jsonwebtoken judges it).
fn expired(exp: i64, now: i64) -> bool {
    exp.saturating_add(LEEWAY_SECONDS as i64) < now
}

/// Refuses an empty, overlong or unprintable `sub`.
pub fn check_subject(subject: &str) -> Result<(), TokenError> {
    if subject.is_empty() || subject.len() > 200 || subject.chars().any(char::is_control) {
        return Err(TokenError::BadClaims(
            "'sub' must be 1 to 200 printable characters".into(),
        ));
    }
    Ok(())
}

/// Extracts the token from an `Authorization` header value (`Bearer <token>`,
/// scheme case-insensitive as RFC 7235 says).
pub fn bearer_token(header: &str) -> Result<&str, TokenError> {
    let (scheme, token) = header.trim().split_once(' ').ok_or(TokenError::BadHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(TokenError::BadHeader);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        Utc::now().timestamp()
    }

    fn keys() -> TokenKeys {
        super::super::install_crypto();
        TokenKeys::from_secret(&[7u8; 32]).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_to_its_viewer() {
        let keys = keys();
        let (token, expires_at) = keys
            .issue(
                "u1",
                ViewerKind::Customer,
                &["admin".into()],
                Duration::hours(1),
                now(),
            )
            .unwrap();
        let viewer = keys.verify(&token, now()).unwrap();
        assert_eq!(viewer.id, "u1");
        assert!(viewer.is_admin());
        assert_eq!(viewer.expires_at, expires_at);
    }

    #[test]
    fn a_token_from_another_key_is_refused() {
        let (token, _) = keys()
            .issue("u1", ViewerKind::Guest, &[], Duration::hours(1), now())
            .unwrap();
        let other = TokenKeys::from_secret(&[8u8; 32]).unwrap();
        assert_eq!(other.verify(&token, now()), Err(TokenError::UnknownKey));
    }

    #[test]
    fn a_rotated_key_verifies_old_tokens_by_kid_until_removed() {
        let old = keys();
        let (token, _) = old
            .issue("u1", ViewerKind::Customer, &[], Duration::hours(1), now())
            .unwrap();
        let rotated = TokenKeys::with_previous(&[9u8; 32], &[vec![7u8; 32]]).unwrap();
        assert_eq!(rotated.verify(&token, now()).unwrap().id, "u1");
        assert_ne!(rotated.current_kid(), old.current_kid());
        let removed = TokenKeys::from_secret(&[9u8; 32]).unwrap();
        assert_eq!(removed.verify(&token, now()), Err(TokenError::UnknownKey));
    }

    #[test]
    fn a_token_without_kid_is_tried_against_the_current_key_only() {
        let claims = Claims {
            sub: "u1".into(),
            iss: ISSUER.into(),
            iat: Utc::now().timestamp(),
            nbf: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 60,
            kind: ViewerKind::Guest,
            roles: Vec::new(),
            auth_time: None,
            email: None,
        };
        let sign = |secret: &[u8]| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap()
        };
        let rotated = {
            super::super::install_crypto();
            TokenKeys::with_previous(&[9u8; 32], &[vec![7u8; 32]]).unwrap()
        };
        assert!(rotated.verify(&sign(&[9u8; 32]), now()).is_ok());
        assert_eq!(
            rotated.verify(&sign(&[7u8; 32]), now()),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_grant_is_signed_as_given_and_iat_is_never_before_now() {
        let keys = keys();
        let now = Utc::now().timestamp();
        let grant = Grant {
            subject: "u1",
            kind: ViewerKind::Customer,
            roles: &[],
            issued_at: now + 1,
            now,
            expires_at: now + 60,
            auth_time: now - 600,
            email: None,
        };
        let viewer = keys.verify(&keys.sign(&grant).unwrap().0, now).unwrap();
        assert_eq!(viewer.issued_at, Some(now + 1));
        assert_eq!(viewer.auth_time, Some(now - 600));
        assert_eq!(viewer.expires_at.timestamp(), now + 60);
        let early = Grant {
            issued_at: now - 100,
            ..grant
        };
        let viewer = keys.verify(&keys.sign(&early).unwrap().0, now).unwrap();
        assert_eq!(viewer.issued_at, Some(now));
        assert_eq!(key_id(&[7u8; 32]).len(), 16);
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let keys = keys();
        let (token, _) = keys
            .issue("u1", ViewerKind::Customer, &[], Duration::hours(1), now())
            .unwrap();
        let first = keys.verify(&token, now()).unwrap();
        assert_eq!(
            keys.verify(&token, now()).unwrap(),
            first,
            "the second answer comes from the cache"
        );
        // A remembered token past its expiry (and the leeway) is refused.
        let mut stale = first.clone();
        stale.expires_at = Utc::now() - Duration::seconds(LEEWAY_SECONDS as i64 + 2);
        keys.verified
            .lock()
            .unwrap()
            .put(token.as_str().into(), stale);
        assert_eq!(keys.verify(&token, now()), Err(TokenError::Expired));
        // A forged token is never remembered as valid.
        let at = token.len() - 10;
        let swapped = if &token[at..at + 1] == "A" { "B" } else { "A" };
        let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert!(keys.verify(&forged, now()).is_err());
        assert!(keys.verify(&forged, now()).is_err());
    }

    #[test]
    fn expiry_and_nbf_are_judged_on_the_clock_given_not_the_system_one() {
        let keys = keys();
        // Issued a year from now, as a test clock moved forward would.
        let later = now() + 365 * 86_400;
        let (token, _) = keys
            .issue("u1", ViewerKind::Guest, &[], Duration::hours(1), later)
            .unwrap();
        assert_eq!(keys.verify(&token, now()), Err(TokenError::NotYetValid));
        assert_eq!(keys.verify(&token, later).unwrap().id, "u1");
        let leeway = LEEWAY_SECONDS as i64;
        assert!(keys.verify(&token, later + 3600 + leeway).is_ok());
        assert_eq!(
            keys.verify(&token, later + 3600 + leeway + 1),
            Err(TokenError::Expired),
            "past exp by more than the leeway (the remembered token too)"
        );
        let (fresh, _) = keys
            .issue("u2", ViewerKind::Guest, &[], Duration::hours(1), later)
            .unwrap();
        assert_eq!(
            keys.verify(&fresh, later + 3600 + leeway + 1),
            Err(TokenError::Expired),
            "past exp, verified for the first time"
        );
    }

    #[test]
    fn the_bearer_scheme_is_required() {
        assert_eq!(bearer_token("Bearer abc"), Ok("abc"));
        assert_eq!(bearer_token("bearer  abc "), Ok("abc"));
        assert_eq!(bearer_token("Basic abc"), Err(TokenError::BadHeader));
        assert_eq!(bearer_token("Bearer"), Err(TokenError::BadHeader));
        assert_eq!(bearer_token("Bearer "), Err(TokenError::BadHeader));
    }

    #[test]
    fn lifetimes_and_subjects_are_bounded() {
        let keys = keys();
        assert!(
            keys.issue("u", ViewerKind::Guest, &[], Duration::zero(), now())
                .is_err()
        );
        assert!(
            keys.issue("u", ViewerKind::Guest, &[], Duration::days(400), now())
                .is_err()
        );
        assert!(
            keys.issue("", ViewerKind::Guest, &[], Duration::hours(1), now())
                .is_err()
        );
        assert!(
            keys.issue("a\nb", ViewerKind::Guest, &[], Duration::hours(1), now())
                .is_err()
        );
    }
}
