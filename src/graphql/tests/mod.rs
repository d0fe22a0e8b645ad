//! In-process schema tests: the schema executed without HTTP, on a sled
//! store in a temporary directory, with time under the test's control
//! ([`TokioClock`] on a paused tokio runtime: `advance` instead of sleeping).
//! Resolver policy lives here; spawned-binary tests in `tests/api/` keep
//! what needs a process (HTTP and WebSocket edges, signals, restarts, CLI).

mod error_codes;
mod expiry;
mod idempotency;
mod merge;
mod round_trips;
mod traces;

use super::{QueryLimits, document::DocumentLimits, engine::Engine};
use crate::auth::password::Passwords;
use crate::auth::throttle::{MemoryThrottle, ThrottleRules};
use crate::auth::verifier::Verifier;
use crate::auth::write_rate::WriteLimiter;
use crate::auth::{Authenticator, Issuer, TokenKeys, TokenLifetimes, Viewer};
use crate::clock::{Clock, TokioClock};
use crate::domain::account::ThrottleRule;
use crate::domain::rate::WriteRates;
use crate::domain::{Currency, Limits, ShopSettings, ViewerKind};
use crate::services::Services;
use crate::store::sled::{Durability, SledStore};
use crate::store::{CatalogStore, Retention, Store};
use async_graphql::{Request, Variables};
use chrono::{Duration, Utc};
use serde_json::Value;
use std::sync::Arc;

/// The shop's settings in these tests: short lifetimes so expiry is near.
pub const GUEST_CART_LIFETIME: Duration = Duration::hours(1);
pub const CUSTOMER_CART_LIFETIME: Duration = Duration::days(2);
pub const IDEMPOTENCY_TTL: Duration = Duration::hours(24);

/// A schema over its own store, at a time the test moves.
pub struct Shop {
    pub engine: Engine,
    pub services: Services,
    pub store: Arc<SledStore>,
    pub clock: TokioClock,
    _dir: tempfile::TempDir,
}

impl Shop {
    /// A shop with the demo catalog. Call inside `#[tokio::test(start_paused = true)]`.
    pub async fn open() -> Shop {
        crate::auth::install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path(), Durability::Relaxed).unwrap());
        let currency = Currency::parse("USD").unwrap();
        let catalog = crate::catalog_file::parse(crate::catalog_file::DEMO, &currency).unwrap();
        store
            .import_catalog(&catalog.records, &catalog.variants)
            .await
            .unwrap();
        // Starts at the real time: tokens signed by the schema are checked
        // by jsonwebtoken against the system clock.
        let clock = TokioClock::starting_at(Utc::now());
        let dyn_store: Arc<dyn Store> = store.clone();
        let keys = TokenKeys::from_secret(&[7u8; 32]).unwrap();
        let authenticator = Arc::new(Authenticator {
            keys,
            external: None,
        });
        let rule = |max_failures| ThrottleRule {
            max_failures,
            window: Duration::minutes(15),
        };
        let services = Services {
            store: dyn_store.clone(),
            shop: ShopSettings {
                currency,
                limits: Limits::DEFAULT,
                guest_cart_lifetime: GUEST_CART_LIFETIME,
                customer_cart_lifetime: CUSTOMER_CART_LIFETIME,
                max_idempotency_keys_per_viewer: 1000,
                attribute_limits: Default::default(),
                checkout_email: Default::default(),
                write_rates: WriteRates::DEFAULT,
            },
            write_limiter: Arc::new(WriteLimiter::new(WriteRates::DEFAULT)),
            verifier: Verifier::new(authenticator, dyn_store),
            passwords: Passwords::new(1).unwrap(),
            throttle: Arc::new(MemoryThrottle::new(ThrottleRules {
                per_email: rule(3),
                per_client: rule(50),
                sign_ups_per_client: rule(20),
                guest_sessions_per_client: rule(1000),
                checkouts_per_client: rule(200),
            })),
            lifetimes: TokenLifetimes {
                guest: Duration::days(30),
                customer: Duration::days(7),
                max_session_age: Duration::days(90),
            },
            clock: Arc::new(clock),
            order_ids: Arc::default(),
        };
        let limits = QueryLimits {
            max_depth: 16,
            max_complexity: 25_000,
            document: DocumentLimits { max_nodes: 2000 },
        };
        Shop {
            engine: Engine::new(services.clone(), limits),
            services,
            store,
            clock,
            _dir: dir,
        }
    }

    /// Runs `query` as `viewer` and returns the whole response as JSON.
    pub async fn run(&self, viewer: Option<&Viewer>, query: &str, variables: Value) -> Value {
        let mut request = Request::new(query).variables(Variables::from_json(variables));
        if let Some(viewer) = viewer {
            request = request.data(viewer.clone());
        }
        let response = self.engine.execute(request).await;
        serde_json::to_value(&response).unwrap()
    }

    /// Runs `query` and returns its `data`, failing on any top-level error.
    pub async fn data(&self, viewer: Option<&Viewer>, query: &str, variables: Value) -> Value {
        let response = self.run(viewer, query, variables).await;
        assert!(response.get("errors").is_none(), "{response}");
        response["data"].clone()
    }

    /// A viewer as a valid token would give it, issued now.
    pub fn viewer(&self, id: &str, kind: ViewerKind, roles: &[&str]) -> Viewer {
        let now = self.clock.now();
        Viewer {
            id: id.into(),
            kind,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            expires_at: now + Duration::days(30),
            issued_at: Some(now.timestamp()),
            auth_time: Some(now.timestamp()),
            issuer: Issuer::BuiltIn,
            email: None,
        }
    }

    /// A guest token signed with this shop's key (for `guestToken` inputs).
    pub fn guest_token(&self, id: &str) -> String {
        let now = self.clock.now().timestamp();
        let grant = crate::auth::token::Grant {
            subject: id,
            kind: ViewerKind::Guest,
            roles: &[],
            issued_at: now,
            now,
            expires_at: now + 3600,
            auth_time: now,
            email: None,
        };
        self.services.keys().sign(&grant).unwrap().0
    }

    /// Moves time forward (timers waiting on it fire).
    pub async fn advance(&self, by: Duration) {
        tokio::time::advance(by.to_std().unwrap()).await;
    }

    /// One run of the store's background sweep, now.
    pub async fn sweep(&self) {
        let retention = Retention {
            guest_cart_lifetime: GUEST_CART_LIFETIME,
            customer_cart_lifetime: CUSTOMER_CART_LIFETIME,
            idempotency_ttl: IDEMPOTENCY_TTL,
            revocation_lifetime: Duration::days(366),
            sweep_interval: std::time::Duration::from_secs(300),
        };
        self.store.sweep_once(self.clock.now(), &retention).await;
    }
}

/// The codes of a payload's userErrors.
pub fn codes(payload: &Value) -> Vec<String> {
    payload["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

/// The code of the first top-level error.
pub fn error_code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {response}"))
        .to_string()
}

/// `addCartLines` of one line to `cart`.
pub const ADD: &str = "mutation($cart: String! = \"default\", $sku: String!, $q: Int!, $key: String, $v: Int) { addCartLines(input: {cart: $cart, lines: [{sku: $sku, quantity: $q}], idempotencyKey: $key, expectedVersion: $v}) { cart { version lines { sku quantity } } userErrors { code field } } }";
