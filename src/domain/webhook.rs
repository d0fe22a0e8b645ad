//! Webhooks: what the shop's other systems hear of, and the rules of
//! telling them ([Standard Webhooks](https://www.standardwebhooks.com/)).
//!
//! - An [`Event`] is written in the transaction of the change it announces
//!   (the outbox): one change, one event, numbered per order
//!   ([`Event::sequence`]).
//! - An [`Endpoint`] is a URL, the events it wants and its secrets.
//! - A [`Delivery`] is one event for one endpoint: its attempts and when the
//!   next is due, on the [`BACKOFF`] schedule.
//! - [`signature`] is what `webhook-signature` carries; [`check_url`] and
//!   [`address_allowed`] are the SSRF rule.

use super::cart::Cart;
use super::order::{Order, OrderStatus};
use super::owner::OwnerKey;
use super::{ErrorCode, UserError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What an endpoint can hear of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventKind {
    /// An order was placed (checkout).
    OrderPlaced,
    /// An order was marked paid.
    OrderPaid,
    /// An order was marked fulfilled.
    OrderFulfilled,
    /// An order was cancelled.
    OrderCancelled,
    /// A cart with lines and a buyer e-mail sat idle past
    /// `--abandoned-cart-after` (once per cart version).
    CartAbandoned,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 5] = [
        EventKind::OrderPlaced,
        EventKind::OrderPaid,
        EventKind::OrderFulfilled,
        EventKind::OrderCancelled,
        EventKind::CartAbandoned,
    ];

    /// The `type` of the body on the wire (`order.placed`).
    pub fn wire_type(self) -> &'static str {
        match self {
            EventKind::OrderPlaced => "order.placed",
            EventKind::OrderPaid => "order.paid",
            EventKind::OrderFulfilled => "order.fulfilled",
            EventKind::OrderCancelled => "order.cancelled",
            EventKind::CartAbandoned => "cart.abandoned",
        }
    }

    /// The event an order's move to `status` is.
    pub fn of_status(status: OrderStatus) -> EventKind {
        match status {
            OrderStatus::Placed => EventKind::OrderPlaced,
            OrderStatus::Paid => EventKind::OrderPaid,
            OrderStatus::Fulfilled => EventKind::OrderFulfilled,
            OrderStatus::Cancelled => EventKind::OrderCancelled,
        }
    }
}

/// One thing that happened, as the outbox keeps it: written in the
/// transaction of the change, delivered later to every endpoint that wants
/// its kind, re-sent (same id) by a replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_` and a ULID: the `webhook-id` on every attempt and replay,
    /// sortable by when it happened.
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// The order (or cart) it is about.
    pub resource_id: String,
    /// Its place in that resource's history, from 1 (placed): what orders
    /// the deliveries of one resource.
    pub sequence: u32,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The order as it was just after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    /// The cart as it was when it went idle (abandoned carts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<IdleCart>,
}

/// An abandoned cart as its event keeps it: whose, and the cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleCart {
    /// Its owner's key (`guest:…`, `customer:…`): never sent, only used to
    /// show the cart as its owner would see it.
    pub owner: String,
    /// The cart as stored.
    pub cart: Cart,
}

/// The global id of `owner`'s cart `name` (`gid://cartql/Cart/<owner
/// tag>/<name>`, as the API shows it): an abandoned cart's resource id.
pub fn cart_resource_id(owner: &OwnerKey, name: &super::CartName) -> String {
    format!("gid://cartql/Cart/{}/{name}", owner.tag())
}

/// Whether `cart` is abandoned at `now` when carts count as abandoned after
/// `after` idle: it has lines and a buyer e-mail, and has not changed for
/// `after`. (A checked-out cart has no lines left.)
pub fn is_abandoned(cart: &Cart, after: Duration, now: DateTime<Utc>) -> bool {
    !cart.lines.is_empty() && cart.buyer_identity.email.is_some() && cart.updated_at + after <= now
}

impl Event {
    /// The event an order's latest change is: placed for a new order, its
    /// last status move otherwise. `id` must be `evt_` and a fresh ULID.
    pub fn of_order(id: String, order: &Order) -> Event {
        let history = order.history();
        let last = history.last().map_or(order.status, |e| e.status);
        Event {
            id,
            kind: EventKind::of_status(last),
            resource_id: order.id.clone(),
            sequence: u32::try_from(history.len()).unwrap_or(u32::MAX),
            at: order.updated_at(),
            order: Some(order.clone()),
            cart: None,
        }
    }

    /// The event that `owner`'s `cart` was abandoned, `after` its last
    /// change; `resource_id` is the cart's global id. Its id is the same
    /// for the same cart version wherever and however often it is made,
    /// whatever `after` is (the ULID's time is the cart's last change, its
    /// random part a hash of the owner, the name and the version), so
    /// instances that find the same idle cart write one event, and a
    /// version is announced once.
    pub fn of_abandoned_cart(
        owner: &OwnerKey,
        cart: &Cart,
        after: Duration,
        resource_id: String,
    ) -> Event {
        use sha2::{Digest, Sha256};
        let at = cart.updated_at + after;
        let mut hasher = Sha256::new();
        for part in [owner.as_str(), cart.name.as_str()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        hasher.update(cart.version.to_be_bytes());
        let digest = hasher.finalize();
        let mut random = [0u8; 16];
        random[6..].copy_from_slice(&digest[..10]);
        let millis = u64::try_from(cart.updated_at.timestamp_millis()).unwrap_or(0);
        let id = ulid::Ulid::from_parts(millis, u128::from_be_bytes(random));
        Event {
            id: format!("evt_{id}"),
            kind: EventKind::CartAbandoned,
            resource_id,
            sequence: u32::try_from(cart.version).unwrap_or(u32::MAX),
            at,
            order: None,
            cart: Some(IdleCart {
                owner: owner.as_str().to_string(),
                cart: cart.clone(),
            }),
        }
    }

    /// A fresh event id.
    pub fn new_id(at: DateTime<Utc>) -> String {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        format!("evt_{}", ulid::Ulid::from_parts(millis, rand::random()))
    }
}

/// The millisecond an event id says its event happened at (its ULID's
/// time); `None` for an id that is not `evt_` and a ULID.
pub fn event_millis(id: &str) -> Option<u64> {
    id.strip_prefix("evt_")
        .and_then(|id| ulid::Ulid::from_string(id).ok())
        .map(|id| id.timestamp_ms())
}

/// A place in the walk of every stored cart by its last change
/// ([`CartStore::idle_carts`](crate::store::CartStore::idle_carts)): the walk goes on after this cart.
/// Owners and names compare bytewise, as PostgreSQL's `COLLATE "C"` does.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdleMark {
    /// When the cart last changed.
    pub updated_at: DateTime<Utc>,
    /// Its owner's key.
    pub owner: String,
    /// Its name.
    pub name: String,
}

impl IdleMark {
    /// The mark of `cart` of `owner`.
    pub fn of(owner: &OwnerKey, cart: &Cart) -> IdleMark {
        IdleMark {
            updated_at: cart.updated_at,
            owner: owner.as_str().to_string(),
            name: cart.name.as_str().to_string(),
        }
    }

    /// The mark before every cart that changed after `at`.
    pub fn at(at: DateTime<Utc>) -> IdleMark {
        IdleMark {
            updated_at: at,
            owner: String::new(),
            name: String::new(),
        }
    }
}

/// The walk that finds abandoned carts, as its shop record keeps it: where
/// it stands, and until when the relay that walks it now owns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbandonWalk {
    /// Every cart up to here was looked at.
    pub mark: IdleMark,
    /// The lease of the relay walking it now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<DateTime<Utc>>,
}

/// How webhooks behave (`--webhook-*`).
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Allow `http` URLs and internal addresses (development and tests).
    pub allow_insecure: bool,
    /// The most endpoints a shop may have.
    pub max_endpoints: usize,
    /// How long finished deliveries and dispatched events are kept.
    pub retention: Duration,
    /// The most deliveries in flight at once, in all.
    pub concurrency: usize,
    /// The most deliveries in flight at once to one endpoint.
    pub concurrency_per_endpoint: usize,
    /// The waits between attempts (`--webhook-retry-schedule`).
    pub schedule: Vec<Duration>,
    /// How long a cart with lines and an e-mail sits idle before it counts
    /// as abandoned (`--abandoned-cart-after`).
    pub abandoned_after: Duration,
    /// How long a relay owns what it claimed (an outbox event, a delivery,
    /// the abandoned-cart walk): longer than an attempt may take
    /// (`--webhook-lease`, for tests of an instance dying mid-delivery).
    pub lease: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_insecure: false,
            max_endpoints: DEFAULT_MAX_ENDPOINTS,
            retention: Duration::days(30),
            concurrency: 64,
            concurrency_per_endpoint: 4,
            schedule: BACKOFF.to_vec(),
            abandoned_after: Duration::hours(1),
            lease: Duration::seconds(60),
        }
    }
}

/// How many endpoints a shop may have by default (`--max-webhook-endpoints`).
pub const DEFAULT_MAX_ENDPOINTS: usize = 20;
/// The longest URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// The longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 255;
/// The secret's prefix as the admin sees it.
pub const SECRET_PREFIX: &str = "whsec_";

/// A signing secret: 32 random bytes, shown once as `whsec_` + base64.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// The key bytes (base64 in storage).
    #[serde(with = "b64")]
    pub key: Vec<u8>,
    /// When an old secret stops signing (after a rotation); `None` for the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("key", &"<hidden>")
            .field("until", &self.until)
            .finish()
    }
}

impl Secret {
    /// A fresh secret from the operating system's generator.
    pub fn generate() -> Secret {
        Secret {
            key: rand::random::<[u8; 32]>().to_vec(),
            until: None,
        }
    }

    /// `whsec_` + base64 of the key: what the admin stores on their side.
    pub fn reveal(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Where events go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `whep_` and a ULID.
    pub id: String,
    /// Where to POST (checked by [`check_url`]).
    pub url: String,
    /// What it wants, each once, in [`EventKind`] order.
    pub events: Vec<EventKind>,
    /// The admin's words for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it is sent anything.
    pub active: bool,
    /// Why cartql turned it off (`410 Gone`, five days of failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// The current secret first, then old ones still signing.
    pub secrets: Vec<Secret>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its current run of failures began (`None` after a success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
}

impl Endpoint {
    /// Whether it wants `kind` now.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.active && self.events.contains(&kind)
    }

    /// The secrets that sign at `now`: the current one and those kept after a rotation.
    pub fn signing_keys(&self, now: DateTime<Utc>) -> Vec<&[u8]> {
        self.secrets
            .iter()
            .filter(|s| s.until.is_none_or(|until| now < until))
            .map(|s| s.key.as_slice())
            .collect()
    }

    /// A new current secret; the old one signs too for `keep_old` (none when zero).
    pub fn rotate(&mut self, now: DateTime<Utc>, keep_old: Duration) -> &Secret {
        let mut kept: Vec<Secret> = self
            .secrets
            .drain(..)
            .filter_map(|mut s| {
                let until = s.until.unwrap_or(now + keep_old);
                (until > now).then(|| {
                    s.until = Some(until);
                    s
                })
            })
            .collect();
        self.secrets = vec![Secret::generate()];
        self.secrets.append(&mut kept);
        &self.secrets[0]
    }

    /// Records an attempt's outcome: a success ends a run of failures; a
    /// failure starts one, and after [`DISABLE_AFTER`] of them the endpoint
    /// is turned off (never deleted). Whether it changed.
    pub fn after_attempt(&mut self, succeeded: bool, now: DateTime<Utc>) -> bool {
        if succeeded {
            return self.failing_since.take().is_some();
        }
        match self.failing_since {
            None => {
                self.failing_since = Some(now);
                true
            }
            Some(since) if self.active && now - since >= DISABLE_AFTER => {
                self.disable("every delivery failed for five days");
                true
            }
            Some(_) => false,
        }
    }

    /// Turns it off with a reason the admin sees.
    pub fn disable(&mut self, reason: &str) {
        self.active = false;
        self.disabled_reason = Some(reason.to_string());
    }
}

/// An endpoint failing this long without a success is turned off.
pub const DISABLE_AFTER: Duration = Duration::days(5);

/// The checked fields of `createWebhookEndpoint` / `updateWebhookEndpoint`.
pub fn check_events(events: &[EventKind], field: &str) -> Result<Vec<EventKind>, UserError> {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(UserError::new(
            ErrorCode::InvalidWebhookEndpoint,
            &[field],
            "name at least one event",
        ));
    }
    Ok(events)
}

/// A description: at most [`MAX_DESCRIPTION_BYTES`] bytes, no control characters.
pub fn check_description(text: Option<&str>, field: &str) -> Result<Option<String>, UserError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.len() > MAX_DESCRIPTION_BYTES || text.chars().any(char::is_control) {
        return Err(UserError::new(
            ErrorCode::InvalidWebhookEndpoint,
            &[field],
            format!("a description is at most {MAX_DESCRIPTION_BYTES} bytes of text"),
        ));
    }
    Ok(Some(text.to_string()))
}

/// A URL events may be sent to: absolute, `https` (or `http` when
/// `insecure`), a host, no user name or password, at most
/// [`MAX_URL_BYTES`]. A host written as an IP address must pass
/// [`address_allowed`] here already; names are checked after each
/// resolution, at every attempt.
pub fn check_url(text: &str, insecure: bool) -> Result<url::Url, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("a URL is at most {MAX_URL_BYTES} bytes"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("not an absolute URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if insecure => {}
        "http" => return Err("only https URLs are allowed (see --webhook-allow-insecure)".into()),
        other => return Err(format!("'{other}' URLs are not allowed: use https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a URL may not carry a user name or password".into());
    }
    let address = match url.host() {
        None => return Err("a URL needs a host".into()),
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(address) = address
        && !insecure
        && !address_allowed(address)
    {
        return Err(format!(
            "{address} is a loopback, private, link-local or otherwise internal address"
        ));
    }
    Ok(url)
}

/// Whether events may go to `address`: not loopback, private, link-local
/// (which holds the cloud metadata address 169.254.169.254), shared
/// (100.64/10), unspecified, broadcast, multicast, documentation or
/// reserved; IPv6 likewise (unique local fc00::/7 holds fd00:ec2::254), and
/// IPv4 addresses carried in IPv6 (mapped, compatible, NAT64) are judged as
/// the IPv4 address they carry.
pub fn address_allowed(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4_allowed(v4),
        IpAddr::V6(v6) => v6_allowed(v6),
    }
}

fn v4_allowed(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        // Azure's platform address (metadata and DNS of every VM).
        || (a, b, c, ip.octets()[3]) == (168, 63, 129, 16))
}

fn v6_allowed(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_allowed(v4);
    }
    // ::a.b.c.d (deprecated "compatible"), ::ffff:0:a.b.c.d (SIIT) and
    // 64:ff9b::/96 (NAT64).
    if segments[..6] == [0; 6]
        || segments[..6] == [0, 0, 0, 0, 0xffff, 0]
        || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
    {
        let [.., hi, lo] = segments;
        let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
        return !ip.is_loopback() && !ip.is_unspecified() && v4_allowed(v4);
    }
    let first = segments[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || first == 0x2002 // 6to4: carries an IPv4 address of any kind
        || (first == 0x64 && segments[1] == 0xff9b && segments[2] == 1) // local-use NAT64
        || (first == 0x2001 && segments[1] == 0)) // Teredo
}

/// The waits between attempts: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h,
/// 10 h (about 38 h in all), each ±20 %; after the ninth attempt, `FAILED`.
pub const BACKOFF: [Duration; 8] = [
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(10),
    Duration::hours(10),
];

/// The longest `Retry-After` honoured: longer asks wait this long.
pub const MAX_RETRY_AFTER: Duration = Duration::hours(10);

/// How an attempt went, as the schedule needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx within the time allowed.
    Delivered,
    /// Anything else; `retry_after` when a 429 or 503 said when.
    Failed { retry_after: Option<Duration> },
    /// `410 Gone`: the endpoint is turned off.
    Gone,
}

impl Verdict {
    /// Judges a response status (`None`: no response: refused, timed out, …)
    /// and its `Retry-After` header (seconds or an HTTP date).
    pub fn of(status: Option<u16>, retry_after: Option<&str>, now: DateTime<Utc>) -> Verdict {
        match status {
            Some(200..=299) => Verdict::Delivered,
            Some(410) => Verdict::Gone,
            Some(429 | 503) => Verdict::Failed {
                retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
            },
            _ => Verdict::Failed { retry_after: None },
        }
    }
}

/// `Retry-After`: delay-seconds or an HTTP date; at most [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(seconds) = value.parse::<u32>() {
        Duration::seconds(i64::from(seconds))
    } else {
        let at = DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&Utc) - now).max(Duration::zero())
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The most waits a retry schedule may have (`--webhook-retry-schedule`).
pub const MAX_SCHEDULE: usize = 20;

/// The waits between attempts, as `--webhook-retry-schedule` gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule(pub Vec<Duration>);

/// A retry schedule as `--webhook-retry-schedule` gives it: 1 to
/// [`MAX_SCHEDULE`] comma-separated waits of 1 s to 24 h each (`5s,5m,30m`).
pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let waits = text
        .split(',')
        .map(|part| {
            let wait = humantime::parse_duration(part.trim())
                .map_err(|e| format!("'{}': {e}", part.trim()))?;
            if !(std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(86_400))
                .contains(&wait)
            {
                return Err(format!("'{}': each wait is 1s to 24h", part.trim()));
            }
            Duration::from_std(wait).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    if waits.len() > MAX_SCHEDULE {
        return Err(format!("at most {MAX_SCHEDULE} waits"));
    }
    Ok(Schedule(waits))
}

/// When the next attempt is due after `attempts` failed ones on
/// `schedule` ([`BACKOFF`] by default), with `jitter` in [-1, 1] (±20 %):
/// `None` when the schedule is spent. A `Retry-After` replaces the
/// schedule's wait (not its count).
pub fn next_attempt(
    schedule: &[Duration],
    attempts: usize,
    now: DateTime<Utc>,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<DateTime<Utc>> {
    let wait = *schedule.get(attempts.checked_sub(1)?)?;
    let wait = match retry_after {
        Some(asked) => asked,
        None => {
            let factor = 1.0 + 0.2 * jitter.clamp(-1.0, 1.0);
            let millis = (wait.num_milliseconds() as f64 * factor).round() as i64;
            Duration::milliseconds(millis)
        }
    };
    Some(now + wait)
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempts are still due.
    Pending,
    /// A 2xx came back.
    Succeeded,
    /// The schedule ran out (or the endpoint went away); a retry starts it again.
    Failed,
}

/// One try.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it started.
    pub at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: u64,
    /// The response's status, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// What went wrong, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The most attempts a delivery remembers (manual retries can add more; the oldest go).
pub const MAX_ATTEMPTS_KEPT: usize = 20;

/// One event for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `{endpoint id}.{event id}`: one delivery per pair, however many
    /// instances dispatch the event.
    pub id: String,
    /// Where.
    pub endpoint_id: String,
    /// What (the event itself stays in the outbox).
    pub event_id: String,
    /// Its kind.
    pub kind: EventKind,
    /// The resource and its place in the resource's history (ordering).
    pub resource_id: String,
    /// See [`Event::sequence`].
    pub sequence: u32,
    /// Where it is.
    pub status: DeliveryStatus,
    /// The tries, oldest first.
    pub attempts: Vec<Attempt>,
    /// Attempts since it was last (re)started, what the schedule counts.
    #[serde(default)]
    pub scheduled_attempts: usize,
    /// When the next attempt is due (pending only). While an instance
    /// sends it, the end of that instance's claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the delivery was made (dispatched or replayed).
    pub created_at: DateTime<Utc>,
}

impl Delivery {
    /// A delivery of `event` to `endpoint`, due now.
    pub fn new(endpoint: &str, event: &Event, now: DateTime<Utc>) -> Delivery {
        Delivery {
            id: Delivery::id_of(endpoint, &event.id),
            endpoint_id: endpoint.to_string(),
            event_id: event.id.clone(),
            kind: event.kind,
            resource_id: event.resource_id.clone(),
            sequence: event.sequence,
            status: DeliveryStatus::Pending,
            attempts: Vec::new(),
            scheduled_attempts: 0,
            next_attempt_at: Some(now),
            created_at: now,
        }
    }

    /// The id of `event`'s delivery to `endpoint`.
    pub fn id_of(endpoint: &str, event: &str) -> String {
        format!("{endpoint}.{event}")
    }

    /// Records an attempt and decides what follows: succeeded, due again
    /// (on `schedule`, or when `Retry-After` said), or failed.
    pub fn record(
        &mut self,
        attempt: Attempt,
        verdict: Verdict,
        schedule: &[Duration],
        now: DateTime<Utc>,
        jitter: f64,
    ) {
        self.attempts.push(attempt);
        if self.attempts.len() > MAX_ATTEMPTS_KEPT {
            self.attempts.remove(0);
        }
        self.scheduled_attempts += 1;
        let next = match verdict {
            Verdict::Delivered => {
                self.status = DeliveryStatus::Succeeded;
                self.next_attempt_at = None;
                return;
            }
            Verdict::Gone => None,
            Verdict::Failed { retry_after } => {
                next_attempt(schedule, self.scheduled_attempts, now, retry_after, jitter)
            }
        };
        self.status = match next {
            Some(_) => DeliveryStatus::Pending,
            None => DeliveryStatus::Failed,
        };
        self.next_attempt_at = next;
    }

    /// Starts it again (`retryWebhookDelivery`, a replay): pending, due now,
    /// with the whole schedule ahead; its past attempts stay.
    pub fn restart(&mut self, now: DateTime<Utc>) {
        self.status = DeliveryStatus::Pending;
        self.scheduled_attempts = 0;
        self.next_attempt_at = Some(now);
    }
}

/// The deliveries that may be sent now, ordering-wise: of each endpoint's
/// pending deliveries about one resource, the first (lowest sequence, then
/// event id). One pass over `pending`.
pub fn heads(pending: &[Delivery]) -> std::collections::HashSet<&str> {
    let mut first: std::collections::HashMap<(&str, &str), &Delivery> =
        std::collections::HashMap::new();
    for delivery in pending
        .iter()
        .filter(|d| d.status == DeliveryStatus::Pending)
    {
        let key = (delivery.endpoint_id.as_str(), delivery.resource_id.as_str());
        first
            .entry(key)
            .and_modify(|head| {
                if (delivery.sequence, &delivery.event_id) < (head.sequence, &head.event_id) {
                    *head = delivery;
                }
            })
            .or_insert(delivery);
    }
    first.values().map(|d| d.id.as_str()).collect()
}

/// `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under
/// `key`: one entry of `webhook-signature` (Standard Webhooks).
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per signing key, space-separated.
pub fn signature_header(keys: &[&[u8]], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| signature(key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
