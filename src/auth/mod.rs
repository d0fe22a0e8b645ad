//! Authentication: bearer token in, [`Viewer`] out, on every request.
//!
//! Nothing about a session lives in the server. A request's identity is
//! whatever its token proves, checked with a key and an algorithm that come
//! from configuration, never from the token itself.
//!
//! - [`secret`]: where the built-in issuer's HMAC key comes from.
//! - [`token`]: claims, issuing and verifying tokens.

pub mod secret;
pub mod token;

use crate::store::OwnerKey;
use chrono::{DateTime, Utc};

pub use token::{AuthError, TokenKeys};

/// Installs jsonwebtoken's RustCrypto backend. jsonwebtoken panics at first use
/// when no backend is chosen; choosing it explicitly at start-up means a
/// misconfigured build fails here, not on a request.
pub fn install_crypto() {
    // Err only means it is already installed (tests start several servers).
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// Whether an owner key (see [`Viewer::owner_key`]) is a guest's.
pub fn is_guest_owner(owner: &OwnerKey) -> bool {
    owner.as_str().starts_with("guest:")
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
}

impl Viewer {
    /// The key the viewer's carts are stored under. Guests and customers live
    /// in separate namespaces so a subject can never reach the other's carts.
    pub fn owner_key(&self) -> OwnerKey {
        OwnerKey::new(format!("{}:{}", self.kind.as_str(), self.id))
    }

    /// Whether the token grants the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}
