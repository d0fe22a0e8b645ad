//! Webhooks (admin only): endpoints, their secrets, the delivery log,
//! retries, replays and a test send; and [`render`], which shows an event's
//! order on the wire exactly as the `Order` type shows it to an admin. The
//! rules are [`app::webhooks`](crate::app::webhooks) and
//! [`domain::webhook`](crate::domain::webhook).

use super::access::require_admin;
use super::cart_view::CartView;
use super::error::ApiResult;
use super::orders::{OrderView, admin_view};
use super::pagination::PageRequest;
use super::types::{UserErrorView, user_errors};
use crate::app::carts;
use crate::app::webhooks::{self, DeliveryFilter, EndpointPatch, NewEndpoint, Render, Replay};
use crate::domain::OwnerKey;
use crate::domain::webhook::{
    Attempt, Delivery, DeliveryStatus, Endpoint, Event, EventKind, IdleCart,
};
use crate::services::Services;
use async_graphql::connection::Connection;
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, ID, InputObject, Object, Schema, SimpleObject,
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// What an endpoint can hear of.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "WebhookEvent")]
pub enum WebhookEventView {
    /// `order.placed`: a checkout placed an order.
    OrderPlaced,
    /// `order.paid`: an order was marked paid.
    OrderPaid,
    /// `order.fulfilled`: an order was marked fulfilled.
    OrderFulfilled,
    /// `order.cancelled`: an order was cancelled.
    OrderCancelled,
    /// `cart.abandoned`: accepted, not sent yet by this release.
    CartAbandoned,
}

impl From<WebhookEventView> for EventKind {
    fn from(view: WebhookEventView) -> EventKind {
        match view {
            WebhookEventView::OrderPlaced => EventKind::OrderPlaced,
            WebhookEventView::OrderPaid => EventKind::OrderPaid,
            WebhookEventView::OrderFulfilled => EventKind::OrderFulfilled,
            WebhookEventView::OrderCancelled => EventKind::OrderCancelled,
            WebhookEventView::CartAbandoned => EventKind::CartAbandoned,
        }
    }
}

impl From<EventKind> for WebhookEventView {
    fn from(kind: EventKind) -> WebhookEventView {
        match kind {
            EventKind::OrderPlaced => WebhookEventView::OrderPlaced,
            EventKind::OrderPaid => WebhookEventView::OrderPaid,
            EventKind::OrderFulfilled => WebhookEventView::OrderFulfilled,
            EventKind::OrderCancelled => WebhookEventView::OrderCancelled,
            EventKind::CartAbandoned => WebhookEventView::CartAbandoned,
        }
    }
}

/// Where a delivery is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "WebhookDeliveryStatus")]
pub enum DeliveryStatusView {
    /// Attempts are still due.
    Pending,
    /// A 2xx came back.
    Succeeded,
    /// The schedule ran out, or the endpoint went away; `retryWebhookDelivery` starts it again.
    Failed,
}

impl From<DeliveryStatus> for DeliveryStatusView {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => DeliveryStatusView::Pending,
            DeliveryStatus::Succeeded => DeliveryStatusView::Succeeded,
            DeliveryStatus::Failed => DeliveryStatusView::Failed,
        }
    }
}

impl From<DeliveryStatusView> for DeliveryStatus {
    fn from(status: DeliveryStatusView) -> Self {
        match status {
            DeliveryStatusView::Pending => DeliveryStatus::Pending,
            DeliveryStatusView::Succeeded => DeliveryStatus::Succeeded,
            DeliveryStatusView::Failed => DeliveryStatus::Failed,
        }
    }
}

/// A URL events are sent to. Its secret is shown only when it is made or rotated.
#[derive(SimpleObject)]
#[graphql(name = "WebhookEndpoint")]
pub struct EndpointView {
    /// `whep_` and a ULID.
    pub id: ID,
    /// Where events are POSTed.
    pub url: String,
    /// What it hears of.
    pub events: Vec<WebhookEventView>,
    /// The admin's words for it.
    pub description: Option<String>,
    /// Whether events are sent to it.
    pub active: bool,
    /// Why cartql turned it off (`410 Gone`, five days of failures); cleared by turning it on.
    pub disabled_reason: Option<String>,
    /// When its current run of failed attempts began; `null` after a success.
    pub failing_since: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl From<Endpoint> for EndpointView {
    fn from(e: Endpoint) -> Self {
        EndpointView {
            id: ID(e.id),
            url: e.url,
            events: e.events.into_iter().map(Into::into).collect(),
            description: e.description,
            active: e.active,
            disabled_reason: e.disabled_reason,
            failing_since: e.failing_since,
            created_at: e.created_at,
        }
    }
}

/// One try at a delivery.
#[derive(SimpleObject)]
#[graphql(name = "WebhookAttempt")]
pub struct AttemptView {
    /// When it started.
    pub at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// The response's status, when there was a response.
    pub response_status: Option<i32>,
    /// What went wrong.
    pub error: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            at: a.at,
            duration_ms: i64::try_from(a.duration_ms).unwrap_or(i64::MAX),
            response_status: a.response_status.map(i32::from),
            error: a.error,
        }
    }
}

/// One event for one endpoint.
#[derive(SimpleObject)]
#[graphql(name = "WebhookDelivery")]
pub struct DeliveryView {
    /// `{endpoint id}.{event id}`.
    pub id: ID,
    /// The endpoint.
    pub endpoint_id: ID,
    /// The `webhook-id` header: the same on every attempt and replay.
    pub event_id: String,
    /// What happened.
    pub event: WebhookEventView,
    /// The order or cart it is about (its global id, as `Order.id` or `Cart.id`).
    pub resource_id: String,
    /// Its place in the order's history, from 1 (for a cart, the cart's
    /// version): one resource's deliveries go in this order.
    pub sequence: i32,
    /// Where it is.
    pub status: DeliveryStatusView,
    /// The tries, oldest first (the last 20).
    pub attempts: Vec<AttemptView>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        DeliveryView {
            id: ID(d.id),
            endpoint_id: ID(d.endpoint_id),
            event_id: d.event_id,
            event: d.kind.into(),
            // A cart's resource id is its global id already.
            resource_id: match d.kind {
                EventKind::CartAbandoned => d.resource_id,
                _ => super::ids::order_id(&d.resource_id).0,
            },
            sequence: i32::try_from(d.sequence).unwrap_or(i32::MAX),
            status: d.status.into(),
            attempts: d.attempts.into_iter().map(Into::into).collect(),
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
        }
    }
}

/// A new endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// `https://…` (plain `http` and internal addresses only with `--webhook-allow-insecure`), at most 2048 bytes.
    pub url: String,
    /// What it hears of (at least one).
    pub events: Vec<WebhookEventView>,
    /// The admin's words for it (at most 255 bytes).
    pub description: Option<String>,
}

/// A made endpoint and its secret.
#[derive(SimpleObject)]
pub struct CreateWebhookEndpointPayload {
    /// The endpoint (`null` when refused).
    pub endpoint: Option<EndpointView>,
    /// `whsec_` and base64 of 32 random bytes: shown here only; verify signatures with it.
    pub secret: Option<String>,
    /// `INVALID_WEBHOOK_URL`, `INVALID_WEBHOOK_ENDPOINT`.
    pub user_errors: Vec<UserErrorView>,
}

/// Changes to an endpoint (absent fields stay).
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    /// Which endpoint.
    pub id: ID,
    /// A new URL.
    pub url: Option<String>,
    /// New events.
    pub events: Option<Vec<WebhookEventView>>,
    /// On or off; turning it on clears why it was turned off.
    pub active: Option<bool>,
    /// A new description (empty clears it).
    pub description: Option<String>,
}

/// An endpoint after a change.
#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    /// The endpoint (`null` when refused).
    pub endpoint: Option<EndpointView>,
    /// `NOT_FOUND`, `INVALID_WEBHOOK_URL`, `INVALID_WEBHOOK_ENDPOINT`.
    pub user_errors: Vec<UserErrorView>,
}

/// Which endpoint.
#[derive(InputObject)]
pub struct WebhookEndpointIdInput {
    /// Its id.
    pub id: ID,
}

/// Whether an endpoint was deleted.
#[derive(SimpleObject)]
pub struct DeleteWebhookEndpointPayload {
    /// Whether there was one.
    pub deleted: bool,
    /// Never any today; here for symmetry.
    pub user_errors: Vec<UserErrorView>,
}

/// A new secret for an endpoint.
#[derive(InputObject)]
pub struct RotateWebhookSecretInput {
    /// Which endpoint.
    pub id: ID,
    /// How long the old secret keeps signing beside the new one (0 to 2592000, null: 86400); every delivery meanwhile carries both signatures.
    #[graphql(default = 86400)]
    pub keep_old_for_seconds: Option<i32>,
}

/// The new secret.
#[derive(SimpleObject)]
pub struct RotateWebhookSecretPayload {
    /// Shown here only.
    pub secret: Option<String>,
    /// `NOT_FOUND`, `INVALID_WEBHOOK_ENDPOINT`.
    pub user_errors: Vec<UserErrorView>,
}

/// Which delivery.
#[derive(InputObject)]
pub struct RetryWebhookDeliveryInput {
    /// Its id.
    pub id: ID,
}

/// A delivery after a retry.
#[derive(SimpleObject)]
pub struct RetryWebhookDeliveryPayload {
    /// Pending and due now, with the whole schedule ahead.
    pub delivery: Option<DeliveryView>,
    /// `NOT_FOUND`.
    pub user_errors: Vec<UserErrorView>,
}

/// Events to send again.
#[derive(InputObject)]
pub struct ReplayWebhookEventsInput {
    /// To which endpoint.
    pub endpoint_id: ID,
    /// Events at or after this.
    pub since: DateTime<Utc>,
    /// Events before this (now when absent).
    pub until: Option<DateTime<Utc>>,
    /// Of these kinds (the endpoint's when absent).
    pub events: Option<Vec<WebhookEventView>>,
}

/// How many events were queued again.
#[derive(SimpleObject)]
pub struct ReplayWebhookEventsPayload {
    /// Events queued, with their original ids, in their order per order.
    pub count: i32,
    /// `NOT_FOUND`.
    pub user_errors: Vec<UserErrorView>,
}

/// A test send's outcome.
#[derive(SimpleObject)]
pub struct SendTestWebhookPayload {
    /// The attempt (a `webhook.test` event, not logged).
    pub attempt: Option<AttemptView>,
    /// `NOT_FOUND`.
    pub user_errors: Vec<UserErrorView>,
}

/// Admin webhook queries.
#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Admin only: every webhook endpoint, oldest first.
    #[graphql(
        complexity = "super::complexity::list(crate::domain::webhook::DEFAULT_MAX_ENDPOINTS, child_complexity)"
    )]
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> ApiResult<Vec<EndpointView>> {
        require_admin(ctx)?;
        let found = webhooks::endpoints(Services::of(ctx)).await?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// Admin only: deliveries, newest event first.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: Option<ID>,
        status: Option<DeliveryStatusView>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, DeliveryView>> {
        require_admin(ctx)?;
        let page = PageRequest::parse(first, after, |c| Some(c.to_string()))?;
        let filter = DeliveryFilter {
            endpoint_id: endpoint_id.map(|id| id.0),
            status: status.map(Into::into),
        };
        let found = webhooks::deliveries(Services::of(ctx), &filter).await?;
        let start = match &page.after {
            None => 0,
            Some(after) => found
                .iter()
                .position(|d| d.id == *after)
                .map_or(found.len(), |i| i + 1),
        };
        let items: Vec<Delivery> = found.into_iter().skip(start).take(page.fetch()).collect();
        Ok(page.connection(items, |d| (d.id.clone(), d.into())))
    }
}

/// Admin webhook mutations.
#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Admin only: a new endpoint; its secret is in the payload, and nowhere else ever.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> ApiResult<CreateWebhookEndpointPayload> {
        require_admin(ctx)?;
        let given = NewEndpoint {
            url: input.url,
            events: input.events.into_iter().map(Into::into).collect(),
            description: input.description,
        };
        Ok(match webhooks::create(Services::of(ctx), &given).await? {
            Ok((endpoint, secret)) => CreateWebhookEndpointPayload {
                endpoint: Some(endpoint.into()),
                secret: Some(secret),
                user_errors: Vec::new(),
            },
            Err(refused) => CreateWebhookEndpointPayload {
                endpoint: None,
                secret: None,
                user_errors: user_errors(refused.into_user_errors()),
            },
        })
    }

    /// Admin only: changes an endpoint.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> ApiResult<WebhookEndpointPayload> {
        require_admin(ctx)?;
        let patch = EndpointPatch {
            url: input.url,
            events: input
                .events
                .map(|events| events.into_iter().map(Into::into).collect()),
            active: input.active,
            description: input.description,
        };
        Ok(
            match webhooks::update(Services::of(ctx), &input.id, &patch).await? {
                Ok(endpoint) => WebhookEndpointPayload {
                    endpoint: Some(endpoint.into()),
                    user_errors: Vec::new(),
                },
                Err(refused) => WebhookEndpointPayload {
                    endpoint: None,
                    user_errors: user_errors(refused.into_user_errors()),
                },
            },
        )
    }

    /// Admin only: deletes an endpoint; its pending deliveries fail.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> ApiResult<DeleteWebhookEndpointPayload> {
        require_admin(ctx)?;
        let deleted = webhooks::delete(Services::of(ctx), &input.id).await?;
        Ok(DeleteWebhookEndpointPayload {
            deleted,
            user_errors: Vec::new(),
        })
    }

    /// Admin only: a new secret; the old one keeps signing for `keepOldForSeconds`.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: RotateWebhookSecretInput,
    ) -> ApiResult<RotateWebhookSecretPayload> {
        require_admin(ctx)?;
        let keep = input.keep_old_for_seconds.unwrap_or(86_400);
        let keep = chrono::Duration::seconds(i64::from(keep));
        Ok(
            match webhooks::rotate(Services::of(ctx), &input.id, keep).await? {
                Ok(secret) => RotateWebhookSecretPayload {
                    secret: Some(secret),
                    user_errors: Vec::new(),
                },
                Err(refused) => RotateWebhookSecretPayload {
                    secret: None,
                    user_errors: user_errors(refused.into_user_errors()),
                },
            },
        )
    }

    /// Admin only: sends a delivery again, from the start of the schedule.
    async fn retry_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        input: RetryWebhookDeliveryInput,
    ) -> ApiResult<RetryWebhookDeliveryPayload> {
        require_admin(ctx)?;
        Ok(match webhooks::retry(Services::of(ctx), &input.id).await? {
            Ok(delivery) => RetryWebhookDeliveryPayload {
                delivery: Some(delivery.into()),
                user_errors: Vec::new(),
            },
            Err(refused) => RetryWebhookDeliveryPayload {
                delivery: None,
                user_errors: user_errors(refused.into_user_errors()),
            },
        })
    }

    /// Admin only: sends kept events again to one endpoint, with their
    /// original ids, in their order per order.
    async fn replay_webhook_events(
        &self,
        ctx: &Context<'_>,
        input: ReplayWebhookEventsInput,
    ) -> ApiResult<ReplayWebhookEventsPayload> {
        require_admin(ctx)?;
        let replay = Replay {
            endpoint_id: input.endpoint_id.0,
            since: input.since,
            until: input.until,
            events: input
                .events
                .map(|events| events.into_iter().map(Into::into).collect()),
        };
        Ok(match webhooks::replay(Services::of(ctx), &replay).await? {
            Ok(count) => ReplayWebhookEventsPayload {
                count: i32::try_from(count).unwrap_or(i32::MAX),
                user_errors: Vec::new(),
            },
            Err(refused) => ReplayWebhookEventsPayload {
                count: 0,
                user_errors: user_errors(refused.into_user_errors()),
            },
        })
    }

    /// Admin only: sends a `webhook.test` event to an endpoint now, signed
    /// like any other, and says how it went (within 10 s).
    async fn send_test_webhook(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointIdInput,
    ) -> ApiResult<SendTestWebhookPayload> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        Ok(
            match webhooks::send_test(services, render(services), &input.id).await? {
                Ok(attempt) => SendTestWebhookPayload {
                    attempt: Some(attempt.into()),
                    user_errors: Vec::new(),
                },
                Err(refused) => SendTestWebhookPayload {
                    attempt: None,
                    user_errors: user_errors(refused.into_user_errors()),
                },
            },
        )
    }
}

/// The fields of the schema that renders payloads.
/// The order or cart to render travels as the request's data, so one
/// schema serves every payload.
struct PayloadRoot;

#[Object]
impl PayloadRoot {
    async fn order<'a>(&self, ctx: &Context<'a>) -> Option<&'a OrderView> {
        ctx.data_opt::<OrderView>()
    }

    async fn cart<'a>(&self, ctx: &Context<'a>) -> Option<&'a CartView> {
        ctx.data_opt::<CartView>()
    }
}

/// Every field of `Cart` its owner sees (an abandoned cart's payload),
/// priced as it would be now.
const CART_FIELDS: &str = "{ cart {
  id name version createdAt updatedAt expiresAt note
  attributes { key value }
  buyerIdentity { email phone countryCode
    shippingAddress { name company address1 address2 city province postalCode countryCode phone } }
  totalQuantity subtotal { amount currencyCode }
  cost { subtotal { amount currencyCode } discountTotal { amount currencyCode }
    shipping { amount currencyCode } shippingDiscount { amount currencyCode }
    taxTotal { amount currencyCode } taxesIncluded total { amount currencyCode }
    taxLines { title ratePercent amount { amount currencyCode } } estimated }
  discountCodes { code applicable reason }
  lines { id sku quantity attributes { key value }
    unitPrice { amount currencyCode } lineTotal { amount currencyCode }
    cost { discountTotal { amount currencyCode } total { amount currencyCode } }
    variant { id sku title availableForSale selectedOptions { name value }
      image { url altText } product { id handle title featuredImage { url altText } } } }
  warnings { code lineId message }
} }";

/// The cart of an abandoned-cart event as its owner would see it now.
async fn cart_view(services: &Services, idle: IdleCart) -> Option<CartView> {
    let owner = OwnerKey::parse(&idle.owner)?;
    let kind = owner.namespace().kind();
    match carts::price_seen(services, idle.cart, HashMap::new()).await {
        Ok(shown) => Some(CartView::of_owner(services, &owner, kind, None, shown)),
        Err(e) => {
            tracing::error!(error = %e, "pricing an abandoned cart for its webhook failed");
            None
        }
    }
}

/// Every field of `Order` an admin sees.
const ORDER_FIELDS: &str = "{ order {
  id status createdAt updatedAt cartName cartVersion note
  attributes { key value }
  buyerIdentity { email phone countryCode
    shippingAddress { name company address1 address2 city province postalCode countryCode phone } }
  subtotal { amount currencyCode } total { amount currencyCode }
  cost { subtotal { amount currencyCode } discountTotal { amount currencyCode }
    shipping { amount currencyCode } shippingDiscount { amount currencyCode }
    taxTotal { amount currencyCode } taxesIncluded total { amount currencyCode }
    taxLines { title ratePercent amount { amount currencyCode } } estimated }
  discountApplications { code title target amount { amount currencyCode } }
  deliveryOption { handle title price { amount currencyCode } }
  lines { id sku title productTitle quantity
    selectedOptions { name value } attributes { key value }
    unitPrice { amount currencyCode } lineTotal { amount currencyCode }
    cost { unitPrice { amount currencyCode } subtotal { amount currencyCode }
      discountAllocations { code title amount { amount currencyCode } }
      discountTotal { amount currencyCode } total { amount currencyCode } taxTotal { amount currencyCode } } }
  paymentReference trackingNumber trackingUrl cancelReason restocked
  events { status at by note }
} }";

/// Renders an event's `data`: `{ "order": … }`, the order as it was just
/// after the change, shown by the schema's own `Order` type as an admin
/// sees it (so the payload and `adminOrder` never disagree); for an
/// abandoned cart `{ "cart": … }`, the schema's own `Cart` type.
pub fn render(services: &Services) -> Render {
    let services = services.clone();
    let schema = Schema::build(PayloadRoot, EmptyMutation, EmptySubscription)
        .disable_introspection()
        .finish();
    Arc::new(move |event: Event| {
        let services = services.clone();
        let schema = schema.clone();
        Box::pin(async move {
            let fields = match event.cart.is_some() {
                true => CART_FIELDS,
                false => ORDER_FIELDS,
            };
            let mut request = async_graphql::Request::new(fields).data(services.clone());
            if let Some(order) = event.order {
                request = request.data(admin_view(&services, order));
            }
            if let Some(idle) = event.cart
                && let Some(view) = cart_view(&services, idle).await
            {
                request = request.data(view);
            }
            let response = schema.execute(request).await;
            if !response.errors.is_empty() {
                tracing::error!(errors = ?response.errors, "rendering a webhook payload failed");
            }
            response.data.into_json().unwrap_or(serde_json::Value::Null)
        })
    })
}
