//! Checkout and orders: `checkout`, `checkoutLines`, `order`, `orders`.
//!
//! A checkout is one store transaction (see [`OrderStore::checkout`]); the
//! idempotency key makes a retry return the first order instead of a second.

use super::cart::CartLineInput;
use super::cart_view::{CartView, cart_lifetime, cart_view};
use super::error::{ApiError, ApiResult};
use super::types::{MoneyView, UserError, user_errors};
use super::{require_viewer, shop, store};
use crate::auth::Viewer;
use crate::domain::cart::check_lines;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, Outcome, key_reused};
use crate::domain::order::{Order, OrderStatus as DomainStatus};
use crate::domain::{
    CartName, Currency, ErrorCode, LineMode, Rejection, Sku, UserError as DomainError,
};
use crate::store::orders::{CheckoutOutcome, CheckoutRequest, CheckoutSource};
use crate::store::{OrderStore, UpdateError};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use std::sync::{Arc, LazyLock, Mutex};

/// The order store, from the schema data.
pub(crate) fn orders<'a>(ctx: &Context<'a>) -> &'a Arc<dyn OrderStore> {
    ctx.data_unchecked::<Arc<dyn OrderStore>>()
}

/// Order ids: ULIDs, monotonic within this process so "newest first" holds
/// even for orders placed in the same millisecond.
static ORDER_IDS: LazyLock<Mutex<ulid::Generator>> =
    LazyLock::new(|| Mutex::new(ulid::Generator::new()));

fn next_order_id() -> String {
    let mut generator = ORDER_IDS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random one.
    generator
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_string()
}

/// Where an order is in its life.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(
    remote = "crate::domain::order::OrderStatus",
    rename_items = "SCREAMING_SNAKE_CASE"
)]
pub enum OrderStatus {
    /// Stock is reserved and the order is recorded.
    Placed,
}

/// A placed order: a snapshot of what was bought at what price.
pub struct OrderView {
    order: Order,
    currency: Currency,
}

#[Object(name = "Order")]
impl OrderView {
    /// Sortable id (a ULID).
    async fn id(&self) -> ID {
        self.order.id.clone().into()
    }
    /// Life-cycle status.
    async fn status(&self) -> OrderStatus {
        let status: DomainStatus = self.order.status;
        status.into()
    }
    /// What was bought, with titles and prices as they were at checkout.
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
    /// Its title at checkout.
    pub title: String,
    /// Units bought.
    pub quantity: u32,
    /// Unit price at checkout.
    pub unit_price: MoneyView,
    /// `unitPrice × quantity`.
    pub line_total: MoneyView,
}

fn view(ctx: &Context<'_>, order: Order) -> OrderView {
    OrderView {
        order,
        currency: shop(ctx).currency,
    }
}

/// Order queries; they need a token.
#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// One of the viewer's orders; `null` if there is none with this id for this viewer.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<OrderView>> {
        let viewer = require_viewer(ctx)?;
        // Ids are stored in the canonical (upper-case) spelling.
        let Ok(id) = ulid::Ulid::from_string(&id) else {
            return Ok(None);
        };
        let order = orders(ctx)
            .order(&viewer.owner_key(), &id.to_string())
            .await?;
        Ok(order.map(|o| view(ctx, o)))
    }

    /// The viewer's orders, newest first, as a cursor connection (`first` at most 100).
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, OrderView>> {
        let viewer = require_viewer(ctx)?;
        if !(1..=100).contains(&first) {
            return Err(ApiError::BadUserInput(
                "'first' must be 1 to 100 (default 20)".into(),
            ));
        }
        // A cursor is an order id; ULIDs read in any case, but the store
        // compares the canonical spelling ("01h…" would sort after "01H…"
        // and return the cursor's own order again).
        let after = match after.as_deref().map(ulid::Ulid::from_string) {
            None => None,
            Some(Ok(cursor)) => Some(cursor.to_string()),
            Some(Err(_)) => {
                return Err(ApiError::BadUserInput(
                    "'after' is not a cursor from this connection".into(),
                ));
            }
        };
        let mut page = orders(ctx)
            .orders(&viewer.owner_key(), after.as_deref(), first as usize + 1)
            .await?;
        let has_next = page.len() > first as usize;
        page.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            page.into_iter()
                .map(|o| Edge::new(o.id.clone(), view(ctx, o))),
        );
        Ok(connection)
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

/// Buys lines a client kept itself. Only SKUs and quantities are taken from the client.
#[derive(InputObject)]
pub struct CheckoutLinesInput {
    /// What to buy (a repeated SKU adds up).
    pub lines: Vec<CartLineInput>,
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
    pub user_errors: Vec<UserError>,
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
        let viewer = require_viewer(ctx)?;
        let name = match CartName::parse(&input.cart) {
            Ok(name) => name,
            Err(why) => {
                return Ok(failed(
                    None,
                    vec![DomainError::new(ErrorCode::InvalidCartName, &["cart"], why)],
                ));
            }
        };
        let key = match IdempotencyKey::parse(&input.idempotency_key, "idempotencyKey") {
            Ok(key) => key,
            Err(e) => return Ok(failed(None, vec![e])),
        };
        let fingerprint = Fingerprint::of("checkout", &(name.as_str(), input.expected_version));
        let source = CheckoutSource::Cart {
            name: name.clone(),
            expected_version: input.expected_version,
            lifetime: cart_lifetime(ctx, viewer),
            limits: shop(ctx).limits,
        };
        let result = run_checkout(ctx, viewer, key, fingerprint, source).await?;
        let set = store(ctx).cart_set(&viewer.owner_key()).await?;
        let cart = Some(cart_view(ctx, viewer, &set, &name).await?);
        Ok(match result {
            Ok(order) => CheckoutPayload {
                order: Some(view(ctx, order)),
                cart,
                user_errors: Vec::new(),
            },
            Err(rejection) => CheckoutPayload {
                order: None,
                cart,
                user_errors: user_errors(rejection.into_user_errors()),
            },
        })
    }

    /// Buys lines held by the client, with the same rules as `checkout`:
    /// prices and stock come from the server.
    async fn checkout_lines(
        &self,
        ctx: &Context<'_>,
        input: CheckoutLinesInput,
    ) -> ApiResult<CheckoutPayload> {
        let viewer = require_viewer(ctx)?;
        let key = match IdempotencyKey::parse(&input.idempotency_key, "idempotencyKey") {
            Ok(key) => key,
            Err(e) => return Ok(failed(None, vec![e])),
        };
        let as_given: Vec<(&str, i32)> = input
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        let fingerprint = Fingerprint::of("checkoutLines", &as_given);
        let skus: Vec<Sku> = input
            .lines
            .iter()
            .filter_map(|l| Sku::parse(&l.sku).ok())
            .collect();
        let catalog = store(ctx).products_by_sku(&skus).await?;
        let raw: Vec<(String, i64)> = input
            .lines
            .iter()
            .map(|l| (l.sku.clone(), i64::from(l.quantity)))
            .collect();
        let lines = match check_lines(&raw, LineMode::Replace, &shop(ctx).limits, &catalog) {
            Ok(lines) => lines,
            Err(rejection) => {
                // A retry of a checkout that succeeded gets its order even if a
                // product has gone inactive since.
                let errors = match recorded_order(ctx, viewer, &key, &fingerprint).await? {
                    Ok(Some(order)) => return Ok(placed(ctx, order)),
                    Ok(None) => rejection.into_user_errors(),
                    Err(reused) => reused.into_user_errors(),
                };
                return Ok(failed(None, errors));
            }
        };
        let result =
            run_checkout(ctx, viewer, key, fingerprint, CheckoutSource::Lines(lines)).await?;
        Ok(match result {
            Ok(order) => placed(ctx, order),
            Err(rejection) => failed(None, rejection.into_user_errors()),
        })
    }
}

fn placed(ctx: &Context<'_>, order: Order) -> CheckoutPayload {
    CheckoutPayload {
        order: Some(view(ctx, order)),
        cart: None,
        user_errors: Vec::new(),
    }
}

/// The order a key recorded for this request, if any.
async fn recorded_order(
    ctx: &Context<'_>,
    viewer: &Viewer,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
) -> ApiResult<Result<Option<Order>, Rejection>> {
    let owner = viewer.owner_key();
    let id = match orders(ctx).recorded(&owner, key, fingerprint).await {
        Ok(Some(Outcome::Order(id))) => id,
        Ok(Some(_)) => return Ok(Err(key_reused())),
        Ok(None) => return Ok(Ok(None)),
        Err(UpdateError::Rejected(rejection)) => return Ok(Err(rejection)),
        Err(UpdateError::Store(e)) => return Err(ApiError::from(e)),
    };
    let order = orders(ctx).order(&owner, &id).await?;
    Ok(Ok(order))
}

fn failed(cart: Option<CartView>, errors: Vec<DomainError>) -> CheckoutPayload {
    CheckoutPayload {
        order: None,
        cart,
        user_errors: user_errors(errors),
    }
}

async fn run_checkout(
    ctx: &Context<'_>,
    viewer: &Viewer,
    key: IdempotencyKey,
    fingerprint: Fingerprint,
    source: CheckoutSource,
) -> ApiResult<Result<Order, Rejection>> {
    let request = CheckoutRequest {
        max_keys_per_owner: shop(ctx).max_idempotency_keys_per_viewer,
        owner: viewer.owner_key(),
        key,
        fingerprint,
        order_id: next_order_id(),
        now: Utc::now(),
        source,
    };
    match orders(ctx).checkout(&request).await {
        Ok(CheckoutOutcome::Placed(order) | CheckoutOutcome::Replayed(order)) => Ok(Ok(order)),
        Err(UpdateError::Rejected(rejection)) => Ok(Err(rejection)),
        Err(UpdateError::Store(e)) => Err(ApiError::from(e)),
    }
}
