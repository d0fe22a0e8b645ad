//! Checkout and orders: `checkout`, `checkoutLines`, `order`, `orders`.
//!
//! A checkout is one store transaction (see [`OrderStore::checkout`](crate::store::OrderStore::checkout)); the
//! idempotency key makes a retry return the first order instead of a second.

use super::cart_view::CartView;
use super::catalog::SelectedOptionView;
use super::error::{ApiError, ApiResult};
use super::inputs::{CartLineInput, as_given, checked_lines};
use super::pagination::PageRequest;
use super::types::{
    AttributeView, BuyerIdentityInput, BuyerIdentityView, MoneyView, UserErrorView, user_errors,
};
use super::{require_viewer, take_write};
use crate::auth::throttle::Subject;
use crate::auth::{ClientAddress, Viewer};
use crate::domain::attributes::{check_attributes, check_note};
use crate::domain::buyer::BuyerIdentity;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, Outcome, key_reused};
use crate::domain::order::{CheckoutDetails, Order, OrderStatus as DomainStatus};
use crate::domain::{CartLine, CartName, Currency, ErrorCode, Rejection, UserError as DomainError};
use crate::services::Services;
use crate::store::orders::{CheckoutRequest, CheckoutSource};
use crate::store::{Replayable, UpdateError};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// Where an order is in its life.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(
    remote = "crate::domain::order::OrderStatus",
    name = "OrderStatus",
    rename_items = "SCREAMING_SNAKE_CASE"
)]
pub enum OrderStatusView {
    /// Stock is taken and the order is recorded; not paid yet.
    Placed,
    /// The shop recorded the payment.
    Paid,
    /// The shop sent it.
    Fulfilled,
    /// Called off; stock may have been returned.
    Cancelled,
}

/// A placed order: a snapshot of what was bought at what price.
pub struct OrderView {
    pub(crate) order: Order,
    pub(crate) currency: Currency,
    /// Whether the shop is looking (admins see who moved the order).
    pub(crate) for_admin: bool,
}

#[Object(name = "Order")]
impl OrderView {
    /// Sortable id (a ULID).
    async fn id(&self) -> ID {
        self.order.id.clone().into()
    }
    /// Life-cycle status.
    async fn status(&self) -> OrderStatusView {
        let status: DomainStatus = self.order.status;
        status.into()
    }
    /// What was bought, with titles and prices as they were at checkout.
    #[graphql(complexity = "super::complexity::list(super::complexity::LINES, child_complexity)")]
    async fn lines(&self) -> Vec<OrderLineView> {
        self.order
            .lines
            .iter()
            .map(|l| OrderLineView {
                sku: l.sku.to_string(),
                title: l.title.clone(),
                quantity: l.quantity,
                unit_price: MoneyView::new(l.unit_price, &self.currency),
                line_total: MoneyView::new(l.line_total, &self.currency),
                attributes: AttributeView::list(&l.attributes),
                product_title: l.product_title.clone().unwrap_or_else(|| l.title.clone()),
                selected_options: l
                    .selected_options
                    .iter()
                    .map(|s| SelectedOptionView {
                        name: s.name.clone(),
                        value: s.value.clone(),
                    })
                    .collect(),
            })
            .collect()
    }
    /// The buyer's note to the shop.
    async fn note(&self) -> Option<&str> {
        self.order.note.as_deref()
    }
    /// The cart's attributes at checkout.
    async fn attributes(&self) -> Vec<AttributeView> {
        AttributeView::list(&self.order.attributes)
    }
    /// Who bought, as given at checkout.
    async fn buyer_identity(&self) -> BuyerIdentityView {
        BuyerIdentityView::new(&self.order.buyer_identity)
    }
    /// The payment reference recorded with `markOrderPaid`.
    async fn payment_reference(&self) -> Option<&str> {
        self.order.payment_reference.as_deref()
    }
    /// The carrier's tracking number, from `markOrderFulfilled`.
    async fn tracking_number(&self) -> Option<&str> {
        self.order
            .tracking
            .as_ref()
            .and_then(|t| t.number.as_deref())
    }
    /// Where to follow the shipment, from `markOrderFulfilled`.
    async fn tracking_url(&self) -> Option<&str> {
        self.order.tracking.as_ref().and_then(|t| t.url.as_deref())
    }
    /// Why it was cancelled.
    async fn cancel_reason(&self) -> Option<&str> {
        self.order.cancel_reason.as_deref()
    }
    /// Whether cancelling returned its units to stock.
    async fn restocked(&self) -> bool {
        self.order.restocked
    }
    /// When it last changed status.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.order.updated_at()
    }
    /// Its history, oldest first: placed, then each status change.
    async fn events(&self) -> Vec<OrderEventView> {
        self.order
            .history()
            .into_iter()
            .map(|e| OrderEventView {
                status: e.status.into(),
                at: e.at,
                // The buyer sees "shop" for the shop's moves, not who did them.
                by: if self.for_admin || e.status == DomainStatus::Placed {
                    e.by
                } else {
                    "shop".into()
                },
                note: e.note,
            })
            .collect()
    }
    /// Sum of line totals.
    async fn subtotal(&self) -> MoneyView {
        MoneyView::new(self.order.subtotal, &self.currency)
    }
    /// What is owed (the subtotal: no tax or shipping yet).
    async fn total(&self) -> MoneyView {
        MoneyView::new(self.order.total, &self.currency)
    }
    /// When it was placed.
    async fn created_at(&self) -> DateTime<Utc> {
        self.order.created_at
    }
    /// The cart it came from; `null` for `checkoutLines`.
    async fn cart_name(&self) -> Option<&str> {
        self.order
            .source_cart
            .as_ref()
            .map(|(name, _)| name.as_str())
    }
    /// The version of that cart the order was made from.
    async fn cart_version(&self) -> Option<u64> {
        self.order.source_cart.as_ref().map(|(_, version)| *version)
    }
}

/// One line of an order.
#[derive(SimpleObject)]
#[graphql(name = "OrderLine")]
pub struct OrderLineView {
    /// The product's SKU.
    pub sku: String,
    /// The variant's title at checkout.
    pub title: String,
    /// Units bought.
    pub quantity: u32,
    /// Unit price at checkout.
    pub unit_price: MoneyView,
    /// `unitPrice × quantity`.
    pub line_total: MoneyView,
    /// The line's attributes.
    pub attributes: Vec<AttributeView>,
    /// The product's title at checkout (`title` is the variant's).
    pub product_title: String,
    /// The variant's option values at checkout.
    pub selected_options: Vec<SelectedOptionView>,
}

/// A step in an order's life.
#[derive(SimpleObject)]
#[graphql(name = "OrderEvent")]
pub struct OrderEventView {
    /// The status it moved to.
    pub status: OrderStatusView,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: the buyer (owner key) for the placement; after it, the admin's
    /// token subject as the shop sees it (`adminOrder(s)`), `shop` as the buyer does.
    pub by: String,
    /// What came with it: payment reference, tracking, reason.
    pub note: Option<String>,
}

/// The buyer's view of an order.
pub(crate) fn view(services: &Services, order: Order) -> OrderView {
    OrderView {
        order,
        currency: services.shop.currency,
        for_admin: false,
    }
}

/// The shop's view of an order: with who moved it.
pub(crate) fn admin_view(services: &Services, order: Order) -> OrderView {
    OrderView {
        for_admin: true,
        ..view(services, order)
    }
}

/// Order queries; they need a token.
#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// One of the viewer's orders; `null` if there is none with this id for this viewer.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<OrderView>> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        // Ids are stored in the canonical (upper-case) spelling.
        let Ok(id) = ulid::Ulid::from_string(&id) else {
            return Ok(None);
        };
        let order = services
            .store
            .order(&viewer.owner_key(), &id.to_string())
            .await?;
        Ok(order.map(|o| view(services, o)))
    }

    /// The viewer's orders, newest first, as a cursor connection (`first` at most 100).
    #[graphql(
        complexity = "super::complexity::list(super::complexity::page(first), child_complexity)"
    )]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, OrderView>> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        // A cursor is an order id; ULIDs read in any case, but the store
        // compares the canonical spelling ("01h…" would sort after "01H…"
        // and return the cursor's own order again).
        let page = PageRequest::parse(first, after, |cursor| {
            ulid::Ulid::from_string(cursor)
                .ok()
                .map(|id| id.to_string())
        })?;
        let orders = services
            .store
            .orders(&viewer.owner_key(), page.after.as_deref(), page.fetch())
            .await?;
        Ok(page.connection(orders, |o| (o.id.clone(), view(services, o))))
    }
}

/// Buys what is in a stored cart.
#[derive(InputObject)]
pub struct CheckoutInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// Required. Retrying with the same key returns the first order instead of placing another.
    pub idempotency_key: String,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version (the one the buyer saw).
    pub expected_version: Option<u64>,
}

/// Buys lines a client kept itself. Prices and stock come from the server.
#[derive(InputObject)]
pub struct CheckoutLinesInput {
    /// What to buy (a repeated SKU with the same attributes adds up).
    pub lines: Vec<CartLineInput>,
    /// The buyer's note to the shop.
    pub note: Option<String>,
    /// Attributes of the order.
    #[graphql(default)]
    pub attributes: Vec<AttributeView>,
    /// Who buys (see `--checkout-email` for when the e-mail is required).
    pub buyer_identity: Option<BuyerIdentityInput>,
    /// Required. Retrying with the same key returns the first order instead of placing another.
    pub idempotency_key: String,
}

/// The result of a checkout.
#[derive(SimpleObject)]
pub struct CheckoutPayload {
    /// The order placed (or, on a retry with the same key, the one placed first).
    pub order: Option<OrderView>,
    /// The cart after checkout (emptied on success, unchanged on failure); `null` for `checkoutLines`.
    pub cart: Option<CartView>,
    /// Why nothing was bought, naming the lines. Nothing is written when this is not empty.
    pub user_errors: Vec<UserErrorView>,
}

/// Checkout mutations; they need a token.
#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Turns a cart into an order in one transaction: checks every line, takes
    /// the stock, records the order and clears the cart — or does nothing.
    async fn checkout(
        &self,
        ctx: &Context<'_>,
        input: CheckoutInput,
    ) -> ApiResult<CheckoutPayload> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        let name = match CartName::parse(&input.cart) {
            Ok(name) => name,
            Err(why) => {
                let error = DomainError::new(ErrorCode::InvalidCartName, &["cart"], why);
                return Ok(failed(None, vec![error]));
            }
        };
        let key = match IdempotencyKey::parse(&input.idempotency_key, "idempotencyKey") {
            Ok(key) => key,
            Err(e) => return Ok(failed(None, vec![e])),
        };
        let fingerprint = Fingerprint::of("checkout", &(name.as_str(), input.expected_version));
        let result = match take_write(ctx, viewer) {
            Err(throttled) => Err(throttled),
            Ok(()) => match look_up(services, viewer, &key, &fingerprint).await? {
                Lookup::Replay(order) => Ok(*order),
                Lookup::Refused(rejection) => Err(rejection),
                Lookup::New => {
                    let source = CheckoutSource::Cart {
                        name: name.clone(),
                        expected_version: input.expected_version,
                        lifetime: services.shop.cart_lifetime(viewer.kind),
                        limits: services.shop.limits,
                    };
                    let client = ctx.data_opt::<ClientAddress>();
                    run_checkout(services, viewer, client, key, fingerprint, source).await?
                }
            },
        };
        let stored = services.store.cart(&viewer.owner_key(), &name).await?;
        let cart = Some(CartView::from_stored(services, viewer, stored, &name).await?);
        Ok(match result {
            Ok(order) => CheckoutPayload {
                order: Some(view(services, order)),
                cart,
                user_errors: Vec::new(),
            },
            Err(rejection) => failed(cart, rejection.into_user_errors()),
        })
    }

    /// Buys lines held by the client, with the same rules as `checkout`:
    /// prices and stock come from the server.
    async fn checkout_lines(
        &self,
        ctx: &Context<'_>,
        input: CheckoutLinesInput,
    ) -> ApiResult<CheckoutPayload> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        let key = match IdempotencyKey::parse(&input.idempotency_key, "idempotencyKey") {
            Ok(key) => key,
            Err(e) => return Ok(failed(None, vec![e])),
        };
        if let Err(throttled) = take_write(ctx, viewer) {
            return Ok(failed(None, throttled.into_user_errors()));
        }
        let buyer = input
            .buyer_identity
            .as_ref()
            .map(BuyerIdentityInput::to_domain);
        let fingerprint = Fingerprint::of(
            "checkoutLines",
            &(
                as_given(&input.lines),
                input.note.as_deref(),
                AttributeView::pairs(&input.attributes),
                buyer.as_ref().map(|b| format!("{b:?}")),
            ),
        );
        let result = match look_up(services, viewer, &key, &fingerprint).await? {
            Lookup::Replay(order) => Ok(*order),
            Lookup::Refused(rejection) => Err(rejection),
            Lookup::New => match checked_checkout_lines(services, &input).await? {
                Ok(source) => {
                    let client = ctx.data_opt::<ClientAddress>();
                    run_checkout(services, viewer, client, key, fingerprint, source).await?
                }
                Err(rejection) => Err(rejection),
            },
        };
        Ok(match result {
            Ok(order) => CheckoutPayload {
                order: Some(view(services, order)),
                cart: None,
                user_errors: Vec::new(),
            },
            Err(rejection) => failed(None, rejection.into_user_errors()),
        })
    }
}

/// Checks what `checkoutLines` was given: the lines against the catalog,
/// the note, the attributes and the buyer identity, all errors at once.
async fn checked_checkout_lines(
    services: &Services,
    input: &CheckoutLinesInput,
) -> ApiResult<Result<CheckoutSource, Rejection>> {
    let limits = &services.shop.attribute_limits;
    let mut errors = Vec::new();
    let lines = match checked_lines(services, &input.lines).await? {
        Ok(lines) => lines,
        Err(rejection) => {
            errors.extend(rejection.into_user_errors());
            Vec::new()
        }
    };
    let note = check_note(input.note.as_deref().unwrap_or(""), limits)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let attributes = check_attributes(
        &AttributeView::pairs(&input.attributes),
        &["attributes"],
        limits,
    )
    .map_err(|e| errors.extend(e))
    .unwrap_or_default();
    let buyer_identity = match &input.buyer_identity {
        None => BuyerIdentity::default(),
        Some(given) => given
            .to_domain()
            .check()
            .map_err(|e| errors.extend(e))
            .unwrap_or_default(),
    };
    if !errors.is_empty() {
        return Ok(Err(Rejection::Invalid(errors)));
    }
    let lines = lines
        .iter()
        .enumerate()
        .map(|(n, line)| CartLine {
            id: format!("0-{n}"),
            sku: line.sku.clone(),
            quantity: line.quantity,
            attributes: line.attributes.clone(),
            unit_price: line.unit_price,
        })
        .collect();
    Ok(Ok(CheckoutSource::Lines {
        lines,
        details: Box::new(CheckoutDetails {
            note,
            attributes,
            buyer_identity,
        }),
    }))
}

/// What the idempotency key says before a checkout runs.
enum Lookup {
    /// The key is new: check the input and run the checkout.
    New,
    /// The same request placed this order: answer it again.
    Replay(Box<Order>),
    /// The key belongs to another request.
    Refused(Rejection),
}

/// The look-up step (see [`crate::store::idempotency`]): a retry is answered
/// with its first order even if its input would no longer pass.
async fn look_up(
    services: &Services,
    viewer: &Viewer,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
) -> ApiResult<Lookup> {
    let owner = viewer.owner_key();
    let id = match services.store.recorded(&owner, key, fingerprint).await {
        Ok(None) => return Ok(Lookup::New),
        Ok(Some(Outcome::Order(id))) => id,
        Ok(Some(_)) => {
            count_checkout("refused");
            return Ok(Lookup::Refused(key_reused()));
        }
        Err(UpdateError::Rejected(rejection)) => {
            count_checkout("refused");
            return Ok(Lookup::Refused(rejection));
        }
        Err(UpdateError::Store(e)) => return Err(e.into()),
    };
    match services.store.order(&owner, &id).await? {
        Some(order) => {
            count_checkout("replayed");
            Ok(Lookup::Replay(Box::new(order)))
        }
        None => Err(ApiError::internal(format_args!(
            "idempotency record of {owner} names order {id}, which is missing"
        ))),
    }
}

/// `cartql_checkouts_total{outcome}`: placed, replayed or refused.
fn count_checkout(outcome: &'static str) {
    metrics::counter!("cartql_checkouts_total", "outcome" => outcome).increment(1);
}

fn failed(cart: Option<CartView>, errors: Vec<DomainError>) -> CheckoutPayload {
    CheckoutPayload {
        order: None,
        cart,
        user_errors: user_errors(errors),
    }
}

/// The proceed-and-record step: one transaction (see
/// [`OrderStore::checkout`](crate::store::OrderStore::checkout)), counted
/// against the client address's checkouts (a refused one gives its count back).
async fn run_checkout(
    services: &Services,
    viewer: &Viewer,
    client: Option<&ClientAddress>,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    source: CheckoutSource,
) -> ApiResult<Result<Order, Rejection>> {
    let now = services.clock.now();
    let client = client.map(ClientAddress::throttle_key);
    let keys: Vec<(Subject, &str)> = client
        .iter()
        .map(|c| (Subject::CheckoutClient, c.as_str()))
        .collect();
    if let Err(until) = services.throttle.reserve(&keys, now).await? {
        let minutes = (until - now).num_minutes().max(1);
        return Ok(Err(Rejection::one(DomainError::new(
            ErrorCode::Throttled,
            &[],
            format!("too many checkouts from this address; try again in {minutes} min"),
        ))));
    }
    let request = CheckoutRequest {
        owner: viewer.owner_key(),
        key,
        fingerprint,
        max_keys_per_owner: services.shop.max_idempotency_keys_per_viewer,
        order_id: services.order_ids.next(now),
        now,
        source,
        default_email: viewer.email.clone(),
        email_required: services.shop.checkout_email.required_for(viewer.kind),
        max_order_bytes: services.shop.limits.max_order_bytes,
    };
    match services.store.checkout(&request).await {
        Ok(Replayable::Applied(order)) => {
            count_checkout("placed");
            Ok(Ok(order))
        }
        Ok(Replayable::Replayed(order)) => {
            count_checkout("replayed");
            Ok(Ok(order))
        }
        Err(UpdateError::Rejected(rejection)) => {
            count_checkout("refused");
            services.throttle.give_back(&keys).await?;
            Ok(Err(rejection))
        }
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}
