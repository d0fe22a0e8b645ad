//! Webhooks (issue "Tell the shop's other systems"): the admin's endpoints
//! and delivery log, and the [`Relay`] that sends what the outbox holds.
//!
//! Everything is a shop record (see [`crate::store::shop`]), so both
//! backends keep it alike and every rule here runs once for both:
//!
//! 1. A checkout or an order's move writes its [`Event`] into the outbox
//!    (`webhook-outbox`) in its own transaction: a refused change writes
//!    none, a replayed checkout writes none, a crash after the commit loses
//!    none.
//! 2. The relay of some instance reads the outbox's oldest events (its
//!    keys are ULIDs: the order they happened in) and, in one commit
//!    ([`write_shop_records`](crate::store::ShopStore::write_shop_records),
//!    atomic across instances), keeps them (`webhook-event`, for sending
//!    and replays), makes one [`Delivery`] per endpoint that wants each
//!    (`webhook-queue`, keyed `{endpoint}.{event}`) and takes them out of
//!    the outbox, only if all are still there: when instances race for the
//!    same batch one makes its deliveries and the others write nothing.
//! 3. A delivery is due when its time has come, it heads its endpoint's
//!    pending deliveries of that order, and no event of the order at or
//!    before its own is still in the outbox (read first, so an event moving
//!    from one to the other is seen in one of them; only the oldest events
//!    are read, so while the outbox holds more, deliveries of younger events
//!    wait). The relay claims it
//!    with a lease (another instance takes it over if this one dies), sends
//!    it, and records the attempt while the lease is its own: done
//!    (`webhook-delivery`, the log), or due again on the schedule
//!    (`--webhook-retry-schedule`, [`BACKOFF`](crate::domain::webhook::BACKOFF)
//!    by default).
//! 4. Abandoned carts have no transaction to be written in: a walk over the
//!    carts by their last change ([`CartStore::idle_carts`](crate::store::CartStore::idle_carts)),
//!    leased like the rest and run while an endpoint wants them, writes
//!    each cart found idle into the outbox under an id made of the cart and
//!    its version, so a step walked twice writes nothing new.

use super::AppError;
use super::pricing::decode;
pub use crate::domain::webhook::WebhookSettings;
use crate::domain::webhook::{
    AbandonWalk, Attempt, Delivery, DeliveryStatus, Endpoint, Event, EventKind, IdleMark, Secret,
    Verdict, address_allowed, cart_resource_id, check_description, check_events, check_url,
    event_millis, heads, is_abandoned,
};
use crate::domain::{ErrorCode, Rejection, UserError};
use crate::services::Services;
use crate::store::shop::{
    ABANDON_WALK_KEY, ShopWrite, WEBHOOK_ABANDON_WALK, WEBHOOK_ENDPOINTS, WEBHOOK_EVENTS,
    WEBHOOK_LOG, WEBHOOK_OUTBOX, WEBHOOK_QUEUE,
};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// How long one attempt may take (a 2xx later than this is a failure).
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The most outbox events one pass of the relay dispatches (in one commit).
const DISPATCH_BATCH: usize = 256;
/// The most outbox events a pass reads to know which deliveries must wait
/// for an event of their order still there.
const OUTBOX_VIEW: usize = 1024;
/// The most pages of outbox records a read goes through while none of them
/// reads as an event (see [`Relay::oldest_outbox`]): a longer run of such
/// records at the head of the outbox still holds the rest back.
const UNREAD_PAGES: usize = 16;
/// How far apart instances' clocks may be (an event id's time is its
/// instance's clock): see [`OutboxView::lets_go`].
const CLOCK_SKEW_MS: u64 = 2_000;
/// How long an outbox event this release cannot read holds back the later
/// deliveries of its order (or cart): long enough for a rolling upgrade, in
/// which a newer instance writes a kind an older one does not know and
/// sends it itself; after that the record is taken as damaged (it stays,
/// with its warning) and its order's later events go without it.
const UNREAD_HOLD_MS: u64 = 60 * 60 * 1000;
/// The most idle carts one step of the abandoned-cart walk looks at.
const WALK_BATCH: usize = 256;
/// The most bytes of a response the relay reads (it needs only the status).
const MAX_ERROR_BYTES: usize = 200;

fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, AppError> {
    serde_json::to_value(value).map_err(|e| AppError::Broken(e.to_string()))
}

fn not_found(field: &str, what: &str) -> Rejection {
    Rejection::one(UserError::new(
        ErrorCode::NotFound,
        &[field],
        format!("no {what} has this id"),
    ))
}

fn bad_url(field: &str, why: String) -> Rejection {
    Rejection::one(UserError::new(ErrorCode::InvalidWebhookUrl, &[field], why))
}

/// Every endpoint, oldest first.
pub async fn endpoints(services: &Services) -> Result<Vec<Endpoint>, AppError> {
    let stored = services.store.shop_records(WEBHOOK_ENDPOINTS).await?;
    let mut endpoints = stored
        .into_iter()
        .map(|(key, value)| decode::<Endpoint>(&key, value))
        .collect::<Result<Vec<_>, _>>()?;
    endpoints.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    Ok(endpoints)
}

/// One endpoint.
pub async fn endpoint(services: &Services, id: &str) -> Result<Option<Endpoint>, AppError> {
    let stored = services
        .store
        .shop_records_at(WEBHOOK_ENDPOINTS, &[id.to_string()])
        .await?;
    stored
        .into_iter()
        .next()
        .map(|(key, value)| decode::<Endpoint>(&key, value))
        .transpose()
}

/// What `createWebhookEndpoint` asks for.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    /// Where to send.
    pub url: String,
    /// What to send.
    pub events: Vec<EventKind>,
    /// The admin's words.
    pub description: Option<String>,
}

/// Admin: a new endpoint and its secret (shown this once).
pub async fn create(
    services: &Services,
    input: &NewEndpoint,
) -> Result<Result<(Endpoint, String), Rejection>, AppError> {
    let settings = &services.webhooks;
    let mut errors = Vec::new();
    if let Err(why) = check_url(&input.url, settings.allow_insecure) {
        errors.extend(bad_url("url", why).into_user_errors());
    }
    let events = check_events(&input.events, "events").map_err(|e| errors.push(e));
    let description =
        check_description(input.description.as_deref(), "description").map_err(|e| errors.push(e));
    let (Ok(events), Ok(description), true) = (events, description, errors.is_empty()) else {
        return Ok(Err(Rejection::Invalid(errors)));
    };
    // Checked, then written: two admins adding the last endpoint at once
    // could both pass; only admins write endpoints.
    let count = services.store.shop_records(WEBHOOK_ENDPOINTS).await?.len();
    if count >= settings.max_endpoints {
        return Ok(Err(Rejection::one(UserError::new(
            ErrorCode::InvalidWebhookEndpoint,
            &[],
            format!(
                "a shop has at most {} webhook endpoints (--max-webhook-endpoints); delete one first",
                settings.max_endpoints
            ),
        ))));
    }
    let now = services.clock.now();
    let secret = Secret::generate();
    let shown = secret.reveal();
    let endpoint = Endpoint {
        id: format!("whep_{}", services.order_ids.next(now)),
        url: input.url.clone(),
        events,
        description,
        active: true,
        disabled_reason: None,
        secrets: vec![secret],
        created_at: now,
        failing_since: None,
    };
    services
        .store
        .put_shop_record(WEBHOOK_ENDPOINTS, &endpoint.id, &to_value(&endpoint)?)
        .await?;
    Ok(Ok((endpoint, shown)))
}

/// What `updateWebhookEndpoint` changes (`None`: as it is).
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    /// A new URL.
    pub url: Option<String>,
    /// New events.
    pub events: Option<Vec<EventKind>>,
    /// On or off; turning it on clears a reason it was turned off for.
    pub active: Option<bool>,
    /// A new description (empty clears it).
    pub description: Option<String>,
}

/// Admin: changes an endpoint.
pub async fn update(
    services: &Services,
    id: &str,
    patch: &EndpointPatch,
) -> Result<Result<Endpoint, Rejection>, AppError> {
    let insecure = services.webhooks.allow_insecure;
    let mut errors = Vec::new();
    if let Some(url) = &patch.url
        && let Err(why) = check_url(url, insecure)
    {
        errors.extend(bad_url("url", why).into_user_errors());
    }
    let events = match &patch.events {
        None => None,
        Some(events) => check_events(events, "events")
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let description = match &patch.description {
        None => None,
        Some(text) => check_description(Some(text), "description")
            .map_err(|e| errors.push(e))
            .ok(),
    };
    if !errors.is_empty() {
        return Ok(Err(Rejection::Invalid(errors)));
    }
    let patched = |mut endpoint: Endpoint| {
        if let Some(url) = &patch.url {
            endpoint.url = url.clone();
        }
        if let Some(events) = &events {
            endpoint.events = events.clone();
        }
        if let Some(description) = &description {
            endpoint.description = description.clone();
        }
        if let Some(active) = patch.active {
            endpoint.active = active;
            if active {
                endpoint.disabled_reason = None;
                endpoint.failing_since = None;
            }
        }
        endpoint
    };
    let change = |current: Option<&Value>| {
        unchanged_unless(current, |endpoint: Endpoint| Some(patched(endpoint)))
    };
    let (stored, _) = services
        .store
        .update_shop_record(WEBHOOK_ENDPOINTS, id, &change)
        .await?;
    match stored {
        None => Ok(Err(not_found("id", "webhook endpoint"))),
        Some(value) => Ok(Ok(decode(id, value)?)),
    }
}

/// Admin: deletes an endpoint; whether there was one. Its pending
/// deliveries fail when their turn comes ("the endpoint was deleted").
pub async fn delete(services: &Services, id: &str) -> Result<bool, AppError> {
    Ok(services
        .store
        .delete_shop_record(WEBHOOK_ENDPOINTS, id)
        .await?)
}

/// Admin: a new secret for an endpoint (shown this once); the old one keeps
/// signing beside it for `keep_old`.
pub async fn rotate(
    services: &Services,
    id: &str,
    keep_old: Duration,
) -> Result<Result<String, Rejection>, AppError> {
    if keep_old < Duration::zero() || keep_old > Duration::days(30) {
        return Ok(Err(Rejection::one(UserError::new(
            ErrorCode::InvalidWebhookEndpoint,
            &["keepOldForSeconds"],
            "keep the old secret for 0 to 2592000 seconds (30 days)",
        ))));
    }
    let now = services.clock.now();
    let shown = std::sync::Mutex::new(None);
    let change = |current: Option<&Value>| {
        unchanged_unless(current, |mut endpoint: Endpoint| {
            let secret = endpoint.rotate(now, keep_old).reveal();
            *shown.lock().unwrap_or_else(|e| e.into_inner()) = Some(secret);
            Some(endpoint)
        })
    };
    let (stored, changed) = services
        .store
        .update_shop_record(WEBHOOK_ENDPOINTS, id, &change)
        .await?;
    let secret = shown.into_inner().unwrap_or_else(|e| e.into_inner());
    match (stored, changed, secret) {
        (Some(_), true, Some(secret)) => Ok(Ok(secret)),
        _ => Ok(Err(not_found("id", "webhook endpoint"))),
    }
}

/// Which deliveries `webhookDeliveries` lists.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    /// Of one endpoint.
    pub endpoint_id: Option<String>,
    /// In one status.
    pub status: Option<DeliveryStatus>,
}

/// Admin: deliveries, newest event first.
pub async fn deliveries(
    services: &Services,
    filter: &DeliveryFilter,
) -> Result<Vec<Delivery>, AppError> {
    let mut kinds = Vec::new();
    if filter.status.is_none_or(|s| s == DeliveryStatus::Pending) {
        kinds.push(WEBHOOK_QUEUE);
    }
    if filter.status != Some(DeliveryStatus::Pending) {
        kinds.push(WEBHOOK_LOG);
    }
    let mut found = Vec::new();
    for kind in kinds {
        for (key, value) in services.store.shop_records(kind).await? {
            let delivery: Delivery = decode(&key, value)?;
            let endpoint_ok = filter
                .endpoint_id
                .as_ref()
                .is_none_or(|id| *id == delivery.endpoint_id);
            if endpoint_ok && filter.status.is_none_or(|s| s == delivery.status) {
                found.push(delivery);
            }
        }
    }
    found.sort_by(|a, b| (&b.event_id, &b.id).cmp(&(&a.event_id, &a.id)));
    found.dedup_by(|a, b| a.id == b.id);
    Ok(found)
}

/// Admin: sends a delivery again from the start of the schedule (a failed
/// or succeeded one; a pending one is made due now).
pub async fn retry(services: &Services, id: &str) -> Result<Result<Delivery, Rejection>, AppError> {
    let now = services.clock.now();
    let logged = services
        .store
        .shop_records_at(WEBHOOK_LOG, &[id.to_string()])
        .await?;
    let from_log = logged.into_iter().next();
    let restart = |current: Option<&Value>| {
        let source = current.or(from_log.as_ref().map(|(_, v)| v));
        unchanged_unless(source, |mut delivery: Delivery| {
            delivery.restart(now);
            Some(delivery)
        })
    };
    let (stored, _) = services
        .store
        .update_shop_record(WEBHOOK_QUEUE, id, &restart)
        .await?;
    let Some(value) = stored else {
        return Ok(Err(not_found("id", "webhook delivery")));
    };
    if from_log.is_some() {
        services.store.delete_shop_record(WEBHOOK_LOG, id).await?;
    }
    Ok(Ok(decode(id, value)?))
}

/// What `replayWebhookEvents` asks for.
#[derive(Clone, Debug)]
pub struct Replay {
    /// To whom.
    pub endpoint_id: String,
    /// Events at or after.
    pub since: DateTime<Utc>,
    /// Events before (now when absent).
    pub until: Option<DateTime<Utc>>,
    /// Of these kinds (all the endpoint wants when absent).
    pub events: Option<Vec<EventKind>>,
}

/// Admin: sends kept events again, with their ids, in their order; how many.
pub async fn replay(
    services: &Services,
    replay: &Replay,
) -> Result<Result<usize, Rejection>, AppError> {
    let Some(endpoint) = endpoint(services, &replay.endpoint_id).await? else {
        return Ok(Err(not_found("endpointId", "webhook endpoint")));
    };
    let now = services.clock.now();
    let until = replay.until.unwrap_or(now);
    let wanted = replay
        .events
        .clone()
        .unwrap_or_else(|| endpoint.events.clone());
    let mut count = 0;
    for (key, value) in services.store.shop_records(WEBHOOK_EVENTS).await? {
        let event: Event = decode(&key, value)?;
        if event.at < replay.since || event.at >= until || !wanted.contains(&event.kind) {
            continue;
        }
        let fresh = to_value(&Delivery::new(&endpoint.id, &event, now))?;
        let id = Delivery::id_of(&endpoint.id, &event.id);
        let logged = services
            .store
            .shop_records_at(WEBHOOK_LOG, std::slice::from_ref(&id))
            .await?;
        let base = match logged.into_iter().next() {
            Some((_, old)) => {
                let mut old: Delivery = decode(&id, old)?;
                old.restart(now);
                to_value(&old)?
            }
            None => fresh,
        };
        let put = |current: Option<&Value>| Some(current.cloned().unwrap_or_else(|| base.clone()));
        services
            .store
            .update_shop_record(WEBHOOK_QUEUE, &id, &put)
            .await?;
        services.store.delete_shop_record(WEBHOOK_LOG, &id).await?;
        count += 1;
    }
    Ok(Ok(count))
}

/// Renders an event's `data` (the order as the GraphQL `Order` type shows it to an admin).
pub type Render =
    Arc<dyn Fn(Event) -> futures_util::future::BoxFuture<'static, Value> + Send + Sync>;

/// Admin: sends a `webhook.test` event to an endpoint now (not logged) and
/// says how it went.
pub async fn send_test(
    services: &Services,
    render: Render,
    id: &str,
) -> Result<Result<Attempt, Rejection>, AppError> {
    let Some(endpoint) = endpoint(services, id).await? else {
        return Ok(Err(not_found("id", "webhook endpoint")));
    };
    let relay = Relay::new(services.clone(), render).map_err(AppError::Broken)?;
    let now = services.clock.now();
    let message = Message {
        id: Event::new_id(now),
        wire_type: "webhook.test",
        at: now,
        data: serde_json::json!({ "endpointId": endpoint.id }),
    };
    let (attempt, _) = relay.send(&endpoint, &message, now).await;
    Ok(Ok(attempt))
}

/// What one POST carries.
struct Message {
    id: String,
    wire_type: &'static str,
    at: DateTime<Utc>,
    data: Value,
}

/// Sends what the outbox holds, on every instance (see the module comment).
#[derive(Clone)]
pub struct Relay {
    services: Services,
    render: Render,
    client: reqwest::Client,
    /// Attempts in flight on this instance, by endpoint.
    in_flight: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    /// When unreadable outbox records were last warned of.
    unread_warned: Arc<std::sync::Mutex<Repeat>>,
}

/// How often the same warning is logged: once, then again once a minute
/// while it holds, and at once when what it names changes. (Passes run
/// back to back while the outbox has a backlog: a warning per read would
/// be several lines a second.)
#[derive(Default)]
struct Repeat {
    last: Option<(String, std::time::Instant)>,
}

impl Repeat {
    /// How long the same warning waits before it is logged again.
    const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    /// Whether to log the warning naming `subject` at `now` (and, if so,
    /// it counts as logged).
    fn due(&mut self, subject: &str, now: std::time::Instant) -> bool {
        let quiet = self.last.as_ref().is_some_and(|(last, at)| {
            last == subject && now.saturating_duration_since(*at) < Self::EVERY
        });
        if !quiet {
            self.last = Some((subject.to_string(), now));
        }
        !quiet
    }
}

/// One attempt's place in the caps: taken when a delivery is claimed,
/// given back when it is dropped, however the attempt ends.
struct Slot {
    in_flight: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    endpoint: String,
}

impl Slot {
    fn take(in_flight: &Arc<std::sync::Mutex<HashMap<String, usize>>>, endpoint: &str) -> Slot {
        *in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(endpoint.to_string())
            .or_default() += 1;
        Slot {
            in_flight: in_flight.clone(),
            endpoint: endpoint.to_string(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = in_flight.get_mut(&self.endpoint) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(&self.endpoint);
            }
        }
    }
}

/// A delivery claimed for sending: leased until `lease`.
struct Claimed {
    delivery: Delivery,
    lease: DateTime<Utc>,
    endpoint: Option<Endpoint>,
    _slot: Slot,
}

/// Reads records of `kind` as `T`, leaving out (with a warning) those that
/// do not read: one bad record must not stop every delivery.
async fn readable<T: serde::de::DeserializeOwned>(
    services: &Services,
    kind: &str,
) -> Result<Vec<T>, AppError> {
    let records = services.store.shop_records(kind).await?;
    Ok(records
        .into_iter()
        .filter_map(|(key, value)| match serde_json::from_value::<T>(value) {
            Ok(read) => Some(read),
            Err(e) => {
                tracing::warn!(kind, key = %key, error = %e, "an unreadable webhook record is left alone");
                None
            }
        })
        .collect())
}

/// What an update makes of a record it cannot read: nothing (left as it is).
fn unchanged_unless<T>(
    current: Option<&Value>,
    change: impl FnOnce(T) -> Option<T>,
) -> Option<Value>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let value = current?;
    match serde_json::from_value::<T>(value.clone()) {
        Ok(read) => match change(read) {
            Some(next) => serde_json::to_value(next)
                .ok()
                .or_else(|| Some(value.clone())),
            None => None,
        },
        Err(_) => Some(value.clone()),
    }
}

impl Relay {
    /// A relay for `services`, rendering with `render`.
    pub fn new(services: Services, render: Render) -> Result<Relay, String> {
        let resolver = Arc::new(CheckedResolver {
            insecure: services.webhooks.allow_insecure,
        });
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .no_proxy()
            .dns_resolver(resolver)
            .user_agent(concat!("cartql/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the webhook HTTP client: {e}"))?;
        Ok(Relay {
            services,
            render,
            client,
            in_flight: Arc::default(),
            unread_warned: Arc::default(),
        })
    }

    /// Runs until `stop` fires: a pass (dispatch, claim what is due, start
    /// sending it) every second, or every 100 ms while there is work, and
    /// a sweep every hour. Each attempt runs as a task of its own, so a
    /// slow endpoint holds up only its own deliveries; on stop, the
    /// attempts under way finish (each within 10 s).
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut last_sweep: Option<DateTime<Utc>> = None;
        let mut last_walk: Option<DateTime<Utc>> = None;
        let mut walk_again = false;
        let mut attempts = tokio::task::JoinSet::new();
        let mut busy = false;
        let mut more = false;
        loop {
            let wait = match (more, busy) {
                (true, _) => std::time::Duration::ZERO,
                (false, true) => std::time::Duration::from_millis(100),
                (false, false) => std::time::Duration::from_secs(1),
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break,
            }
            if *stop.borrow() {
                break;
            }
            while attempts.try_join_next().is_some() {}
            (busy, more) = match self.pass(&mut attempts).await {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook relay pass failed; trying again in a second");
                    (false, false)
                }
            };
            let now = self.services.clock.now();
            if walk_again || last_walk.is_none_or(|at| now - at >= self.walk_interval()) {
                last_walk = Some(now);
                walk_again = match self.walk_idle_carts(now).await {
                    Ok(more) => more,
                    Err(e) => {
                        tracing::warn!(error = %e, "looking for abandoned carts failed");
                        false
                    }
                };
                busy |= walk_again;
            }
            if last_sweep.is_none_or(|at| now - at >= Duration::hours(1)) {
                last_sweep = Some(now);
                if let Err(e) = self.sweep(now).await {
                    tracing::warn!(error = %e, "webhook sweep failed");
                }
            }
        }
        while attempts.join_next().await.is_some() {}
    }

    /// How often the abandoned-cart walk runs: a twelfth of
    /// `--abandoned-cart-after`, between 1 s and a minute (so a cart is
    /// announced at most that late).
    fn walk_interval(&self) -> Duration {
        (self.services.webhooks.abandoned_after / 12)
            .clamp(Duration::seconds(1), Duration::minutes(1))
    }

    /// One step of the walk over carts that went idle (by last change):
    /// leased like everything else, so one instance walks at a time. Each
    /// cart found abandoned becomes a `CART_ABANDONED` event in the outbox
    /// under an id made of its owner, name and version, so a step walked
    /// twice (a relay died before it moved the mark) writes the same events
    /// again, which the dispatch makes one delivery each. While no active
    /// endpoint wants the event there is no walk (its record is deleted):
    /// turning it on later starts one from then, so carts that went idle
    /// before are not announced. Whether there is more to walk now.
    async fn walk_idle_carts(&self, now: DateTime<Utc>) -> Result<bool, AppError> {
        let store = &self.services.store;
        let settings = &self.services.webhooks;
        let after = settings.abandoned_after;
        let until = now - after;
        let wanted = endpoints(&self.services)
            .await?
            .iter()
            .any(|e| e.active && e.wants(EventKind::CartAbandoned));
        if !wanted {
            // Nobody listens: the walk is forgotten (one key read while
            // there is none), and an endpoint made later starts it afresh
            // from its own time, so carts that went idle meanwhile are not
            // announced late.
            let kept = store
                .shop_records_at(WEBHOOK_ABANDON_WALK, &[ABANDON_WALK_KEY.to_string()])
                .await?;
            if !kept.is_empty() {
                store
                    .delete_shop_record(WEBHOOK_ABANDON_WALK, ABANDON_WALK_KEY)
                    .await?;
            }
            return Ok(false);
        }
        let lease = now + settings.lease;
        let claim = |current: Option<&Value>| {
            let walk = match current {
                None => AbandonWalk {
                    mark: IdleMark::at(until),
                    claimed_until: None,
                },
                Some(value) => match serde_json::from_value::<AbandonWalk>(value.clone()) {
                    Ok(walk) => walk,
                    // Left as it is (and warned of below), never deleted.
                    Err(_) => return Some(value.clone()),
                },
            };
            if walk.claimed_until.is_some_and(|at| at > now) {
                return current.cloned();
            }
            let mut walk = walk;
            walk.claimed_until = Some(lease);
            to_value(&walk).ok()
        };
        let (stored, changed) = store
            .update_shop_record(WEBHOOK_ABANDON_WALK, ABANDON_WALK_KEY, &claim)
            .await?;
        let Some(walk) = stored.and_then(|v| serde_json::from_value::<AbandonWalk>(v).ok()) else {
            tracing::warn!(
                "the abandoned-cart walk's record does not read; no cart is announced until it is deleted"
            );
            return Ok(false);
        };
        if !changed || walk.claimed_until != Some(lease) {
            return Ok(false);
        }
        let mut mark = walk.mark.clone();
        let found = store.idle_carts(&walk.mark, until, WALK_BATCH).await?;
        let more = found.len() == WALK_BATCH;
        for (found_by, owner, cart) in &found {
            // PostgreSQL keeps the last change to the microsecond: a cart
            // of the same microsecond as `until` but later is not idle yet;
            // the walk stops before it and finds it next time.
            if cart.updated_at > until {
                break;
            }
            mark = mark.max(found_by.clone());
            let lifetime = self.services.shop.cart_lifetime(owner.namespace().kind());
            if !is_abandoned(cart, after, now) || cart.expires_at(lifetime) <= now {
                continue;
            }
            let resource = cart_resource_id(owner, &cart.name);
            let event = Event::of_abandoned_cart(owner, cart, after, resource);
            let fresh = to_value(&event)?;
            let put =
                |current: Option<&Value>| Some(current.cloned().unwrap_or_else(|| fresh.clone()));
            store
                .update_shop_record(WEBHOOK_OUTBOX, &event.id, &put)
                .await?;
        }
        let release = |current: Option<&Value>| {
            unchanged_unless(current, |mut stored: AbandonWalk| {
                if stored.claimed_until == Some(lease) {
                    stored.claimed_until = None;
                    stored.mark = stored.mark.max(mark.clone());
                }
                Some(stored)
            })
        };
        store
            .update_shop_record(WEBHOOK_ABANDON_WALK, ABANDON_WALK_KEY, &release)
            .await?;
        Ok(more)
    }

    /// Whether an abandoned cart's event still stands: the cart is as it
    /// was (same version). A cart changed or checked out since is not
    /// announced.
    async fn still_abandoned(&self, event: &Event) -> Result<bool, AppError> {
        let Some(idle) = &event.cart else {
            return Ok(true);
        };
        let Some(owner) = crate::domain::OwnerKey::parse(&idle.owner) else {
            return Ok(false);
        };
        let now = self.services.store.cart(&owner, &idle.cart.name).await?;
        Ok(now.is_some_and(|cart| cart.version == idle.cart.version))
    }

    /// One pass: dispatch the outbox's oldest events, claim what is due
    /// and start sending it. Whether there was anything to do, and whether
    /// the outbox held more than one batch (the next pass starts at once).
    async fn pass(
        &self,
        attempts: &mut tokio::task::JoinSet<()>,
    ) -> Result<(bool, bool), AppError> {
        let now = self.services.clock.now();
        let oldest = self.oldest_outbox(DISPATCH_BATCH).await?;
        let dispatched = !oldest.events.is_empty();
        // A full page means more may wait; a batch another instance took
        // first (or one that cannot be taken) waits for the next pass.
        // Full pages of records none of which reads are read past (up to
        // UNREAD_PAGES); a longer run is left to the next pass (no spin;
        // the warning names the first).
        let mut more = oldest.full && dispatched;
        if dispatched && !self.dispatch(now, oldest.events).await? {
            more = false;
        }
        // Read after the dispatch (an event leaves the outbox only in the
        // commit that queues its deliveries): what the claim must wait for.
        let view = OutboxView::of(self.oldest_outbox(OUTBOX_VIEW).await?, now);
        let depth = self
            .services
            .store
            .count_shop_records(WEBHOOK_OUTBOX)
            .await?;
        metrics::gauge!("cartql_webhook_outbox_depth").set(depth as f64);
        let claimed = self.claim(now, &view).await?;
        let busy = dispatched || !claimed.is_empty();
        for claimed in claimed {
            let relay = self.clone();
            attempts.spawn(async move { relay.send_and_record(claimed).await });
        }
        Ok((busy, more))
    }

    /// The outbox's `limit` oldest records (its keys are event ids, ULIDs:
    /// key order is the order they happened in), those that read as events
    /// (the others are left alone with a warning), keyed as stored. A full
    /// page none of which reads as an event is read past, up to
    /// [`UNREAD_PAGES`] pages, so such records (a newer release's, or
    /// damaged ones) never stop the events behind them for good.
    async fn oldest_outbox(&self, limit: usize) -> Result<OutboxPage, AppError> {
        let mut page = OutboxPage {
            events: Vec::new(),
            unread: Vec::new(),
            full: false,
            last: None,
        };
        let (mut unreadable, mut first_unreadable) = (0usize, None);
        for _ in 0..UNREAD_PAGES {
            let records = self
                .services
                .store
                .shop_records_after(WEBHOOK_OUTBOX, page.last.as_deref(), limit)
                .await?;
            page.full = records.len() >= limit;
            if let Some((key, _)) = records.last() {
                page.last = Some(key.clone());
            }
            for (key, value) in records {
                match Event::deserialize(&value) {
                    Ok(read) => page.events.push((key, read)),
                    Err(e) => {
                        if unreadable == 0 {
                            first_unreadable = Some((key.clone(), e.to_string()));
                        }
                        unreadable += 1;
                        if let Ok(place) = EventPlace::deserialize(&value) {
                            page.unread.push((key, place));
                        }
                    }
                }
            }
            if !page.events.is_empty() || !page.full {
                break;
            }
        }
        // One line, not one per record, and once a minute while the first
        // is the same: a long run of them would flood the log every pass.
        if let Some((key, error)) = first_unreadable
            && self
                .unread_warned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .due(&key, std::time::Instant::now())
        {
            tracing::warn!(count = unreadable, first = %key, %error, "outbox records that do not read as events are left alone (said again in a minute while they are)");
        }
        Ok(page)
    }

    /// Makes the deliveries of a batch of the outbox's events in one
    /// commit: each event is kept, one delivery is queued per endpoint
    /// that wants it, and it leaves the outbox. The commit takes the events
    /// out only if every one is still there, so when instances race for the
    /// same batch one of them makes its deliveries and the others write
    /// nothing (and read the outbox again next pass).
    async fn dispatch(
        &self,
        now: DateTime<Utc>,
        events: Vec<(String, Event)>,
    ) -> Result<bool, AppError> {
        let store = &self.services.store;
        let endpoints = endpoints(&self.services).await?;
        let mut writes = Vec::new();
        let mut deliveries = Vec::new();
        for (key, event) in events {
            // Taken by the key it is stored under (each key once).
            writes.push(ShopWrite::Take {
                kind: WEBHOOK_OUTBOX,
                key,
            });
            if event.kind == EventKind::CartAbandoned && !self.still_abandoned(&event).await? {
                continue;
            }
            for endpoint in endpoints.iter().filter(|e| e.wants(event.kind)) {
                deliveries.push(Delivery::new(&endpoint.id, &event, now));
            }
            writes.push(ShopWrite::Put {
                kind: WEBHOOK_EVENTS,
                value: to_value(&event)?,
                key: event.id,
            });
        }
        // Made before by a relay of an earlier release that died between
        // its steps, and sent since: not made again.
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        let done: HashSet<String> = store
            .shop_records_at(WEBHOOK_LOG, &ids)
            .await?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        for delivery in deliveries {
            if done.contains(&delivery.id) {
                continue;
            }
            writes.push(ShopWrite::PutIfAbsent {
                kind: WEBHOOK_QUEUE,
                value: to_value(&delivery)?,
                key: delivery.id,
            });
        }
        Ok(store.write_shop_records(&writes).await?)
    }

    /// Leases the deliveries due now that head their order's queue, within
    /// the caps.
    /// `outbox` is the outbox's oldest events, read after the last
    /// dispatch: an event leaves it in the commit that queues its
    /// deliveries, so it is seen in one or the other. A delivery waits
    /// while its order has an event there at or before its own, or might
    /// have one beyond what was read.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        outbox: &OutboxView,
    ) -> Result<Vec<Claimed>, AppError> {
        let store = &self.services.store;
        let settings = &self.services.webhooks;
        let queue: Vec<Delivery> = readable(&self.services, WEBHOOK_QUEUE).await?;
        metrics::gauge!("cartql_webhook_queue_depth").set(queue.len() as f64);
        let oldest = queue.iter().map(|d| d.created_at).min();
        let age = oldest.map_or(0.0, |at| {
            (now - at).num_milliseconds().max(0) as f64 / 1000.0
        });
        metrics::gauge!("cartql_webhook_oldest_pending_seconds").set(age);
        let heads = heads(&queue);
        let mut due: Vec<&Delivery> = queue
            .iter()
            .filter(|d| {
                d.status == DeliveryStatus::Pending
                    && d.next_attempt_at.is_none_or(|at| at <= now)
                    && heads.contains(d.id.as_str())
                    && outbox.lets_go(d)
            })
            .collect();
        if due.is_empty() {
            return Ok(Vec::new());
        }
        due.sort_by_key(|d| (d.next_attempt_at, d.sequence));
        let endpoints: HashMap<String, Endpoint> = endpoints(&self.services)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let mut claimed = Vec::new();
        for delivery in due {
            let (total, taken) = {
                let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                let total: usize = in_flight.values().sum();
                (
                    total,
                    in_flight.get(&delivery.endpoint_id).copied().unwrap_or(0),
                )
            };
            if total >= settings.concurrency {
                break;
            }
            if taken >= settings.concurrency_per_endpoint {
                continue;
            }
            let lease = now + settings.lease;
            let take = |current: Option<&Value>| {
                unchanged_unless(current, |mut stored: Delivery| {
                    if stored.status == DeliveryStatus::Pending
                        && stored.next_attempt_at.is_none_or(|at| at <= now)
                    {
                        stored.next_attempt_at = Some(lease);
                    }
                    Some(stored)
                })
            };
            let (stored, mine) = store
                .update_shop_record(WEBHOOK_QUEUE, &delivery.id, &take)
                .await?;
            let (Some(stored), true) = (stored, mine) else {
                continue;
            };
            let slot = Slot::take(&self.in_flight, &delivery.endpoint_id);
            let Ok(delivery) = serde_json::from_value::<Delivery>(stored) else {
                continue;
            };
            claimed.push(Claimed {
                endpoint: endpoints.get(&delivery.endpoint_id).cloned(),
                delivery,
                lease,
                _slot: slot,
            });
        }
        Ok(claimed)
    }

    async fn send_and_record(&self, claimed: Claimed) {
        let id = claimed.delivery.id.clone();
        if let Err(e) = self.try_send_and_record(claimed).await {
            tracing::warn!(delivery = %id, error = %e, "recording a webhook attempt failed; it is sent again when its claim runs out");
        }
    }

    async fn try_send_and_record(&self, claimed: Claimed) -> Result<(), AppError> {
        let Claimed {
            mut delivery,
            lease,
            endpoint,
            _slot,
        } = claimed;
        let store = &self.services.store;
        let event = store
            .shop_records_at(WEBHOOK_EVENTS, std::slice::from_ref(&delivery.event_id))
            .await?
            .into_iter()
            .next()
            .and_then(|(_, value)| serde_json::from_value::<Event>(value).ok());
        let started = self.services.clock.now();
        let (attempt, verdict) = match (&endpoint, &event) {
            (None, _) => (refusal(started, "the endpoint was deleted"), Verdict::Gone),
            (Some(e), _) if !e.active => (
                refusal(started, "the endpoint is turned off"),
                Verdict::Gone,
            ),
            // Kept before its deliveries are queued: gone only if swept or damaged.
            (_, None) => (
                refusal(started, "the event could not be read"),
                Verdict::Failed { retry_after: None },
            ),
            (Some(endpoint), Some(event)) => {
                let message = Message {
                    id: event.id.clone(),
                    wire_type: event.kind.wire_type(),
                    at: event.at,
                    data: (self.render)(event.clone()).await,
                };
                self.send(endpoint, &message, started).await
            }
        };
        let now = self.services.clock.now();
        // Only a real attempt tells about the endpoint's health.
        let attempted = endpoint.as_ref().is_some_and(|e| e.active) && event.is_some();
        let delivered = verdict == Verdict::Delivered;
        let gone = verdict == Verdict::Gone;
        let jitter = rand::random::<f64>() * 2.0 - 1.0;
        let schedule = &self.services.webhooks.schedule;
        let seconds = attempt.duration_ms as f64 / 1000.0;
        delivery.record(attempt, verdict, schedule, now, jitter);
        let outcome = match delivery.status {
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Pending => "retrying",
            DeliveryStatus::Failed => "failed",
        };
        let kind = delivery.kind.wire_type();
        metrics::counter!("cartql_webhook_deliveries_total", "event" => kind, "outcome" => outcome)
            .increment(1);
        if attempted {
            metrics::histogram!("cartql_webhook_attempt_duration_seconds").record(seconds);
        }
        // Written only while the lease is ours: a relay that outlived its
        // lease leaves the delivery to the one that took it over.
        let value = to_value(&delivery)?;
        let done = delivery.status != DeliveryStatus::Pending;
        if done {
            store
                .put_shop_record(WEBHOOK_LOG, &delivery.id, &value)
                .await?;
        }
        let finish = |current: Option<&Value>| {
            let ours = current
                .and_then(|v| serde_json::from_value::<Delivery>(v.clone()).ok())
                .is_some_and(|d| d.next_attempt_at == Some(lease));
            match (ours, done) {
                (false, _) => current.cloned(),
                (true, true) => None,
                (true, false) => Some(value.clone()),
            }
        };
        store
            .update_shop_record(WEBHOOK_QUEUE, &delivery.id, &finish)
            .await?;
        if let Some(endpoint) = endpoint.filter(|_| attempted) {
            let change = |current: Option<&Value>| {
                unchanged_unless(current, |mut stored: Endpoint| {
                    if gone {
                        stored.disable("the endpoint answered 410 Gone");
                    } else {
                        stored.after_attempt(delivered, now);
                    }
                    Some(stored)
                })
            };
            store
                .update_shop_record(WEBHOOK_ENDPOINTS, &endpoint.id, &change)
                .await?;
        }
        Ok(())
    }

    /// One attempt: the body, signed, POSTed; the attempt and its verdict.
    async fn send(
        &self,
        endpoint: &Endpoint,
        message: &Message,
        started: DateTime<Utc>,
    ) -> (Attempt, Verdict) {
        let body = serde_json::json!({
            "type": message.wire_type,
            "timestamp": message.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": message.data,
        });
        let body = body.to_string().into_bytes();
        if let Err(why) = check_url(&endpoint.url, self.services.webhooks.allow_insecure) {
            return (
                refusal(started, &why),
                Verdict::Failed { retry_after: None },
            );
        }
        let timestamp = started.timestamp();
        let signature = crate::domain::webhook::signature_header(
            &endpoint.signing_keys(started),
            &message.id,
            timestamp,
            &body,
        );
        let clock = std::time::Instant::now();
        let sent = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let verdict = Verdict::of(Some(status), retry_after.as_deref(), started);
                let error = (verdict != Verdict::Delivered).then(|| format!("answered {status}"));
                let attempt = Attempt {
                    at: started,
                    duration_ms,
                    response_status: Some(status),
                    error,
                };
                (attempt, verdict)
            }
            Err(e) => {
                let why = cut(describe(&e), MAX_ERROR_BYTES);
                let attempt = Attempt {
                    at: started,
                    duration_ms,
                    response_status: None,
                    error: Some(why),
                };
                (attempt, Verdict::Failed { retry_after: None })
            }
        }
    }

    /// Deletes kept events and finished deliveries of events older than
    /// the retention, by key (event ids are ULIDs: their time is in the
    /// key), without reading them; events with pending deliveries stay.
    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), AppError> {
        let store = &self.services.store;
        let before = now - self.services.webhooks.retention;
        let old = |event: &str| {
            event_millis(event)
                .and_then(|at| i64::try_from(at).ok())
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .is_some_and(|at| at < before)
        };
        let event_of = |delivery: &str| delivery.split_once('.').map(|(_, e)| e.to_string());
        let log: Vec<ShopWrite> = store
            .shop_record_keys(WEBHOOK_LOG)
            .await?
            .into_iter()
            .filter(|key| event_of(key).is_some_and(|e| old(&e)))
            .map(|key| ShopWrite::Delete {
                kind: WEBHOOK_LOG,
                key,
            })
            .collect();
        for batch in log.chunks(DISPATCH_BATCH) {
            store.write_shop_records(batch).await?;
        }
        let pending: HashSet<String> = store
            .shop_record_keys(WEBHOOK_QUEUE)
            .await?
            .iter()
            .filter_map(|key| event_of(key))
            .collect();
        let events: Vec<ShopWrite> = store
            .shop_record_keys(WEBHOOK_EVENTS)
            .await?
            .into_iter()
            .filter(|key| old(key) && !pending.contains(key))
            .map(|key| ShopWrite::Delete {
                kind: WEBHOOK_EVENTS,
                key,
            })
            .collect();
        for batch in events.chunks(DISPATCH_BATCH) {
            store.write_shop_records(batch).await?;
        }
        Ok(())
    }
}

/// The outbox's oldest records as read: those that read as events (with
/// their keys), whether the read was as long as it could be, and the last
/// key read, readable or not.
struct OutboxPage {
    events: Vec<(String, Event)>,
    /// Records that do not read as events but say which order (or cart)
    /// they are about and where in its history (keys as stored).
    unread: Vec<(String, EventPlace)>,
    full: bool,
    last: Option<String>,
}

/// What an outbox record that does not read as an [`Event`] may still say:
/// its order (or cart) and its place in that history. A newer release's
/// event of a kind this one does not know reads this far.
#[derive(serde::Deserialize)]
struct EventPlace {
    resource_id: String,
    sequence: u32,
}

/// What the claim knows of the outbox: the first event of each order (or
/// cart) among its oldest events, and, when those were not all of it, the
/// millisecond before which every event was read.
struct OutboxView {
    first: HashMap<String, u32>,
    horizon: Option<u64>,
}

impl OutboxView {
    /// The view from a page of the outbox's oldest records. A full page's
    /// horizon is its last key's time (0 when the key says none: nothing
    /// passes it).
    /// A record that does not read as an event holds its order's later
    /// deliveries too, while it is younger than [`UNREAD_HOLD_MS`] at `now`
    /// (by its key's time; a key without one holds nothing).
    fn of(page: OutboxPage, now: DateTime<Utc>) -> OutboxView {
        let horizon = match page.full {
            true => Some(page.last.as_deref().and_then(event_millis).unwrap_or(0)),
            false => None,
        };
        let now = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let young =
            |key: &str| event_millis(key).is_some_and(|at| at.saturating_add(UNREAD_HOLD_MS) > now);
        let held = page
            .unread
            .into_iter()
            .filter(|(key, _)| young(key))
            .map(|(_, place)| (place.resource_id, place.sequence));
        let read = page
            .events
            .into_iter()
            .map(|(_, event)| (event.resource_id, event.sequence));
        let mut first: HashMap<String, u32> = HashMap::new();
        for (resource, sequence) in read.chain(held) {
            let seen = first.entry(resource).or_insert(u32::MAX);
            *seen = (*seen).min(sequence);
        }
        OutboxView { first, horizon }
    }

    /// Whether `delivery` may go as far as the outbox is concerned: no
    /// event of its order at or before its own is there. Beyond the events
    /// read only younger ones are, so a delivery whose event is older than
    /// them by [`CLOCK_SKEW`] (instances' clocks differ a little) can have
    /// none there; a younger one waits until the outbox drains.
    fn lets_go(&self, delivery: &Delivery) -> bool {
        let before = self
            .first
            .get(&delivery.resource_id)
            .is_none_or(|first| *first > delivery.sequence);
        let seen = self.horizon.is_none_or(|horizon| {
            event_millis(&delivery.event_id)
                .is_some_and(|at| at.saturating_add(CLOCK_SKEW_MS) < horizon)
        });
        before && seen
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn refusal(at: DateTime<Utc>, why: &str) -> Attempt {
    Attempt {
        at,
        duration_ms: 0,
        response_status: None,
        error: Some(why.to_string()),
    }
}

/// A failed request in a sentence (reqwest's own words, with their causes).
fn describe(error: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if error.is_timeout() {
        format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())
    } else {
        error.to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves names as the system does, then drops every internal address
/// ([`address_allowed`]), at every attempt: a name that points inside the
/// network is refused however it was registered. With `insecure`, nothing
/// is dropped.
struct CheckedResolver {
    insecure: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let insecure = self.insecure;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<std::net::SocketAddr> = found
                .into_iter()
                .filter(|a| insecure || address_allowed(a.ip()))
                .collect();
            if allowed.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves only to loopback, private, link-local or otherwise internal addresses"
                )
                .into();
                return Err(refused);
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{CLOCK_SKEW_MS, EventPlace, OutboxPage, OutboxView, Repeat, cut};
    use crate::domain::webhook::{Delivery, Event, EventKind};
    use chrono::{DateTime, Duration, Utc};

    fn event(order: &str, sequence: u32, at: DateTime<Utc>) -> Event {
        Event {
            id: Event::new_id(at),
            kind: EventKind::OrderPlaced,
            resource_id: order.into(),
            sequence,
            at,
            order: None,
            cart: None,
        }
    }

    /// A page of `events` read with a limit of `limit` records, `unreadable`
    /// more (keys) among them, after the events.
    fn page(events: Vec<Event>, limit: usize, unreadable: &[&str]) -> OutboxView {
        let count = events.len() + unreadable.len();
        let last = unreadable
            .last()
            .map(|key| key.to_string())
            .or_else(|| events.last().map(|e| e.id.clone()));
        OutboxView::of(
            OutboxPage {
                events: events.into_iter().map(|e| (e.id.clone(), e)).collect(),
                unread: Vec::new(),
                full: count >= limit,
                last,
            },
            Utc::now(),
        )
    }

    /// An event of a kind this release does not know, as a newer one
    /// would store it.
    fn newer_kind(order: &str, sequence: u32, at: DateTime<Utc>) -> (String, serde_json::Value) {
        let mut value = serde_json::to_value(event(order, sequence, at)).unwrap();
        value["kind"] = "ORDER_TELEPORTED".into();
        (value["id"].as_str().unwrap().to_string(), value)
    }

    #[test]
    fn an_event_of_an_unknown_kind_holds_its_orders_later_deliveries_for_an_hour() {
        let now = Utc::now();
        let (key, value) = newer_kind("o1", 3, now - Duration::minutes(5));
        assert!(
            serde_json::from_value::<Event>(value.clone()).is_err(),
            "this release cannot read it"
        );
        let place: EventPlace = serde_json::from_value(value.clone()).unwrap();
        let view = |unread: Vec<(String, EventPlace)>, at: DateTime<Utc>| {
            OutboxView::of(
                OutboxPage {
                    events: Vec::new(),
                    unread,
                    full: false,
                    last: None,
                },
                at,
            )
        };
        let go = |view: &OutboxView, sequence: u32| {
            view.lets_go(&Delivery::new("e", &event("o1", sequence, now), now))
        };
        // A newer instance will send it: the order's later events wait.
        let young = view(vec![(key.clone(), place)], now);
        assert!(!go(&young, 4));
        assert!(go(&young, 2), "earlier events are not held");
        // An hour on, it is taken as damaged: they go without it.
        let place: EventPlace = serde_json::from_value(value).unwrap();
        let old = view(vec![(key, place)], now + Duration::minutes(56));
        assert!(go(&old, 4));
        // A key that says no time holds nothing.
        let (_, value) = newer_kind("o1", 3, now);
        let place: EventPlace = serde_json::from_value(value).unwrap();
        assert!(go(&view(vec![("evt_damaged".into(), place)], now), 4));
    }

    #[test]
    fn a_delivery_waits_for_its_orders_earlier_events_and_for_what_was_not_read() {
        let t0 = DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let later = |ms: i64| t0 + Duration::milliseconds(ms);
        let go = |view: &OutboxView, event: &Event| view.lets_go(&Delivery::new("e", event, t0));
        // The whole outbox read: only the order's own earlier events hold it.
        let whole = page(vec![event("o1", 2, t0), event("o2", 1, later(1))], 3, &[]);
        assert!(!go(&whole, &event("o1", 2, later(5))));
        assert!(!go(&whole, &event("o1", 3, later(5))));
        assert!(go(&whole, &event("o1", 1, later(5))));
        assert!(go(&whole, &event("o3", 7, later(60_000))));
        // A full page: the outbox may hold more beyond its last event, so
        // only deliveries of events older than it by the skew may go.
        let edge = 10_000 + CLOCK_SKEW_MS as i64;
        let full = page(
            vec![event("o1", 2, t0), event("o2", 1, later(edge))],
            2,
            &[],
        );
        assert!(go(&full, &event("o3", 1, later(9_999))));
        assert!(!go(&full, &event("o3", 1, later(10_000))));
        assert!(!go(&full, &event("o1", 2, t0 - Duration::seconds(60))));
        // Unreadable records count toward the page: one among the records
        // read still makes it full, and its key's time is the horizon.
        let last = event("o9", 1, later(edge));
        let with_bad = page(vec![event("o1", 2, t0)], 2, &[&last.id]);
        assert!(go(&with_bad, &event("o3", 1, later(9_999))));
        assert!(!go(&with_bad, &event("o3", 1, later(10_000))));
        let no_time = page(vec![event("o1", 2, t0)], 2, &["evt_damaged"]);
        assert!(!go(&no_time, &event("o3", 1, t0 - Duration::days(1))));
        // An id that says no time cannot be placed: it waits for the drain.
        let mut odd = event("o4", 1, t0 - Duration::seconds(60));
        odd.id = "evt_not-a-ulid".into();
        assert!(!go(&full, &odd));
        assert!(go(&whole, &odd));
    }

    #[test]
    fn a_warning_repeats_once_a_minute_while_it_holds_and_at_once_when_it_changes() {
        let start = std::time::Instant::now();
        let at = |secs| start + std::time::Duration::from_secs(secs);
        let mut repeat = Repeat::default();
        assert!(repeat.due("a", at(0)));
        assert!(!repeat.due("a", at(1)));
        assert!(!repeat.due("a", at(59)));
        assert!(repeat.due("a", at(60)));
        assert!(repeat.due("b", at(61)), "another first record");
        assert!(!repeat.due("b", at(62)));
        assert!(repeat.due("a", at(63)));
    }

    #[test]
    fn an_error_is_cut_at_a_character_boundary() {
        assert_eq!(cut("é".repeat(150), 200), "é".repeat(100));
        assert_eq!(
            cut(format!("a{}", "é".repeat(150)), 200),
            format!("a{}", "é".repeat(99))
        );
        assert_eq!(cut("short".into(), 200), "short");
    }
}
