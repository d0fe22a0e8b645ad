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
//! - [`verifier`]: the one place a token is accepted (claims, then revocation).

pub mod external;
pub mod password;
pub mod secret;
pub mod token;
pub mod verifier;
pub mod write_rate;

pub use crate::domain::owner::ViewerKind;
use crate::domain::owner::{Namespace, OwnerKey};
use chrono::{DateTime, Utc};

pub use token::{TokenError, TokenKeys};

use external::ExternalIssuer;

/// Installs jsonwebtoken's RustCrypto backend. jsonwebtoken panics at first use
/// when no backend is chosen; choosing it explicitly at start-up means a
/// misconfigured build fails here, not on a request.
pub fn install_crypto() {
    // Err only means it is already installed (tests start several servers).
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// The client's IP address (the TCP peer, or the address a trusted proxy
/// forwarded), attached to each request by the server: throttling counts by it.
///
/// Always canonical: an IPv4 client seen as an IPv4-mapped IPv6 address
/// (`::ffff:203.0.113.7`, how a dual-stack `[::]` listener sees every IPv4
/// peer, and how some proxies write them) is held as the IPv4 address, so it
/// is keyed, trusted and logged like the same client on an IPv4 listener.
/// The field is private so that no address escapes [`ClientAddress::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(std::net::IpAddr);

impl ClientAddress {
    /// The client at `address`, made canonical (IPv4-mapped → IPv4).
    pub fn new(address: std::net::IpAddr) -> ClientAddress {
        ClientAddress(address.to_canonical())
    }

    /// The address (canonical).
    pub fn ip(&self) -> std::net::IpAddr {
        self.0
    }

    /// The key per-address limits count by: the IPv4 address, or the /64 an
    /// IPv6 address is in (one subscriber usually holds a whole /64, so
    /// counting single IPv6 addresses would give each of them 2^64 budgets).
    pub fn throttle_key(&self) -> String {
        match self.0 {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        }
    }
}

/// `net` with an IPv4-mapped network written as the IPv4 network it stands
/// for (`::ffff:10.0.0.0/104` is `10.0.0.0/8`), since addresses are compared
/// in canonical form. Other networks are returned as they are.
pub fn canonical_network(net: ipnet::IpNet) -> ipnet::IpNet {
    match net {
        ipnet::IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, ipnet::IpNet::V4),
            None => net,
        },
        _ => net,
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
    /// When the session this token descends from began (seconds): the
    /// `auth_time` claim, else `iat`. Bounds how long renewals may go on.
    pub auth_time: Option<i64>,
    /// Who issued the token.
    pub issuer: Issuer,
    /// The customer's e-mail: the built-in issuer's `email` claim (set at
    /// sign-up and log-in), or a valid `email` claim of an external token.
    pub email: Option<crate::domain::account::Email>,
}

impl Viewer {
    /// The first instant the token is refused: its expiry plus the
    /// clock-skew leeway, then the next whole second (token times are whole
    /// seconds, and the HTTP edge compares them with the clock's second:
    /// `exp + leeway < now`). Every path judges expiry by this one instant:
    /// the HTTP edge (401 from it on), the resolvers of a WebSocket's
    /// operations, and the socket's own close (4403 at it).
    pub fn valid_until(&self) -> DateTime<Utc> {
        self.expires_at + chrono::Duration::seconds(token::LEEWAY_SECONDS as i64 + 1)
    }

    /// Whether the token has expired at `now` (see [`Viewer::valid_until`]).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.valid_until()
    }

    /// The key the viewer's carts (and revocation record) are stored under.
    /// Guests, customers and externally authenticated customers live in
    /// separate namespaces (`guest:`, `customer:`, `external:`), so a subject
    /// can never reach another kind's carts: no built-in token can make an
    /// `external:` key, whatever its `sub`.
    pub fn owner_key(&self) -> OwnerKey {
        owner_key(self.issuer, self.kind, &self.id)
    }

    /// Whether the owner's "valid after" record (seconds; `None`: never
    /// logged out everywhere) revokes this token: it was issued before
    /// then, or cannot say when it was issued.
    pub fn is_revoked_by(&self, valid_after: Option<i64>) -> bool {
        valid_after.is_some_and(|after| self.issued_at.is_none_or(|iat| iat < after))
    }

    /// Whether the token grants the `admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r == "admin")
    }
}

/// The key under which the carts and revocation record of `subject`,
/// verified by `issuer`, live.
pub fn owner_key(issuer: Issuer, kind: ViewerKind, subject: &str) -> OwnerKey {
    let namespace = match (issuer, kind) {
        (Issuer::BuiltIn, ViewerKind::Guest) => Namespace::Guest,
        (Issuer::BuiltIn, ViewerKind::Customer) => Namespace::Customer,
        (Issuer::External, _) => Namespace::External,
    };
    OwnerKey::new(namespace, subject)
}

/// How long the tokens the built-in issuer signs live.
#[derive(Clone, Copy, Debug)]
pub struct TokenLifetimes {
    /// A guest token's lifetime.
    pub guest: chrono::Duration,
    /// A customer token's lifetime.
    pub customer: chrono::Duration,
    /// How long a customer may keep renewing tokens from one log-in.
    pub max_session_age: chrono::Duration,
    /// How long after its expiry a guest token may still be renewed (given
    /// to `renewToken` as data): the guest cart lifetime, so a guest whose
    /// cart is still alive can always reach it.
    pub guest_renewal_window: chrono::Duration,
}

impl TokenLifetimes {
    /// The lifetime of a new token of this kind.
    pub fn of(&self, kind: ViewerKind) -> chrono::Duration {
        match kind {
            ViewerKind::Guest => self.guest,
            ViewerKind::Customer => self.customer,
        }
    }

    /// When a client should renew `viewer`'s token: halfway through its
    /// life. `None` for tokens renewal does not lengthen (with roles: they
    /// keep their own expiry) or cannot renew (the external issuer's).
    pub fn renew_after(&self, viewer: &Viewer) -> Option<DateTime<Utc>> {
        if viewer.issuer != Issuer::BuiltIn || !viewer.roles.is_empty() {
            return None;
        }
        let issued = viewer.issued_at?;
        // A customer whose token already runs to the session's maximum age
        // gains nothing by renewing: no time to renew.
        if self
            .session_end(viewer)
            .is_some_and(|end| viewer.expires_at.timestamp() >= end)
        {
            return None;
        }
        let half = viewer.expires_at.timestamp().saturating_sub(issued) / 2;
        DateTime::from_timestamp(issued.saturating_add(half.max(0)), 0)
    }

    /// The last moment `renewToken` accepts `viewer`'s token: for a guest,
    /// [`guest_renewal_window`](Self::guest_renewal_window) after its
    /// expiry; for a customer, its expiry or the session's maximum age,
    /// whichever comes first. `None` where [`renew_after`](Self::renew_after) is.
    pub fn renewable_until(&self, viewer: &Viewer) -> Option<DateTime<Utc>> {
        if viewer.issuer != Issuer::BuiltIn || !viewer.roles.is_empty() {
            return None;
        }
        Some(match viewer.kind {
            ViewerKind::Guest => viewer.expires_at + self.guest_renewal_window,
            ViewerKind::Customer => {
                let end = DateTime::from_timestamp(self.session_end(viewer)?, 0)?;
                viewer.expires_at.min(end)
            }
        })
    }

    /// When a customer's session ends (seconds): [`max_session_age`](Self::max_session_age)
    /// after it began (`auth_time`, else `iat`); `None` for guests, and for a
    /// token that says neither.
    fn session_end(&self, viewer: &Viewer) -> Option<i64> {
        let began = viewer.auth_time.or(viewer.issued_at)?;
        (viewer.kind == ViewerKind::Customer).then(|| self.session_end_from(began))
    }

    /// [`max_session_age`](Self::max_session_age) after `began` (seconds).
    fn session_end_from(&self, began: i64) -> i64 {
        began.saturating_add(self.max_session_age.num_seconds())
    }

    /// The `exp` (seconds) of a token renewed at `now` from `viewer`'s, or
    /// `None` when it may not be renewed any more. A token with roles never
    /// outlives its own expiry (a 60-second admin token stays a 60-second
    /// token); a customer's renewals stop [`max_session_age`](Self::max_session_age)
    /// after the log-in; a guest's go on (its carts are all it has).
    pub fn renewal_expiry(&self, viewer: &Viewer, now: i64) -> Option<i64> {
        let fresh = now.saturating_add(self.of(viewer.kind).num_seconds());
        let expires = if !viewer.roles.is_empty() {
            viewer.expires_at.timestamp()
        } else if viewer.kind == ViewerKind::Customer {
            let began = viewer.auth_time.or(viewer.issued_at).unwrap_or(now);
            fresh.min(self.session_end_from(began))
        } else {
            fresh
        };
        (expires > now).then_some(expires)
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
    /// Verifies `token` with the verifier its `iss` names, at `now` (Unix
    /// seconds; the external issuer's tokens are judged by jsonwebtoken on
    /// the system clock).
    pub fn verify(&self, token: &str, now: i64) -> Result<Viewer, TokenError> {
        #[derive(serde::Deserialize)]
        struct Peek {
            iss: Option<String>,
        }
        let peek: Peek = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| TokenError::Malformed)?;
        match &self.external {
            Some(external) if peek.iss.as_deref() == Some(external.issuer()) => {
                external.verify(token)
            }
            _ => self.keys.verify(token, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    const LIFETIMES: TokenLifetimes = TokenLifetimes {
        guest: Duration::days(30),
        customer: Duration::days(7),
        max_session_age: Duration::days(90),
        guest_renewal_window: Duration::days(30),
    };

    fn viewer(kind: ViewerKind, roles: &[&str], auth_time: i64, expires: i64) -> Viewer {
        Viewer {
            id: "u".into(),
            kind,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            expires_at: Utc.timestamp_opt(expires, 0).unwrap(),
            issued_at: Some(auth_time),
            auth_time: Some(auth_time),
            issuer: Issuer::BuiltIn,
            email: None,
        }
    }

    #[test]
    fn a_token_with_roles_is_never_renewed_past_its_own_expiry() {
        let now = 1_000_000;
        let admin = viewer(ViewerKind::Customer, &["admin"], now - 30, now + 30);
        assert_eq!(LIFETIMES.renewal_expiry(&admin, now), Some(now + 30));
        assert_eq!(LIFETIMES.renewal_expiry(&admin, now + 30), None);
    }

    #[test]
    fn a_customer_session_ends_at_its_maximum_age_and_a_guest_goes_on() {
        let day = 86_400;
        let began = 1_000_000;
        let customer = viewer(ViewerKind::Customer, &[], began, began + 7 * day);
        let early = began + day;
        assert_eq!(
            LIFETIMES.renewal_expiry(&customer, early),
            Some(early + 7 * day)
        );
        let late = began + 88 * day;
        assert_eq!(
            LIFETIMES.renewal_expiry(&customer, late),
            Some(began + 90 * day)
        );
        assert_eq!(LIFETIMES.renewal_expiry(&customer, began + 90 * day), None);
        let guest = viewer(ViewerKind::Guest, &[], began, began + 30 * day);
        let much_later = began + 400 * day;
        assert_eq!(
            LIFETIMES.renewal_expiry(&guest, much_later),
            Some(much_later + 30 * day)
        );
    }

    #[test]
    fn clients_are_told_when_to_renew_and_until_when_they_may() {
        let day = 86_400;
        let began = 1_000_000;
        let at = |s: i64| Utc.timestamp_opt(s, 0).unwrap();
        let guest = viewer(ViewerKind::Guest, &[], began, began + 30 * day);
        assert_eq!(LIFETIMES.renew_after(&guest), Some(at(began + 15 * day)));
        // A guest's cart lives 30 days from its last change, which may come
        // just before the token expires: the token stays renewable that long.
        assert_eq!(
            LIFETIMES.renewable_until(&guest),
            Some(at(began + 60 * day))
        );
        let customer = viewer(ViewerKind::Customer, &[], began, began + 7 * day);
        assert_eq!(
            LIFETIMES.renew_after(&customer),
            Some(at(began + 3 * day + day / 2))
        );
        assert_eq!(
            LIFETIMES.renewable_until(&customer),
            Some(at(began + 7 * day))
        );
        let mut late = viewer(ViewerKind::Customer, &[], began, began + 95 * day);
        late.issued_at = Some(began + 88 * day);
        assert_eq!(LIFETIMES.renewable_until(&late), Some(at(began + 90 * day)));
        // Past the session's maximum age renewing lengthens nothing: no
        // time to renew at (never one after renewableUntil).
        assert_eq!(LIFETIMES.renew_after(&late), None);
        let last = viewer(ViewerKind::Customer, &[], began, began + 90 * day);
        assert_eq!(LIFETIMES.renew_after(&last), None);
        let admin = viewer(ViewerKind::Customer, &["admin"], began, began + 60);
        assert_eq!(LIFETIMES.renew_after(&admin), None);
        assert_eq!(LIFETIMES.renewable_until(&admin), None);
        let mut external = viewer(ViewerKind::Customer, &[], began, began + 60);
        external.issuer = Issuer::External;
        assert_eq!(LIFETIMES.renewable_until(&external), None);
    }

    #[test]
    fn per_address_limits_count_ipv6_by_its_64() {
        let key = |text: &str| ClientAddress::new(text.parse().unwrap()).throttle_key();
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn an_ipv4_client_on_a_dual_stack_listener_is_keyed_by_its_ipv4_address() {
        let key = |text: &str| ClientAddress::new(text.parse().unwrap()).throttle_key();
        // Two IPv4 clients seen as IPv4-mapped addresses are two clients,
        // not one /64 ("0:0:0:0::/64").
        assert_eq!(key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_ne!(key("::ffff:203.0.113.7"), key("::ffff:198.51.100.1"));
        assert_eq!(key("::ffff:203.0.113.7"), key("203.0.113.7"));
        let mapped = ClientAddress::new("::ffff:127.0.0.1".parse().unwrap());
        assert_eq!(
            mapped.ip(),
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
        );
    }

    #[test]
    fn owner_keys_keep_kinds_and_issuers_apart() {
        let key = |issuer, kind| owner_key(issuer, kind, "x").as_str().to_string();
        assert_eq!(key(Issuer::BuiltIn, ViewerKind::Guest), "guest:x");
        assert_eq!(key(Issuer::BuiltIn, ViewerKind::Customer), "customer:x");
        assert_eq!(key(Issuer::External, ViewerKind::Customer), "external:x");
    }
}
