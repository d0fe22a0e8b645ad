//! Every setting: a flag with a `CARTQL_*` environment variable and a
//! documented default, validated when the command line is parsed so a bad
//! value stops the start with one line that names the setting.

use crate::auth::external::{ExternalAlgorithm, ExternalIssuer, ExternalSettings, KeySource};
use crate::auth::{Authenticator, TokenKeys, TokenLifetimes};
use crate::domain::account::ThrottleRule;
use crate::domain::attributes::AttributeLimits;
use crate::domain::rate::{Rate, WriteRates};
use crate::domain::shop::CheckoutEmail;
use crate::domain::{Currency, Limits, ShopSettings};
use crate::graphql::QueryLimits;
use crate::graphql::document::DocumentLimits;
use crate::store::Retention;
use crate::store::sled::Durability;
use crate::store::throttle::ThrottleRules;
use clap::Args;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Where data and the signing key live; shared by every command that needs them.
#[derive(Args, Debug, Clone)]
pub struct StoreConfig {
    /// Directory for the database and the generated signing key.
    #[arg(
        long,
        env = "CARTQL_DATA_DIR",
        default_value = "./cartql-data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    /// HMAC secret (at least 32 bytes) for signing tokens. When unset, one is
    /// generated on first start into <data-dir>/jwt-secret (mode 0600).
    #[arg(long, env = "CARTQL_JWT_SECRET", hide_env_values = true, value_name = "SECRET", value_parser = parse_secret)]
    pub jwt_secret: Option<String>,
    /// PostgreSQL to keep the data in instead of sled in --data-dir, e.g.
    /// `postgres://cartql@db.internal:5432/cartql?sslmode=require`; for
    /// several instances behind a load balancer. Requires --jwt-secret.
    #[arg(
        long,
        env = "CARTQL_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Connections to PostgreSQL one instance opens at most (1–1000), plus
    /// one that listens for change notices.
    #[arg(long, env = "CARTQL_DATABASE_MAX_CONNECTIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,
    /// Memory sled may use to cache the database, in MiB (8–65536): reads of
    /// what it holds skip the disk (and the operating system's page cache
    /// holds the file besides). sled may hold a little more: pages read
    /// since its cache last counted them (about a thousand).
    #[arg(long, env = "CARTQL_CACHE_MIB", default_value_t = 16, value_parser = clap::value_parser!(u64).range(8..=65_536))]
    pub cache_mib: u64,
}

/// Settings of the server.
#[derive(Args, Debug, Clone)]
pub struct ServeConfig {
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(
        long,
        env = "CARTQL_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreConfig,
    /// `strict`: acknowledge a write only once it is on disk. `relaxed`: at
    /// once, made durable every 200 ms: a power cut may lose the last ~0.3 s.
    #[arg(long, env = "CARTQL_DURABILITY", value_enum, default_value = "strict")]
    pub durability: DurabilityArg,
    /// ISO 4217 code of the shop's one currency. Fixed for a data directory.
    #[arg(long, env = "CARTQL_CURRENCY", default_value = "USD", value_name = "CODE", value_parser = Currency::parse)]
    pub currency: Currency,
    /// Lines one cart may hold (1–500).
    #[arg(long, env = "CARTQL_MAX_LINES_PER_CART", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub max_lines_per_cart: u16,
    /// Units of one SKU one cart may hold (1–10000).
    #[arg(long, env = "CARTQL_MAX_QUANTITY_PER_LINE", default_value_t = 999, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_quantity_per_line: u32,
    /// Carts holding anything (lines, a note, attributes, a buyer) at once, per viewer (1–100).
    #[arg(long, env = "CARTQL_MAX_CARTS_PER_VIEWER", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub max_carts_per_viewer: u16,
    /// Attributes on one line, and on one cart (0–50).
    #[arg(long, env = "CARTQL_MAX_ATTRIBUTES", default_value_t = 10, value_parser = clap::value_parser!(u16).range(0..=50))]
    pub max_attributes: u16,
    /// UTF-8 bytes in an attribute key (1–1024).
    #[arg(long, env = "CARTQL_MAX_ATTRIBUTE_KEY_BYTES", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_attribute_key_bytes: u16,
    /// UTF-8 bytes in an attribute value (1–16384).
    #[arg(long, env = "CARTQL_MAX_ATTRIBUTE_VALUE_BYTES", default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..=16_384))]
    pub max_attribute_value_bytes: u16,
    /// UTF-8 bytes in a cart note (0–40000).
    #[arg(long, env = "CARTQL_MAX_NOTE_BYTES", default_value_t = 1000, value_parser = clap::value_parser!(u16).range(0..=40_000))]
    pub max_note_bytes: u16,
    /// Bytes one cart may take as stored: lines, attributes, note, buyer
    /// (1 KiB–16 MiB). A change that would make a cart bigger than this is
    /// refused with `CART_LIMIT_EXCEEDED`.
    #[arg(long, env = "CARTQL_MAX_CART_BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1024..=16 << 20))]
    pub max_cart_bytes: u32,
    /// Bytes all of one viewer's carts may take together (1 KiB–256 MiB).
    #[arg(long, env = "CARTQL_MAX_OWNER_BYTES", default_value_t = 262_144, value_parser = clap::value_parser!(u32).range(1024..=256 << 20))]
    pub max_owner_bytes: u32,
    /// Bytes one order may take as stored when it is placed (1 KiB–64 MiB).
    #[arg(long, env = "CARTQL_MAX_ORDER_BYTES", default_value_t = 131_072, value_parser = clap::value_parser!(u32).range(1024..=64 << 20))]
    pub max_order_bytes: u32,
    /// Writes (cart mutations, checkouts, merges) one viewer may make per
    /// minute on average (1–60000); more are refused with `THROTTLED`.
    #[arg(long, env = "CARTQL_VIEWER_WRITE_RATE", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub viewer_write_rate: u32,
    /// Writes one viewer may make at once, above the rate (1–10000).
    #[arg(long, env = "CARTQL_VIEWER_WRITE_BURST", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub viewer_write_burst: u32,
    /// Writes one client address may make per minute on average, whatever
    /// tokens it uses (1–600000).
    #[arg(long, env = "CARTQL_CLIENT_WRITE_RATE", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..=600_000))]
    pub client_write_rate: u32,
    /// Writes one client address may make at once, above the rate (1–100000).
    #[arg(long, env = "CARTQL_CLIENT_WRITE_BURST", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub client_write_burst: u32,
    /// Who must give an e-mail before checkout: `guests` (a guest has no
    /// other contact), `all`, or `optional`. A customer's own e-mail counts.
    #[arg(
        long,
        env = "CARTQL_CHECKOUT_EMAIL",
        value_enum,
        default_value = "guests"
    )]
    pub checkout_email: CheckoutEmailArg,
    /// How long a guest's cart lives after its last change, e.g. `30d`.
    #[arg(long, env = "CARTQL_GUEST_CART_TTL", default_value = "30d", value_parser = parse_lifetime)]
    pub guest_cart_ttl: Duration,
    /// How long a customer's cart lives after its last change, e.g. `180d`.
    #[arg(long, env = "CARTQL_CUSTOMER_CART_TTL", default_value = "180d", value_parser = parse_lifetime)]
    pub customer_cart_ttl: Duration,
    /// Largest request body in bytes (1 KiB–16 MiB).
    #[arg(long, env = "CARTQL_MAX_BODY_BYTES", default_value_t = 262_144, value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub max_body_bytes: u32,
    /// Deepest selection a query may have (2–64).
    #[arg(long, env = "CARTQL_MAX_QUERY_DEPTH", default_value_t = 16, value_parser = clap::value_parser!(u16).range(2..=64))]
    pub max_query_depth: u16,
    /// Highest complexity a query may have: the fields it resolves in the
    /// worst case, a list's fields counted once per item it may hold
    /// (10–1000000).
    #[arg(long, env = "CARTQL_MAX_QUERY_COMPLEXITY", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    pub max_query_complexity: u32,
    /// Most selections a document may expand to, every fragment spread counted
    /// at its fragment's full size and `__typename` like any field (100–100000).
    #[arg(long, env = "CARTQL_MAX_QUERY_NODES", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(100..=100_000))]
    pub max_query_nodes: u32,
    /// How long idempotency keys are remembered (at least this long), e.g. `24h`.
    #[arg(long, env = "CARTQL_IDEMPOTENCY_TTL", default_value = "24h", value_parser = parse_lifetime)]
    pub idempotency_ttl: Duration,
    /// Idempotency keys one viewer may have remembered at once (within
    /// `--idempotency-ttl`); a new one beyond is refused with `THROTTLED` (10–1000000).
    #[arg(long, env = "CARTQL_MAX_IDEMPOTENCY_KEYS_PER_VIEWER", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=1_000_000))]
    pub max_idempotency_keys_per_viewer: u32,
    /// How often expired carts and idempotency records are deleted, e.g. `5m`.
    #[arg(long, env = "CARTQL_SWEEP_INTERVAL", default_value = "5m", value_parser = parse_lifetime)]
    pub sweep_interval: Duration,
    /// How long one HTTP request may take, body upload included (408 after), e.g. `30s`.
    #[arg(long, env = "CARTQL_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_lifetime)]
    pub request_timeout: Duration,
    /// How long a WebSocket client has to send `connection_init` (closed with 4408 after).
    #[arg(long, env = "CARTQL_WS_INIT_TIMEOUT", default_value = "10s", value_parser = parse_lifetime)]
    pub ws_init_timeout: Duration,
    /// Browser origins allowed to call the API (CORS), comma-separated, e.g.
    /// `https://shop.example,http://localhost:5173`; `*` allows any. Default: none.
    #[arg(long, env = "CARTQL_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin, value_name = "ORIGINS")]
    pub cors_origins: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed, comma-separated
    /// addresses or networks (e.g. `127.0.0.1,10.0.0.0/8`). Requests from them
    /// are counted (every per-client limit) by the client address they
    /// forward. Addresses are compared in IPv4 form when they are IPv4, also
    /// on a dual-stack `[::]` listener: `127.0.0.1` matches the peer
    /// `::ffff:127.0.0.1`, and `::ffff:10.0.0.0/104` means `10.0.0.0/8`.
    /// Default: none (the TCP peer is the client).
    #[arg(long, env = "CARTQL_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network, value_name = "NETWORKS")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Serve Prometheus metrics at `GET /metrics` on this address (its own
    /// listener, e.g. `127.0.0.1:9090`; port 0 picks a free one). Default: off.
    #[arg(long, env = "CARTQL_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Load the demo catalog when the catalog is empty.
    #[arg(long, env = "CARTQL_DEMO")]
    pub demo: bool,
    /// How log lines are written to stderr: `text` for a person, `json` (one
    /// JSON object a line: timestamp, level, target, fields, and the spans
    /// with their fields, the request id among them) for a log shipper.
    #[arg(long, env = "CARTQL_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Connections open at once, WebSockets included (1–1000000); more are
    /// closed at once. Lowered (with a warning) to fit the open-file limit.
    #[arg(long, env = "CARTQL_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// How long a client has to send a complete request head, on a new
    /// connection and between requests on a kept-alive one (1s–10m).
    #[arg(long, env = "CARTQL_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_up_to_10m)]
    pub header_read_timeout: Duration,
    /// A connection that moves no bytes either way for this long while no
    /// request is being handled is closed, e.g. a client that stops reading a
    /// response (1s–1h).
    #[arg(long, env = "CARTQL_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_up_to_1h)]
    pub idle_timeout: Duration,
    /// After SIGTERM or Ctrl-C, how long requests in flight get to finish
    /// before every connection left is dropped (1s–1h).
    #[arg(long, env = "CARTQL_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_up_to_1h)]
    pub shutdown_grace: Duration,
    /// Operations (subscriptions, queries, mutations) in progress at once on
    /// one WebSocket (1–1000).
    #[arg(long, env = "CARTQL_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_subscriptions_per_connection: u16,
    /// WebSockets open at once with one viewer's tokens (1–1000). Anonymous
    /// sockets count only against --max-connections.
    #[arg(long, env = "CARTQL_MAX_WS_CONNECTIONS_PER_VIEWER", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_ws_connections_per_viewer: u16,
    /// WebSockets open at once from one client address, with or without a
    /// token (1–10000); more are refused with 429 before the upgrade.
    #[arg(long, env = "CARTQL_MAX_WS_CONNECTIONS_PER_CLIENT", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=10_000))]
    pub max_ws_connections_per_client: u16,
    /// Largest WebSocket message in bytes (1 KiB–16 MiB); graphql-transport-ws
    /// messages are small, and each socket may hold one while it arrives.
    #[arg(long, env = "CARTQL_MAX_WS_MESSAGE_BYTES", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1024..=16 * 1024 * 1024))]
    pub max_ws_message_bytes: u32,
    /// How often the server pings each WebSocket (1s–10m).
    #[arg(long, env = "CARTQL_WS_PING_INTERVAL", default_value = "30s", value_parser = parse_up_to_10m)]
    pub ws_ping_interval: Duration,
    /// A WebSocket from which nothing (no message, no pong) arrived for this
    /// long is closed (1s–1h; longer than --ws-ping-interval).
    #[arg(long, env = "CARTQL_WS_IDLE_TIMEOUT", default_value = "75s", value_parser = parse_up_to_1h)]
    pub ws_idle_timeout: Duration,
    /// Allow webhook URLs over plain `http` and to loopback, private and
    /// link-local addresses. For development and tests only: with it, an
    /// admin token can make the server call into its own network.
    #[arg(long, env = "CARTQL_WEBHOOK_ALLOW_INSECURE")]
    pub webhook_allow_insecure: bool,
    /// The most webhook endpoints a shop may have (1–1000).
    #[arg(long, env = "CARTQL_MAX_WEBHOOK_ENDPOINTS", default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_webhook_endpoints: u16,
    /// How long finished webhook deliveries and sent events are kept (for
    /// `webhookDeliveries` and replays), e.g. `30d`.
    #[arg(long, env = "CARTQL_WEBHOOK_LOG_RETENTION", default_value = "30d", value_parser = parse_lifetime)]
    pub webhook_log_retention: Duration,
    /// The waits between webhook attempts, comma-separated (1 to 20 waits
    /// of 1s to 24h each); after the last, a delivery is `FAILED`. Each
    /// wait varies by ±20 %.
    #[arg(long, env = "CARTQL_WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5m,30m,2h,5h,10h,10h,10h", value_parser = crate::domain::webhook::parse_schedule)]
    pub webhook_retry_schedule: crate::domain::webhook::Schedule,
    /// How long a cart with lines and a buyer e-mail sits unchanged before a
    /// `CART_ABANDONED` webhook announces it (once per cart version), e.g.
    /// `1h`. Carts are looked at every twelfth of this (1s to 1m).
    #[arg(long, env = "CARTQL_ABANDONED_CART_AFTER", default_value = "1h", value_parser = parse_lifetime)]
    pub abandoned_cart_after: Duration,
    /// How long an instance owns a webhook delivery (or outbox event) it
    /// claimed before another may take it over, e.g. after a crash (1s–1h).
    /// Keep it above the 10 s an attempt may take: an attempt that outlives
    /// its claim may be sent again by another instance.
    #[arg(long, env = "CARTQL_WEBHOOK_LEASE", default_value = "60s", value_parser = parse_up_to_1h)]
    pub webhook_lease: Duration,
    /// A directory the running server writes backups into (`createBackup`,
    /// `--backup-every`): the whole store in the export format, one instant
    /// of it, while serving. Created private (0700) if missing. No backups
    /// while unset.
    #[arg(long, env = "CARTQL_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Make a backup this often (e.g. `6h`; 1s–10 years), the first one
    /// this long after the start. Needs --backup-dir.
    #[arg(long, env = "CARTQL_BACKUP_EVERY", value_parser = parse_lifetime, requires = "backup_dir")]
    pub backup_every: Option<Duration>,
    /// How many backups --backup-dir keeps (1–1000): after each new one,
    /// the oldest beyond this many are deleted.
    #[arg(long, env = "CARTQL_BACKUP_KEEP", default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub backup_keep: u16,
    #[command(flatten)]
    pub identity: IdentityConfig,
}

impl ServeConfig {
    /// How webhooks behave.
    pub fn webhook_settings(&self) -> crate::domain::webhook::WebhookSettings {
        crate::domain::webhook::WebhookSettings {
            allow_insecure: self.webhook_allow_insecure,
            max_endpoints: usize::from(self.max_webhook_endpoints),
            retention: chrono_duration(self.webhook_log_retention),
            schedule: self.webhook_retry_schedule.0.clone(),
            abandoned_after: chrono_duration(self.abandoned_cart_after),
            lease: chrono_duration(self.webhook_lease),
            ..Default::default()
        }
    }

    /// The cart limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_lines_per_cart: usize::from(self.max_lines_per_cart),
            max_quantity_per_line: self.max_quantity_per_line,
            max_carts_per_viewer: usize::from(self.max_carts_per_viewer),
            max_cart_bytes: self.max_cart_bytes as usize,
            max_owner_bytes: self.max_owner_bytes as usize,
            max_order_bytes: self.max_order_bytes as usize,
        }
    }

    /// Currency, cart limits and lifetimes.
    pub fn shop_settings(&self) -> ShopSettings {
        ShopSettings {
            currency: self.currency,
            limits: self.limits(),
            guest_cart_lifetime: chrono_duration(self.guest_cart_ttl),
            customer_cart_lifetime: chrono_duration(self.customer_cart_ttl),
            max_idempotency_keys_per_viewer: self.max_idempotency_keys_per_viewer as usize,
            attribute_limits: AttributeLimits {
                max_attributes: usize::from(self.max_attributes),
                max_key_bytes: usize::from(self.max_attribute_key_bytes),
                max_value_bytes: usize::from(self.max_attribute_value_bytes),
                max_note_bytes: usize::from(self.max_note_bytes),
            },
            checkout_email: self.checkout_email.into(),
            write_rates: WriteRates {
                viewer: Rate {
                    per_minute: self.viewer_write_rate,
                    burst: self.viewer_write_burst,
                },
                client: Rate {
                    per_minute: self.client_write_rate,
                    burst: self.client_write_burst,
                },
            },
        }
    }

    /// What the store's background sweep deletes, and how often.
    pub fn retention(&self) -> Retention {
        Retention {
            guest_cart_lifetime: chrono_duration(self.guest_cart_ttl),
            customer_cart_lifetime: chrono_duration(self.customer_cart_ttl),
            idempotency_ttl: chrono_duration(self.idempotency_ttl),
            revocation_lifetime: chrono::Duration::days(crate::auth::token::MAX_TTL_DAYS)
                + chrono::Duration::seconds(crate::auth::token::LEEWAY_SECONDS as i64),
            sweep_interval: self.sweep_interval,
        }
    }

    /// Limits on the shape of documents.
    pub fn query_limits(&self) -> QueryLimits {
        QueryLimits {
            max_depth: usize::from(self.max_query_depth),
            max_complexity: self.max_query_complexity as usize,
            document: DocumentLimits {
                max_nodes: self.max_query_nodes as usize,
            },
        }
    }
}

/// A configured duration as a chrono one (they are bounded well below chrono's range).
fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `--external-algorithm`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalAlgorithmArg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[value(name = "RS256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    #[value(name = "ES256")]
    Es256,
    /// Ed25519.
    #[value(name = "EdDSA")]
    EdDsa,
}

impl From<ExternalAlgorithmArg> for ExternalAlgorithm {
    fn from(arg: ExternalAlgorithmArg) -> ExternalAlgorithm {
        match arg {
            ExternalAlgorithmArg::Rs256 => ExternalAlgorithm::Rs256,
            ExternalAlgorithmArg::Es256 => ExternalAlgorithm::Es256,
            ExternalAlgorithmArg::EdDsa => ExternalAlgorithm::EdDsa,
        }
    }
}

/// `--log-format`: how log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object a line.
    Json,
}

/// `--checkout-email`: who must give an e-mail before checkout.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutEmailArg {
    /// Guests (a guest has no other contact); customers have their account's.
    Guests,
    /// Everyone.
    All,
    /// No one.
    Optional,
}

impl From<CheckoutEmailArg> for CheckoutEmail {
    fn from(arg: CheckoutEmailArg) -> CheckoutEmail {
        match arg {
            CheckoutEmailArg::Guests => CheckoutEmail::Guests,
            CheckoutEmailArg::All => CheckoutEmail::All,
            CheckoutEmailArg::Optional => CheckoutEmail::Optional,
        }
    }
}

/// `--durability`: when a write is acknowledged.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurabilityArg {
    /// After it is flushed to disk.
    Strict,
    /// At once, made durable every 200 ms: a power cut may lose the last ~0.3 s.
    Relaxed,
}

impl From<DurabilityArg> for Durability {
    fn from(arg: DurabilityArg) -> Durability {
        match arg {
            DurabilityArg::Strict => Durability::Strict,
            DurabilityArg::Relaxed => Durability::Relaxed,
        }
    }
}

/// Identity: token lifetimes, key rotation, log-in throttling, password
/// hashing and the external identity provider.
#[derive(Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("external_keys").args(["external_jwks", "external_public_key"])))]
pub struct IdentityConfig {
    /// Lifetime of guest tokens from `startGuestSession` (1s–366d).
    #[arg(long, env = "CARTQL_GUEST_TOKEN_TTL", default_value = "30d", value_parser = parse_token_lifetime)]
    pub guest_token_ttl: Duration,
    /// Lifetime of customer tokens from `signUp`, `logIn` and `renewToken` (1s–366d).
    #[arg(long, env = "CARTQL_CUSTOMER_TOKEN_TTL", default_value = "7d", value_parser = parse_token_lifetime)]
    pub customer_token_ttl: Duration,
    /// Previous HMAC secrets, comma-separated. Tokens signed with one of them
    /// (their `kid` says which) are still accepted; remove a secret to retire it.
    #[arg(long, env = "CARTQL_JWT_PREVIOUS_SECRETS", hide_env_values = true, value_name = "SECRETS", value_delimiter = ',', value_parser = parse_secret)]
    pub jwt_previous_secrets: Vec<String>,
    /// Failed log-ins for one email within the window before log-ins for it are refused (1–1000).
    #[arg(long, env = "CARTQL_LOGIN_MAX_FAILURES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub login_max_failures: u32,
    /// Failed log-ins from one client address within the window before its log-ins are refused (1–100000).
    #[arg(long, env = "CARTQL_LOGIN_MAX_FAILURES_PER_CLIENT", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub login_max_failures_per_client: u32,
    /// How long failed log-ins are counted from the first one, e.g. `15m` (1s–24h).
    #[arg(long, env = "CARTQL_LOGIN_FAILURE_WINDOW", default_value = "15m", value_parser = parse_failure_window)]
    pub login_failure_window: Duration,
    /// Sign-up attempts from one client address within the per-client
    /// window before its sign-ups are refused (1–100000).
    #[arg(long, env = "CARTQL_SIGNUP_MAX_PER_CLIENT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub signup_max_per_client: u32,
    /// Guest sessions (`startGuestSession`) one client address may start
    /// within the per-client window (1–1000000).
    #[arg(long, env = "CARTQL_MAX_GUEST_SESSIONS_PER_CLIENT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_guest_sessions_per_client: u32,
    /// Checkouts (`checkout`, `checkoutLines`) one client address may place
    /// within the per-client window (1–1000000).
    #[arg(long, env = "CARTQL_MAX_CHECKOUTS_PER_CLIENT", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_checkouts_per_client: u32,
    /// How long sign-ups, guest sessions and checkouts are counted per client
    /// address from the first one, e.g. `1h` (1s–24h).
    #[arg(long, env = "CARTQL_PER_CLIENT_WINDOW", default_value = "1h", value_parser = parse_failure_window)]
    pub per_client_window: Duration,
    /// How long a customer may keep renewing tokens after logging in, e.g.
    /// `90d`; then `renewToken` refuses and the customer logs in again (1s–366d).
    #[arg(long, env = "CARTQL_MAX_SESSION_AGE", default_value = "90d", value_parser = parse_token_lifetime)]
    pub max_session_age: Duration,
    /// Threads that hash passwords (argon2id, 19 MiB each); more requests
    /// queue, log-ins before sign-ups (1–64).
    #[arg(long, env = "CARTQL_PASSWORD_HASH_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub password_hash_concurrency: u16,
    /// JWKS file with the external identity provider's public keys.
    #[arg(long, env = "CARTQL_EXTERNAL_JWKS", value_name = "FILE", requires_all = ["external_issuer", "external_audience"])]
    pub external_jwks: Option<PathBuf>,
    /// PEM file with the external identity provider's one public key (needs --external-algorithm).
    #[arg(long, env = "CARTQL_EXTERNAL_PUBLIC_KEY", value_name = "FILE", conflicts_with = "external_jwks", requires_all = ["external_algorithm", "external_issuer", "external_audience"])]
    pub external_public_key: Option<PathBuf>,
    /// Algorithm of the --external-public-key key.
    #[arg(
        long,
        env = "CARTQL_EXTERNAL_ALGORITHM",
        value_enum,
        requires = "external_public_key"
    )]
    pub external_algorithm: Option<ExternalAlgorithmArg>,
    /// The `iss` the external provider's tokens must carry.
    #[arg(long, env = "CARTQL_EXTERNAL_ISSUER", value_name = "ISS", requires = "external_keys", value_parser = parse_external_issuer)]
    pub external_issuer: Option<String>,
    /// The `aud` the external provider's tokens must carry (this service's id there).
    #[arg(long, env = "CARTQL_EXTERNAL_AUDIENCE", value_name = "AUD", requires = "external_keys", value_parser = parse_claim_text)]
    pub external_audience: Option<String>,
    /// Claim holding an external token's roles (a list, or space-separated
    /// text; dots go into objects: `realm_access.roles`). Unset: no roles.
    #[arg(long, env = "CARTQL_EXTERNAL_ROLES_CLAIM", value_name = "CLAIM", requires = "external_keys", value_parser = parse_roles_claim)]
    pub external_roles_claim: Option<String>,
}

impl IdentityConfig {
    /// The limits on log-ins and sign-ups.
    pub fn throttle_rules(&self) -> ThrottleRules {
        let window = chrono_duration(self.login_failure_window);
        let rule = |max_failures| ThrottleRule {
            max_failures,
            window,
        };
        let per_client = |max_failures| ThrottleRule {
            max_failures,
            window: chrono_duration(self.per_client_window),
        };
        ThrottleRules {
            per_email: rule(self.login_max_failures),
            per_client: rule(self.login_max_failures_per_client),
            sign_ups_per_client: per_client(self.signup_max_per_client),
            guest_sessions_per_client: per_client(self.max_guest_sessions_per_client),
            checkouts_per_client: per_client(self.max_checkouts_per_client),
        }
    }

    /// Lifetimes of the tokens the built-in issuer signs; a guest's stays
    /// renewable `guest_cart_lifetime` after it expires.
    pub fn token_lifetimes(&self, guest_cart_lifetime: chrono::Duration) -> TokenLifetimes {
        TokenLifetimes {
            guest: chrono_duration(self.guest_token_ttl),
            customer: chrono_duration(self.customer_token_ttl),
            max_session_age: chrono_duration(self.max_session_age),
            guest_renewal_window: guest_cart_lifetime,
        }
    }

    /// The built-in issuer (signing with `secret`, accepting the previous
    /// secrets too) and the external one, if configured.
    pub fn authenticator(&self, secret: &[u8]) -> Result<Authenticator, String> {
        let previous: Vec<Vec<u8>> = self
            .jwt_previous_secrets
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let keys = TokenKeys::with_previous(secret, &previous)
            .map_err(|e| format!("--jwt-secret / --jwt-previous-secrets: {e}"))?;
        tracing::info!(
            kid = keys.current_kid(),
            previous = previous.len(),
            "built-in token keys"
        );
        let external = match self.external() {
            Some(settings) => {
                let issuer = ExternalIssuer::load(&settings)?;
                tracing::info!(
                    issuer = issuer.issuer(),
                    keys = issuer.key_count(),
                    "external issuer"
                );
                Some(issuer)
            }
            None => None,
        };
        Ok(Authenticator { keys, external })
    }

    /// The external issuer's settings, when one is configured.
    pub fn external(&self) -> Option<ExternalSettings> {
        let keys = match (
            &self.external_jwks,
            &self.external_public_key,
            self.external_algorithm,
        ) {
            (Some(jwks), _, _) => KeySource::Jwks(jwks.clone()),
            (None, Some(pem), Some(algorithm)) => {
                KeySource::PublicKey(pem.clone(), algorithm.into())
            }
            _ => return None,
        };
        Some(ExternalSettings {
            keys,
            issuer: self.external_issuer.clone()?,
            audience: self.external_audience.clone()?,
            roles_claim: self.external_roles_claim.clone(),
        })
    }
}

pub(crate) fn parse_token_lifetime(text: &str) -> Result<Duration, String> {
    let lifetime = parse_lifetime(text)?;
    let max_days = crate::auth::token::MAX_TTL_DAYS as u64;
    if lifetime > Duration::from_secs(max_days * 86_400) {
        return Err(format!("must be between 1s and {max_days} days"));
    }
    Ok(lifetime)
}

fn parse_up_to_10m(text: &str) -> Result<Duration, String> {
    parse_timeout(text, 600, "10m")
}

fn parse_up_to_1h(text: &str) -> Result<Duration, String> {
    parse_timeout(text, 3600, "1h")
}

fn parse_timeout(text: &str, max_secs: u64, max: &str) -> Result<Duration, String> {
    let timeout = parse_lifetime(text)?;
    if timeout > Duration::from_secs(max_secs) {
        return Err(format!("must be between 1s and {max}"));
    }
    Ok(timeout)
}

pub(crate) fn parse_failure_window(text: &str) -> Result<Duration, String> {
    let window = parse_lifetime(text)?;
    if window > Duration::from_secs(86_400) {
        return Err("must be between 1s and 24h".into());
    }
    Ok(window)
}

fn parse_claim_text(text: &str) -> Result<String, String> {
    if text.trim().is_empty() || text.len() > 1000 || text.chars().any(char::is_control) {
        return Err("must be 1 to 1000 printable characters".into());
    }
    Ok(text.to_string())
}

fn parse_external_issuer(text: &str) -> Result<String, String> {
    let issuer = parse_claim_text(text)?;
    if issuer == crate::auth::token::ISSUER {
        return Err(format!(
            "'{issuer}' is the built-in issuer's; name the external provider's issuer"
        ));
    }
    Ok(issuer)
}

fn parse_roles_claim(text: &str) -> Result<String, String> {
    let claim = parse_claim_text(text)?;
    if claim.split('.').any(str::is_empty) {
        return Err("a claim name, or names joined by dots, none empty".into());
    }
    Ok(claim)
}

pub(crate) fn parse_secret(text: &str) -> Result<String, String> {
    crate::auth::secret::check_configured(text).map(|_| text.to_string())
}

fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_string());
    }
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| {
            format!(
                "'{text}' is not an origin like https://shop.example (scheme, host, optional port)"
            )
        })?;
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok {
        return Err(format!(
            "'{text}' is not an origin: no path, query or trailing slash"
        ));
    }
    Ok(text.to_string())
}

/// Parses one `--trusted-proxies` entry: an address or a network in CIDR
/// form, made canonical (`::ffff:10.0.0.0/104` is `10.0.0.0/8`), because
/// client addresses are compared in canonical form.
pub(crate) fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map(crate::auth::canonical_network)
        .map_err(|_| format!("'{text}' is not an IP address or a network like 10.0.0.0/8"))
}

pub(crate) fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let lifetime = humantime::parse_duration(text)
        .map_err(|e| format!("{e} (write it like 30m, 12h or 30d)"))?;
    if lifetime < Duration::from_secs(1) || lifetime > Duration::from_secs(10 * 366 * 86_400) {
        return Err("must be between 1s and 10 years".into());
    }
    Ok(lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            parse_origin("https://shop.example").unwrap(),
            "https://shop.example"
        );
        assert!(parse_origin("http://localhost:5173").is_ok());
        assert!(parse_origin("*").is_ok());
        for bad in [
            "shop.example",
            "https://shop.example/",
            "https://",
            "ftp://x",
            "https://a b",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lifetimes_are_human_durations_within_bounds() {
        assert_eq!(
            parse_lifetime("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert!(parse_lifetime("0s").is_err());
        assert!(parse_lifetime("forever").is_err());
        assert!(parse_lifetime("20000d").is_err());
        assert!(parse_token_lifetime("400d").is_err());
        assert!(parse_token_lifetime("366d").is_ok());
        assert!(parse_failure_window("2d").is_err());
        assert_eq!(parse_up_to_10m("10s").unwrap(), Duration::from_secs(10));
        assert!(parse_up_to_10m("11m").is_err());
        assert!(parse_up_to_1h("0s").is_err());
        assert!(parse_up_to_1h("2h").is_err());
    }

    #[test]
    fn external_issuer_settings_are_checked() {
        assert!(parse_external_issuer("cartql").is_err());
        assert!(parse_external_issuer(" ").is_err());
        assert!(parse_external_issuer("https://id.example.com/").is_ok());
        assert!(parse_roles_claim("realm_access.roles").is_ok());
        assert!(parse_roles_claim("a..b").is_err());
    }
}
