//! Start-up, in one place: what every start needs (the key tokens are
//! signed with, a prepared data directory, a PostgreSQL secret shared by the
//! instances) is checked here once, for the server and for every command;
//! [`location`] says where the store is; [`Services::build`] assembles what
//! resolvers use, for the server and for the in-process tests alike.

use crate::auth::secret::{self, SecretSource};
use crate::auth::verifier::Verifier;
use crate::auth::write_rate::WriteLimiter;
use crate::auth::{self, password::Passwords};
use crate::clock::Clock;
use crate::config::{ServeConfig, StoreConfig};
use crate::services::Services;
use crate::store::Store;
use crate::store::backend::{Backend, Background, Location, Running};
use crate::store::backup::Backups;
use crate::store::postgres::PgSettings;
use crate::store::sled::Durability;
use std::sync::Arc;

/// A start-up failure, as one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// Services assembled over a started store.
pub struct Started {
    /// What resolvers use.
    pub services: Services,
    /// The store, to close when serving ends.
    pub running: Running,
}

/// The key the built-in issuer signs with. Several instances on PostgreSQL
/// must all have the configured one (a key generated per instance would
/// not verify the others' tokens); with sled, one is generated into the
/// data directory on first start when none is configured.
pub fn signing_secret(config: &StoreConfig) -> Result<(Vec<u8>, SecretSource), String> {
    match &config.database_url {
        Some(_) => secret::check_configured(shared_secret(config)?)
            .map(|s| (s, SecretSource::Configured))
            .map_err(|e| format!("--jwt-secret: {e}")),
        None => secret::resolve(config.jwt_secret.as_deref(), prepared_data_dir(config)?)
            .map_err(|e| format!("--data-dir / --jwt-secret: {e}")),
    }
}

/// The secret every instance on one PostgreSQL database has: tokens are
/// signed with it, and change notices keyed with it.
fn shared_secret(config: &StoreConfig) -> Result<&str, String> {
    config.jwt_secret.as_deref().ok_or_else(|| {
        "--database-url needs CARTQL_JWT_SECRET, the same on every instance (a key generated per instance would not verify the others' tokens)".into()
    })
}

/// Where `config` keeps the store; a sled data directory is created and
/// made private here. A command that changes what live subscriptions show
/// (the server, `revoke`) passes `notifies`: on PostgreSQL its change
/// notices are keyed with the shared secret, which it then requires.
pub fn location(
    config: &StoreConfig,
    durability: Durability,
    notifies: bool,
) -> Result<Location, String> {
    match &config.database_url {
        Some(url) => {
            let secret = match notifies {
                true => shared_secret(config)?,
                false => config.jwt_secret.as_deref().unwrap_or_default(),
            };
            Ok(Location::Postgres(PgSettings {
                url: url.clone(),
                max_connections: config.database_max_connections,
                notice_secret: secret.as_bytes().to_vec(),
            }))
        }
        None => {
            let dir = prepared_data_dir(config)?;
            Ok(Location::Sled {
                dir: dir.to_path_buf(),
                durability,
                cache_bytes: config.cache_mib.saturating_mul(1 << 20),
            })
        }
    }
}

/// The sled data directory, created private (mode 0700) if it is not
/// there; refused if others may read it.
fn prepared_data_dir(config: &StoreConfig) -> Result<&std::path::Path, String> {
    let dir = &config.data_dir;
    crate::store::data_dir::prepare(dir).map_err(|e| format!("--data-dir: {e}"))?;
    Ok(dir)
}

/// Opens the store `config` names for a command (no background work).
pub async fn open_store(
    config: &StoreConfig,
    durability: Durability,
    notifies: bool,
) -> Result<Backend, String> {
    Backend::open(&location(config, durability, notifies)?).await
}

impl Services {
    /// Everything resolvers use, from the server's settings: the signing
    /// key, the store started with its throttle and (with
    /// [`Background::Run`]) its background work, the shop currency pinned,
    /// the demo catalog with `--demo`, password hashing, write rates.
    pub async fn build(
        config: &ServeConfig,
        clock: Arc<dyn Clock>,
        background: Background,
    ) -> Result<Started, StartError> {
        auth::install_crypto();
        let (secret, source) = signing_secret(&config.store).map_err(StartError)?;
        tracing::info!(?source, "token signing key loaded");
        let authenticator = Arc::new(config.identity.authenticator(&secret).map_err(StartError)?);
        let location =
            location(&config.store, config.durability.into(), true).map_err(StartError)?;
        let running = Backend::start(
            &location,
            config.retention(),
            config.identity.throttle_rules(),
            clock.clone(),
            background,
        )
        .await
        .map_err(StartError)?;
        let store = running.store.clone();
        store
            .pin_currency(config.currency.code())
            .await
            .map_err(|e| StartError(format!("--currency: {e}")))?;
        if config.demo {
            load_demo_catalog(store.as_ref(), config).await?;
        }
        let passwords = Passwords::new(usize::from(config.identity.password_hash_concurrency))
            .map_err(|e| StartError(format!("--password-hash-concurrency: {e}")))?;
        let shop = config.shop_settings();
        let lifetimes = config.identity.token_lifetimes(shop.guest_cart_lifetime);
        let backups = match &config.backup_dir {
            Some(dir) => Some(Arc::new(
                Backups::new(
                    running.backend.clone(),
                    dir,
                    usize::from(config.backup_keep),
                )
                .map_err(StartError)?,
            )),
            None => None,
        };
        let services = Services {
            store: store.clone(),
            write_limiter: Arc::new(WriteLimiter::new(shop.write_rates)),
            shop,
            verifier: Verifier::new(authenticator, store, clock.clone()),
            passwords,
            throttle: running.throttle.clone(),
            lifetimes,
            clock,
            order_ids: Arc::default(),
            webhooks: config.webhook_settings(),
            backups,
        };
        Ok(Started { services, running })
    }
}

/// With `--demo`, the demo catalog goes into an empty catalog (never over
/// the shop's own).
async fn load_demo_catalog(store: &dyn Store, config: &ServeConfig) -> Result<(), StartError> {
    let fail = |e: String| StartError(format!("--demo: {e}"));
    if !store
        .catalog_is_empty()
        .await
        .map_err(|e| fail(e.to_string()))?
    {
        return Ok(());
    }
    let catalog =
        crate::catalog_file::parse(crate::catalog_file::DEMO, &config.currency).map_err(fail)?;
    store
        .import_catalog(&catalog.records, &catalog.variants)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let welcome = demo_discount(config).map_err(fail)?;
    let value = serde_json::to_value(&welcome).map_err(|e| fail(e.to_string()))?;
    store
        .put_shop_record(crate::store::shop::DISCOUNTS, &welcome.id, &value)
        .await
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!(
        products = catalog.records.len(),
        variants = catalog.variants.len(),
        discount_codes = "WELCOME10",
        "demo catalog loaded"
    );
    Ok(())
}

/// The id of the demo's discount: one fixed id, so instances starting
/// together on one database write the same record instead of two
/// discounts with the same code.
pub const DEMO_DISCOUNT_ID: &str = "01JEDEM0WE1C0ME10000000000";

/// The demo's discount: code `WELCOME10`, 10 % off the order, combining
/// with shipping discounts (the playground's "apply a discount code").
fn demo_discount(config: &ServeConfig) -> Result<crate::domain::pricing::Discount, String> {
    use crate::domain::pricing::{Combinations, DiscountInput, DiscountTarget, parse_discount};
    let input = DiscountInput {
        title: "Welcome: 10 % off".into(),
        codes: vec!["WELCOME10".into()],
        target: DiscountTarget::Order,
        percentage: Some("10".into()),
        fixed_amount: None,
        applies_to: None,
        buy_x_get_y: None,
        minimum_subtotal: None,
        minimum_quantity: None,
        starts_at: None,
        ends_at: None,
        usage_limit: None,
        usage_limit_per_customer: None,
        customers_only: false,
        combines_with: Combinations {
            line_discounts: false,
            order_discounts: false,
            shipping_discounts: true,
        },
        active: true,
    };
    let id = DEMO_DISCOUNT_ID.to_string();
    parse_discount(&input, id, chrono::Utc::now(), &config.currency).map_err(|problems| {
        let first = problems.first().map(|p| p.message.clone());
        format!(
            "the demo discount is invalid: {}",
            first.unwrap_or_default()
        )
    })
}

/// Settings for in-process tests, parsed from flags as `cartql serve`
/// parses them, so the tests assemble their services the server's way.
#[cfg(test)]
pub(crate) mod testing {
    use crate::config::ServeConfig;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        serve: ServeConfig,
    }

    /// A sled store in `data_dir` with the demo catalog, relaxed
    /// durability (a test needs no fsync), a fixed signing secret, one
    /// password hasher; `extra` flags after those.
    pub(crate) fn config(data_dir: &std::path::Path, extra: &[&str]) -> ServeConfig {
        let data_dir = data_dir.to_str().expect("a UTF-8 temporary path");
        let mut args = vec![
            "cartql",
            "--data-dir",
            data_dir,
            "--jwt-secret",
            "in-process-tests-sign-with-this-32-byte-secret",
            "--durability",
            "relaxed",
            "--demo",
            "--currency",
            "USD",
            "--password-hash-concurrency",
            "1",
        ];
        args.extend_from_slice(extra);
        Flags::try_parse_from(args)
            .unwrap_or_else(|e| panic!("{e}"))
            .serve
    }
}
