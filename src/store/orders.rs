//! What checkout and orders need from a database: the checkout transaction
//! and reading an owner's orders.

use super::idempotency::Replayable;
use super::notices::Touched;
use super::{StoreError, UpdateError};
use crate::domain::account::Email;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey};
use crate::domain::order::{
    CheckoutDetails, IdRange, Moved, Order, OrderFilter, PlaceOrder, Placement, place_order,
};
use crate::domain::pricing::{
    Quote, QuoteLine, QuoteRequest, ShopPricing, Usage, buyer_usage_key, quote,
};
use crate::domain::{
    Cart, CartChange, CartIndex, CartLine, CartName, CartWrite, Currency, ErrorCode, Limits, Money,
    OwnerKey, Rejection, Sku, UserError, Variant, ViewerKind,
};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// The outbox record that announces `order`'s latest change (a
/// [`webhook::Event`](crate::domain::webhook::Event)): its `meta` key and
/// value, written by the transaction that made the change.
pub fn outbox_record(order: &Order) -> (String, serde_json::Value) {
    use crate::domain::webhook::Event;
    let event = Event::of_order(Event::new_id(order.updated_at()), order);
    let value = serde_json::to_value(&event).unwrap_or(serde_json::Value::Null);
    (
        super::shop::meta_key(super::shop::WEBHOOK_OUTBOX, &event.id),
        value,
    )
}

/// Decides an order's move from the order as stored (may run several times).
pub type OrderChange<'a> = dyn Fn(&Order) -> Result<Moved, Rejection> + Send + Sync + 'a;

/// A checkout to run as one transaction.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    /// The buyer.
    pub owner: OwnerKey,
    /// The idempotency key, scoped to `owner`.
    pub key: IdempotencyKey,
    /// What "the same request" means for `key`.
    pub fingerprint: Fingerprint,
    /// The most idempotency records the owner may have (a new key beyond
    /// them is refused with `THROTTLED`).
    pub max_keys_per_owner: usize,
    /// The id the order gets if one is placed.
    pub order_id: String,
    /// The time of the request.
    pub now: DateTime<Utc>,
    /// What to buy.
    pub source: CheckoutSource,
    /// The customer's own e-mail, used when the cart names none.
    pub default_email: Option<Email>,
    /// Whether checkout needs an e-mail (`--checkout-email`).
    pub email_required: bool,
    /// The most bytes the order may take (`--max-order-bytes`).
    pub max_order_bytes: usize,
    /// Guest or customer (`customersOnly`, per-customer usage).
    pub kind: ViewerKind,
    /// Refuse with `TOTAL_CHANGED` unless the total is this.
    pub expected_total: Option<Money>,
    /// The shop currency (for messages).
    pub currency: Currency,
}

/// What a checkout buys.
#[derive(Clone, Debug)]
pub enum CheckoutSource {
    /// The owner's stored cart, which is cleared by the checkout.
    Cart {
        /// Which cart.
        name: CartName,
        /// Refuse unless the cart is at this version.
        expected_version: Option<u64>,
        /// How long the owner's carts live (an expired cart is empty).
        lifetime: Duration,
        /// Cart limits (for the clearing write).
        limits: Limits,
    },
    /// Lines a client kept itself (`checkoutLines`).
    Lines {
        lines: Vec<CartLine>,
        details: Box<CheckoutDetails>,
    },
}

/// The two steps every backend runs inside its checkout transaction, so the
/// rule lives in one place: read the owner's index and the cart, take
/// [`lines`], read those SKUs' variants (locked), then [`place`] — and
/// write what it changed.
///
/// [`lines`]: CheckoutRequest::lines
/// [`place`]: CheckoutRequest::place
impl CheckoutRequest {
    /// The lines to buy: the cart's (after checking `expectedVersion`) or the client's.
    pub fn lines(&self, stored: Option<&Cart>) -> Result<Vec<CartLine>, Rejection> {
        match &self.source {
            CheckoutSource::Cart {
                name,
                expected_version,
                lifetime,
                ..
            } => {
                let cart = Cart::as_seen(stored.cloned(), name, self.now, *lifetime);
                if let Some(expected) = expected_version
                    && *expected != cart.version
                {
                    return Err(Rejection::VersionConflict {
                        expected: *expected,
                        current: cart.version,
                    });
                }
                Ok(cart.lines)
            }
            CheckoutSource::Lines { lines, .. } => Ok(lines.clone()),
        }
    }

    /// Whom the committed checkout tells: the owner's order subscriptions,
    /// and its cart subscriptions when the checkout emptied a cart.
    pub fn touched(&self, emptied_cart: bool) -> Touched {
        let orders = Touched::orders_of(&self.owner);
        match emptied_cart {
            true => orders.and_carts_of(&self.owner),
            false => orders,
        }
    }

    /// The note, attributes, buyer, codes and delivery checkout places the
    /// order with, and the cart it comes from.
    fn details(&self, stored: Option<&Cart>) -> (CheckoutDetails, Option<(CartName, u64)>) {
        match &self.source {
            CheckoutSource::Cart { name, lifetime, .. } => {
                let cart = Cart::as_seen(stored.cloned(), name, self.now, *lifetime);
                (
                    CheckoutDetails::of_cart(&cart, self.default_email.as_ref()),
                    Some((name.clone(), cart.version)),
                )
            }
            CheckoutSource::Lines { details, .. } => {
                let mut details = (**details).clone();
                if details.buyer_identity.email.is_none() {
                    details.buyer_identity.email = self.default_email.clone();
                }
                (details, None)
            }
        }
    }

    /// The discount usage records ([`USAGE_KIND`](crate::domain::pricing::USAGE_KIND)) the transaction reads
    /// (locked where the backend locks) before [`place`](Self::place).
    pub fn usage_keys(&self, stored: Option<&Cart>, pricing: &ShopPricing) -> Vec<String> {
        let (details, _) = self.details(stored);
        let buyer = self.buyer_key(&details);
        pricing.usage_keys(&details.discount_codes, &buyer)
    }

    fn buyer_key(&self, details: &CheckoutDetails) -> String {
        buyer_usage_key(
            &self.owner,
            self.kind,
            details.buyer_identity.email.as_ref(),
        )
    }

    /// Prices the lines with the variants and usage as the transaction read
    /// them: the quote (`None` when a line's variant is unknown: placing
    /// refuses that first) and why checkout must refuse it.
    fn quote(
        &self,
        details: &CheckoutDetails,
        lines: &[CartLine],
        catalog: &HashMap<Sku, Variant>,
        pricing: &ShopPricing,
        usage: &Usage,
    ) -> Result<Option<(Quote, Option<Rejection>)>, Rejection> {
        let Some(quoted) = lines
            .iter()
            .map(|l| {
                let variant = catalog.get(&l.sku)?;
                Some(QuoteLine::of(variant, l.quantity, variant.price))
            })
            .collect::<Option<Vec<QuoteLine>>>()
        else {
            return Ok(None);
        };
        let buyer_key = self.buyer_key(details);
        let request = QuoteRequest {
            lines: &quoted,
            codes: &details.discount_codes,
            delivery: details.delivery_option.as_deref(),
            buyer: &details.buyer_identity,
            kind: self.kind,
            buyer_key: &buyer_key,
            usage,
            now: self.now,
        };
        let quote = quote(pricing, &request).map_err(|e| {
            Rejection::one(UserError::new(
                ErrorCode::InvalidQuantity,
                &["lines"],
                format!("this cart cannot be priced: {e}"),
            ))
        })?;
        let refusal = quote.refusal(self.expected_total, |m| self.currency.format(m));
        Ok(Some((quote, refusal)))
    }

    /// Places the order with the variants and discount usage as the
    /// transaction read them, priced and checked by [`quote`]: every reason
    /// to refuse is reported at once (lines, codes, delivery, the expected
    /// total). For a stored cart it also empties the cart: the returned
    /// write (and `index`, updated) are to be stored with the order. The
    /// variants in [`Placement::stock_taken`] and the usage in
    /// [`Placement::usage_taken`] are to be written too.
    pub fn place(
        &self,
        index: &mut CartIndex,
        stored: Option<&Cart>,
        lines: &[CartLine],
        catalog: &HashMap<Sku, Variant>,
        pricing: &ShopPricing,
        usage: &Usage,
    ) -> Result<(Placement, Option<CartWrite>), Rejection> {
        let (details, source_cart) = self.details(stored);
        let buyer_key = self.buyer_key(&details);
        let priced = self.quote(&details, lines, catalog, pricing, usage)?;
        let (pricing, usage_taken, refusal) = match priced {
            None => (None, Vec::new(), None),
            Some((quote, refusal)) => {
                let taken = quote.usage_taken(usage, &buyer_key);
                let keys = taken.iter().map(|(key, _)| key.clone()).collect();
                (Some(quote.frozen(keys)), taken, refusal)
            }
        };
        let placed = place_order(
            lines,
            catalog,
            PlaceOrder {
                id: self.order_id.clone(),
                details,
                email_required: self.email_required,
                by: self.owner.as_str(),
                now: self.now,
                source_cart,
                max_bytes: self.max_order_bytes,
                pricing,
            },
        );
        let mut placement = match (placed, refusal) {
            (Ok(placement), None) => placement,
            (Ok(_), Some(refusal)) => return Err(refusal),
            (Err(Rejection::Invalid(mut errors)), Some(refusal)) => {
                errors.extend(refusal.into_user_errors());
                return Err(Rejection::Invalid(errors));
            }
            (Err(rejection), _) => return Err(rejection),
        };
        placement.usage_taken = usage_taken;
        let emptied = match &self.source {
            CheckoutSource::Cart {
                name,
                lifetime,
                limits,
                ..
            } => index.apply(
                stored,
                name,
                &CartChange::Reset,
                None,
                limits,
                self.now,
                *lifetime,
            )?,
            CheckoutSource::Lines { .. } => None,
        };
        Ok((placement, emptied))
    }
}

/// Whom a committed order move tells: the owner's order subscriptions, if
/// the order changed.
pub fn touched_by_move(owner: &OwnerKey, moved: &Moved) -> Touched {
    match moved {
        Moved::Changed(..) => Touched::orders_of(owner),
        Moved::Already => Touched::default(),
    }
}

/// Orders.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Runs a checkout atomically: the idempotency look-up, the stock check
    /// and decrement, the order, the record of the key and (for a cart)
    /// clearing it, all or nothing. A replay returns the order placed first.
    async fn checkout(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, UpdateError>;

    /// One of the owner's orders, or `None` (also for another owner's order id).
    async fn order(&self, owner: &OwnerKey, id: &str) -> Result<Option<Order>, StoreError>;

    /// Up to `limit` of the owner's orders, newest first, older than `before`
    /// (order ids are ULIDs in their canonical spelling and sort by time).
    async fn orders(
        &self,
        owner: &OwnerKey,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;

    /// Wakes when one of `owner`'s orders is placed or moved (any instance).
    fn order_changes(&self, owner: &OwnerKey) -> super::Changes;

    /// Any owner's order by id (admin), with its owner.
    async fn order_by_id(&self, id: &str) -> Result<Option<(OwnerKey, Order)>, StoreError>;

    /// Every owner's orders that match `filter`, newest first, ids below
    /// `before` (admin). Written once for every backend: it reads pages of
    /// [`orders_in`](Self::orders_in) down the id range the filter allows
    /// until `limit` orders match or the range is exhausted, so it may look
    /// at more orders than it returns. One step (`store.all_orders`,
    /// [`Traced`](super::traced::Traced)'s), its page reads under it.
    async fn all_orders(
        &self,
        filter: &OrderFilter,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let Some(IdRange { lower, mut upper }) = filter.id_range(before) else {
            return Ok(Vec::new());
        };
        let page = limit.clamp(50, 500);
        let mut found = Vec::new();
        while found.len() < limit {
            let orders = self.orders_in(&lower, upper.as_deref(), page).await?;
            let exhausted = orders.len() < page;
            for order in orders {
                upper = Some(order.id.clone());
                if found.len() < limit && filter.matches(&order) {
                    found.push(order);
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(found)
    }

    /// Up to `limit` orders of any owner, newest first, with ids from
    /// `lower` (included) up to `upper` (excluded; `None`: no bound), fewer
    /// only when the range holds no more: the backend's read behind
    /// [`all_orders`](Self::all_orders).
    async fn orders_in(
        &self,
        lower: &str,
        upper: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;

    /// Moves the order `id` as `change` decides, in one transaction with the
    /// stock it returns (tracked stock only); `None` if there is no such
    /// order. The owner's subscriptions are told. Concurrent moves of one
    /// order are serialised: a cancel restocks once.
    async fn move_order(
        &self,
        id: &str,
        change: &OrderChange<'_>,
    ) -> Result<Option<(OwnerKey, Moved)>, UpdateError>;
}
