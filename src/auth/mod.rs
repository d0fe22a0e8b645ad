//! Authentication: bearer token in, [`Viewer`] out, on every request.
//!
//! Nothing about a session lives in the server. A request's identity is
//! whatever its token proves, checked with a key and an algorithm that come
//! from configuration, never from the token itself.
//!
//! - [`secret`]: where the built-in issuer's HMAC key comes from.
//! - [`token`]: claims, issuing and verifying tokens, key rotation by `kid`.
//! - [`external`]: tokens of an external identity provider (JWKS or PEM).
//! - [`password`]: argon2id hashing off the async runtime.
//! - [`throttle`]: counting failed log-ins per email and client address.

pub mod external;
pub mod password;
pub mod secret;
pub mod throttle;
pub mod token;

use crate::store::OwnerKey;
use chrono::{DateTime, Utc};

pub use token::{AuthError, TokenKeys};

use external::ExternalIssuer;

/// Installs jsonwebtoken's RustCrypto backend. jsonwebtoken panics at first use
/// when no backend is chosen; choosing it explicitly at start-up means a
/// misconfigured build fails here, not on a request.
pub fn install_crypto() {
    // Err only means it is already installed (tests start several servers).
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// The kind of viewer an owner key (see [`Viewer::owner_key`]) belongs to.
pub fn owner_kind(owner: &OwnerKey) -> ViewerKind {
    if owner.as_str().starts_with("guest:") {
        ViewerKind::Guest
    } else {
        ViewerKind::Customer
    }
}

/// What kind of visitor a token belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewerKind {
    /// An anonymous visitor holding a guest token.
    Guest,
    /// A signed-up (or externally authenticated) customer.
    Customer,
}

impl ViewerKind {
    fn as_str(self) -> &'static str {
        match self {
            ViewerKind::Guest => "guest",
            ViewerKind::Customer => "customer",
        }
    }
}

/// Who vouched for a viewer: the built-in issuer or an external identity provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuer {
    /// cartql's own HS256 tokens.
    BuiltIn,
    /// The configured external issuer (RS256, ES256 or EdDSA).
    External,
}

/// The verified identity behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    /// The token's subject.
    pub id: String,
    /// Guest or customer.
    pub kind: ViewerKind,
    /// Roles granted by the token (`admin` unlocks catalog mutations).
    pub roles: Vec<String>,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// The token's `iat` in seconds, if it has one (revocation compares it).
    pub issued_at: Option<i64>,
    /// Who issued the token.
    pub issuer: Issuer,
}

impl Viewer {
    /// The key the viewer's carts (and revocation record) are stored under.
    /// Guests, customers and externally authenticated customers live in
    /// separate namespaces (`guest:`, `customer:`, `external:`), so a subject
    /// can never reach another kind's carts: no built-in token can make an
    /// `external:` key, whatever its `sub`.
    pub fn owner_key(&self) -> OwnerKey {
        match self.issuer {
            Issuer::BuiltIn => OwnerKey::new(format!("{}:{}", self.kind.as_str(), self.id)),
            Issuer::External => OwnerKey::new(format!("external:{}", self.id)),
        }
    }

    /// Whether a "valid after" time (seconds) revokes this token: it was
    /// issued before then, or cannot say when it was issued.
    pub fn is_revoked_by(&self, valid_after: i64) -> bool {
        self.issued_at.is_none_or(|iat| iat < valid_after)
    }

    /// Whether the token grants the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}

/// Verifies any token the server accepts: the built-in issuer's, and the
/// external issuer's when one is configured. The token's `iss` (read before
/// verifying) only chooses the verifier; each verifier pins its own keys,
/// algorithms and `iss`.
pub struct Authenticator {
    /// The built-in issuer.
    pub keys: TokenKeys,
    /// The external issuer, if configured.
    pub external: Option<ExternalIssuer>,
}

impl Authenticator {
    /// Verifies `token` with the verifier its `iss` names.
    pub fn verify(&self, token: &str) -> Result<Viewer, AuthError> {
        #[derive(serde::Deserialize)]
        struct Peek {
            iss: Option<String>,
        }
        let peek: Peek = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| AuthError::Malformed)?;
        match &self.external {
            Some(external) if peek.iss.as_deref() == Some(external.issuer()) => {
                external.verify(token)
            }
            _ => self.keys.verify(token),
        }
    }
}
