//! In-process schema tests: the schema executed without HTTP, on a sled
//! store in a temporary directory, with time under the test's control
//! ([`TokioClock`] on a paused tokio runtime: `advance` instead of sleeping).
//! Resolver policy lives here; spawned-binary tests in `tests/api/` keep
//! what needs a process (HTTP and WebSocket edges, signals, restarts, CLI).

mod error_codes;
mod expiry;
mod idempotency;
mod merge;
mod readme_codes;
mod round_trips;
mod traces;

use super::engine::Engine;
use crate::auth::{Issuer, Viewer};
use crate::clock::{Clock, TokioClock};
use crate::config::ServeConfig;
use crate::domain::ViewerKind;
use crate::services::Services;
use crate::start::Started;
use crate::store::backend::{Backend, Background};
use crate::store::sled::SledStore;
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
    config: ServeConfig,
    _dir: tempfile::TempDir,
}

impl Shop {
    /// A shop with the demo catalog, assembled by [`Services::build`] as the
    /// server assembles its own, with nothing in the background (the tests
    /// sweep by hand). Call inside `#[tokio::test(start_paused = true)]`.
    pub async fn open() -> Shop {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let hours = |d: Duration| format!("{}h", d.num_hours());
        let (guest, customer, idempotency) = (
            hours(GUEST_CART_LIFETIME),
            hours(CUSTOMER_CART_LIFETIME),
            hours(IDEMPOTENCY_TTL),
        );
        let config = crate::start::testing::config(
            &data_dir,
            &[
                "--guest-cart-ttl",
                &guest,
                "--customer-cart-ttl",
                &customer,
                "--idempotency-ttl",
                &idempotency,
                "--login-max-failures",
                "3",
                "--max-query-depth",
                "16",
                "--max-query-complexity",
                "25000",
                "--max-query-nodes",
                "2000",
            ],
        );
        // Starts at the real time: tokens signed by the schema are checked
        // by jsonwebtoken against the system clock.
        let clock = TokioClock::starting_at(Utc::now());
        let Started { services, running } =
            Services::build(&config, Arc::new(clock), Background::Manual)
                .await
                .unwrap();
        let Backend::Sled(store) = running.backend else {
            panic!("the in-process tests run on sled")
        };
        Shop {
            engine: Engine::new(services.clone(), config.query_limits()),
            services,
            store,
            clock,
            config,
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
        let retention = self.config.retention();
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
