//! Checkout and orders: `checkout`, `checkoutLines`, `order`, `orders`.
//!
//! A checkout is one store transaction (see [`app::checkout`](crate::app::checkout)); the
//! idempotency key makes a retry return the first order instead of a second.

use super::access::require_viewer;
use super::cart_cost::{CartCostView, CartLineCostView};
use super::cart_view::CartView;
use super::catalog::SelectedOptionView;
use super::discount_view::DiscountTargetView;
use super::error::ApiResult;
use super::inputs::{CartLineInput, as_given, line_inputs};
use super::pagination::PageRequest;
use super::types::{
    AttributeView, BuyerIdentityInput, BuyerIdentityView, Decimal, MoneyView, UserErrorView,
    user_errors_in,
};
use crate::app::checkout::{self, CheckoutFrom, LinesInput};
use crate::app::{Caller, Once};
use crate::auth::ClientAddress;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey};
use crate::domain::order::{Order, OrderStatus as DomainStatus};
use crate::domain::{CartName, Currency, ErrorCode, Rejection, UserError as DomainError};
use crate::services::Services;
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
    /// Global id (`gid://cartql/Order/<ULID>`; ids sort by time of placing).
    /// Arguments that take an order id also take the bare ULID older
    /// versions showed.
    pub(crate) async fn id(&self) -> ID {
        super::ids::order_id(&self.order.id)
    }
    /// Life-cycle status.
    async fn status(&self) -> OrderStatusView {
        let status: DomainStatus = self.order.status;
        status.into()
    }
    /// What was bought, with titles and prices as they were at checkout.
    #[graphql(complexity = "super::complexity::list(super::complexity::LINES, child_complexity)")]
    async fn lines(&self) -> Vec<OrderLineView> {
        self.line_views()
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
    /// What is owed: `cost.total`, as checkout priced it.
    async fn total(&self) -> MoneyView {
        MoneyView::new(self.order.total, &self.currency)
    }
    /// What checkout priced, frozen: discounts, shipping, tax and total as
    /// they were then, never recomputed. Orders placed before pricing show
    /// their subtotal with nothing else.
    async fn cost(&self) -> CartCostView {
        CartCostView::new(&self.order.cost().cost, self.currency)
    }
    /// The discounts the order got, in the order they applied.
    async fn discount_applications(&self) -> Vec<DiscountApplicationView> {
        self.order
            .cost()
            .applications
            .iter()
            .map(|a| DiscountApplicationView {
                code: a.code.clone(),
                title: a.title.clone(),
                target: a.target.into(),
                amount: MoneyView::new(a.amount, &self.currency),
            })
            .collect()
    }
    /// The delivery option chosen at checkout; `null` when nothing was
    /// shipped, the shop had no shipping rates, or the order predates them.
    async fn delivery_option(&self) -> Option<OrderDeliveryView> {
        let delivery = self.order.pricing.as_ref()?.delivery.as_ref()?;
        Some(OrderDeliveryView {
            handle: delivery.handle.clone(),
            title: delivery.title.clone(),
            price: MoneyView::new(delivery.price, &self.currency),
        })
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

impl OrderView {
    /// The order's lines, for output.
    fn line_views(&self) -> Vec<OrderLineView> {
        let costs = self.order.cost().lines;
        self.order
            .lines
            .iter()
            .enumerate()
            .map(|(n, l)| OrderLineView {
                cost: costs
                    .get(n)
                    .map(|cost| CartLineCostView::new(cost, self.currency)),
                id: super::ids::order_line_id(&self.order.id, n + 1),
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

    /// Line `n` (from 1) alone.
    pub(crate) fn into_line(self, n: usize) -> Option<OrderLineView> {
        self.line_views().into_iter().nth(n.checked_sub(1)?)
    }
}

/// One line of an order.
#[derive(SimpleObject)]
#[graphql(name = "OrderLine")]
pub struct OrderLineView {
    /// Global id (`gid://cartql/OrderLine/<order ULID>/<n>`, `n` from 1).
    #[graphql(owned)]
    pub id: ID,
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
    /// What the line cost at checkout (its discounts and tax), frozen;
    /// `null` only if the order's record lost it.
    pub cost: Option<CartLineCostView>,
}

/// One discount as an order got it.
#[derive(SimpleObject)]
#[graphql(name = "DiscountApplication")]
pub struct DiscountApplicationView {
    /// The code that applied it; `null` for an automatic discount.
    pub code: Option<String>,
    /// The discount's title.
    pub title: String,
    /// What it took its amount off.
    pub target: DiscountTargetView,
    /// What it took off in all.
    pub amount: MoneyView,
}

/// The delivery an order was placed with.
#[derive(SimpleObject)]
#[graphql(name = "OrderDeliveryOption")]
pub struct OrderDeliveryView {
    /// The shipping rate's handle.
    pub handle: String,
    /// Its title then.
    pub title: String,
    /// Its price for the order, before shipping discounts.
    pub price: MoneyView,
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
        let id = super::ids::order_ref(&id);
        let order = crate::app::orders::order(services, viewer, id).await?;
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
        let page = PageRequest::parse(first, after, super::ids::order_cursor)?;
        let orders = crate::app::orders::orders(
            services,
            &viewer.owner_key(),
            page.after.as_deref(),
            page.fetch(),
        )
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
    /// Refuse with `TOTAL_CHANGED` unless the total, recomputed in the
    /// checkout transaction, is this amount (the `cost.total` the buyer saw).
    pub expected_total: Option<Decimal>,
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
    /// Discount codes to apply (at most five; each must apply, or the
    /// checkout is refused with `DISCOUNT_NOT_APPLICABLE`).
    #[graphql(default)]
    pub discount_codes: Vec<String>,
    /// The delivery option (a handle from `previewCheckout`'s
    /// `deliveryOptions`); required when lines are shipped and the shop has
    /// shipping rates.
    pub delivery_option: Option<String>,
    /// Refuse with `TOTAL_CHANGED` unless the recomputed total is this amount.
    pub expected_total: Option<Decimal>,
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
        let expected_total = input.expected_total.map(|d| d.0);
        // Without an expected total the fingerprint is spelt as before it
        // existed, so keys recorded then still match their retries.
        let fingerprint = match &expected_total {
            None => Fingerprint::of("checkout", &(name.as_str(), input.expected_version)),
            Some(total) => Fingerprint::of(
                "checkout",
                &(name.as_str(), input.expected_version, total.as_str()),
            ),
        };
        let from = CheckoutFrom::Cart {
            name,
            expected_version: input.expected_version,
            expected_total,
        };
        run(ctx, from, Once { key, fingerprint }).await
    }

    /// Buys lines held by the client, with the same rules as `checkout`:
    /// prices and stock come from the server.
    async fn checkout_lines(
        &self,
        ctx: &Context<'_>,
        input: CheckoutLinesInput,
    ) -> ApiResult<CheckoutPayload> {
        let key = match IdempotencyKey::parse(&input.idempotency_key, "idempotencyKey") {
            Ok(key) => key,
            Err(e) => return Ok(failed(None, vec![e])),
        };
        let buyer = input
            .buyer_identity
            .as_ref()
            .map(BuyerIdentityInput::to_domain);
        let expected_total = input.expected_total.map(|d| d.0);
        let given = (
            as_given(&input.lines),
            input.note.as_deref(),
            AttributeView::pairs(&input.attributes),
            // Its fields by name (JSON): a stable spelling, unlike Debug.
            buyer.as_ref(),
        );
        // Without codes, delivery or total the fingerprint is spelt as
        // before they existed, so keys recorded then still match.
        let priced = (
            &input.discount_codes,
            input.delivery_option.as_deref(),
            expected_total.as_deref(),
        );
        let fingerprint = if priced.0.is_empty() && priced.1.is_none() && priced.2.is_none() {
            Fingerprint::of("checkoutLines", &given)
        } else {
            Fingerprint::of("checkoutLines", &(given, priced))
        };
        let from = CheckoutFrom::Lines(Box::new(LinesInput {
            lines: line_inputs(&input.lines),
            note: input.note.clone(),
            attributes: AttributeView::pairs(&input.attributes),
            buyer_identity: buyer,
            discount_codes: input.discount_codes.clone(),
            delivery_option: input.delivery_option.clone(),
            expected_total,
        }));
        run(ctx, from, Once { key, fingerprint }).await
    }
}

/// Runs a checkout ([`checkout::checkout`]) for the request's viewer.
async fn run(ctx: &Context<'_>, from: CheckoutFrom, once: Once) -> ApiResult<CheckoutPayload> {
    let services = Services::of(ctx);
    let viewer = require_viewer(ctx)?;
    let caller = Caller {
        viewer,
        client: ctx.data_opt::<ClientAddress>(),
    };
    let done = checkout::checkout(services, caller, from, once).await?;
    let cart = done.cart.map(|cart| CartView::new(services, viewer, cart));
    Ok(match (done.order, done.refused) {
        (Some(order), _) => CheckoutPayload {
            order: Some(view(services, order)),
            cart,
            user_errors: Vec::new(),
        },
        (None, refused) => failed(
            cart,
            refused.map(Rejection::into_user_errors).unwrap_or_default(),
        ),
    })
}

fn failed(cart: Option<CartView>, errors: Vec<DomainError>) -> CheckoutPayload {
    CheckoutPayload {
        order: None,
        user_errors: user_errors_in(errors, cart.as_ref().map(CartView::ids)),
        cart,
    }
}
