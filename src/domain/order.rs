//! Orders: the checkout rule (turn lines into an order, or say exactly which
//! lines cannot be bought) and the life of an order afterwards
//! (placed → paid → fulfilled, or cancelled).

use super::account::Email;
use super::attributes::Attribute;
use super::buyer::BuyerIdentity;
use super::cart::{Cart, CartLine};
use super::catalog::{SelectedOption, Variant, restocked, shortage};
use super::error::{ErrorCode, Rejection, UserError};
use super::money::Money;
use super::names::{CartName, Sku};
use super::pricing::{CartCost, LineCost, OrderCost};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Stock is taken and the order is recorded; not paid yet.
    Placed,
    /// The shop recorded the payment.
    Paid,
    /// The shop sent it.
    Fulfilled,
    /// Called off (from placed or paid); stock may have been returned.
    Cancelled,
}

impl OrderStatus {
    /// The status a move leads to, if it may be made from `self`; the same
    /// status again is allowed (a repeated move is a no-op).
    pub fn allows(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        self == to
            || matches!(
                (self, to),
                (Placed, Paid) | (Paid, Fulfilled) | (Placed, Cancelled) | (Paid, Cancelled)
            )
    }

    /// The name clients see.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "PLACED",
            OrderStatus::Paid => "PAID",
            OrderStatus::Fulfilled => "FULFILLED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }
}

/// One line of an order: a snapshot, so later catalog changes do not alter it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The SKU bought.
    pub sku: Sku,
    /// The title at checkout.
    pub title: String,
    /// Units bought.
    pub quantity: u32,
    /// The unit price at checkout.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
    /// The line's attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// The product's title at checkout (`title` is the variant's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_title: Option<String>,
    /// The variant's option values at checkout.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected_options: Vec<SelectedOption>,
    /// Whether checkout took these units from tracked stock (only those go
    /// back when the order is cancelled with restock). Orders stored before
    /// this was recorded read as taken.
    #[serde(default = "taken")]
    pub stock_taken: bool,
}

fn taken() -> bool {
    true
}

/// Something that happened to an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// The status it moved to.
    pub status: OrderStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: the buyer's owner key for the placement, the admin's token subject after.
    pub by: String,
    /// What was said with it (payment reference, tracking, reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A placed order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// A ULID: sortable by creation time.
    pub id: String,
    /// Life-cycle status.
    pub status: OrderStatus,
    /// Snapshot lines.
    pub lines: Vec<OrderLine>,
    /// Sum of line totals.
    pub subtotal: Money,
    /// What is owed: the subtotal (no tax or shipping yet).
    pub total: Money,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// The cart it came from and that cart's version, for `checkout`;
    /// `None` for `checkoutLines` (a client-held cart).
    pub source_cart: Option<(CartName, u64)>,
    /// The buyer's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The cart's attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Who bought.
    #[serde(default, skip_serializing_if = "BuyerIdentity::is_empty")]
    pub buyer_identity: BuyerIdentity,
    /// The payment reference given when it was marked paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_reference: Option<String>,
    /// Tracking given when it was marked fulfilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<Tracking>,
    /// Why it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// Whether cancelling returned its units to stock.
    #[serde(default)]
    pub restocked: bool,
    /// Its history, oldest first; the first event is the placement.
    #[serde(default)]
    pub events: Vec<OrderEvent>,
    /// What checkout priced, frozen: the cost, each line's, the discounts,
    /// the delivery and the usage taken. Orders placed before pricing read
    /// as their subtotal with nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<OrderCost>,
}

/// A shipment's tracking.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    /// The carrier's number.
    pub number: Option<String>,
    /// Where to follow it.
    pub url: Option<String>,
}

impl Order {
    /// What checkout priced; for an order placed before pricing, its
    /// subtotal with no discount, shipping or tax.
    pub fn cost(&self) -> OrderCost {
        if let Some(pricing) = &self.pricing {
            return pricing.clone();
        }
        let zero = Money::ZERO;
        OrderCost {
            cost: CartCost {
                subtotal: self.subtotal,
                discount_total: zero,
                shipping: None,
                shipping_discount: zero,
                tax_total: zero,
                shipping_tax: zero,
                taxes_included: false,
                total: self.total,
                tax_lines: Vec::new(),
                estimated: false,
            },
            lines: self
                .lines
                .iter()
                .map(|line| LineCost {
                    unit_price: line.unit_price,
                    subtotal: line.line_total,
                    discount_allocations: Vec::new(),
                    discount_total: zero,
                    total: line.line_total,
                    tax_total: zero,
                })
                .collect(),
            applications: Vec::new(),
            delivery: None,
            usage: Vec::new(),
        }
    }

    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.events.last().map_or(self.created_at, |e| e.at)
    }

    /// The history, with a placement event for orders stored before orders had one.
    pub fn history(&self) -> Vec<OrderEvent> {
        if self.events.is_empty() {
            return vec![OrderEvent {
                status: OrderStatus::Placed,
                at: self.created_at,
                by: String::new(),
                note: None,
            }];
        }
        self.events.clone()
    }
}

/// What the buyer told the shop with the cart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckoutDetails {
    /// The note.
    pub note: Option<String>,
    /// The cart attributes.
    pub attributes: Vec<Attribute>,
    /// Who buys.
    pub buyer_identity: BuyerIdentity,
    /// The discount codes to apply (checked: at most five, distinct).
    pub discount_codes: Vec<String>,
    /// The delivery option chosen (a shipping rate's handle).
    pub delivery_option: Option<String>,
}

impl CheckoutDetails {
    /// The details of a stored cart; `default_email` (the customer's own)
    /// stands in when the cart names none.
    pub fn of_cart(cart: &Cart, default_email: Option<&Email>) -> CheckoutDetails {
        let mut buyer_identity = cart.buyer_identity.clone();
        if buyer_identity.email.is_none() {
            buyer_identity.email = default_email.cloned();
        }
        CheckoutDetails {
            note: cart.note.clone(),
            attributes: cart.attributes.clone(),
            buyer_identity,
            discount_codes: cart.discount_codes.clone(),
            delivery_option: cart.delivery_option.clone(),
        }
    }
}

/// What checkout writes: the order, the products whose stock it took and
/// the discount usage it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The new order.
    pub order: Order,
    /// Products with decremented stock (only tracked ones).
    pub stock_taken: Vec<Variant>,
    /// Discount usage records ([`USAGE_KIND`](crate::domain::pricing::USAGE_KIND))
    /// and their new counts.
    pub usage_taken: Vec<(String, u64)>,
}

/// Everything checkout decides with besides the lines.
#[derive(Clone, Debug)]
pub struct PlaceOrder<'a> {
    /// The new order's id.
    pub id: String,
    /// The note, attributes and buyer.
    pub details: CheckoutDetails,
    /// Whether the buyer must have given an e-mail.
    pub email_required: bool,
    /// Who places it (an owner key), for the history.
    pub by: &'a str,
    /// Now.
    pub now: DateTime<Utc>,
    /// The cart it comes from, for `checkout`.
    pub source_cart: Option<(CartName, u64)>,
    /// The most bytes the order may take as stored (`--max-order-bytes`).
    pub max_bytes: usize,
    /// What checkout priced (its total is the order's); `None`: the subtotal.
    pub pricing: Option<OrderCost>,
}

/// Checks every line (the product exists, is active and has the stock — a
/// SKU on several lines needs the sum) and builds the order with prices from
/// the catalog. All failing lines are reported, each naming its SKU (and,
/// for a stored cart, its line); nothing
/// is decided on partial data.
pub fn place_order(
    lines: &[CartLine],
    catalog: &HashMap<Sku, Variant>,
    place: PlaceOrder<'_>,
) -> Result<Placement, Rejection> {
    if lines.is_empty() {
        return Err(Rejection::one(UserError::new(
            ErrorCode::CartEmpty,
            &["lines"],
            "there is nothing to check out",
        )));
    }
    let mut errors = Vec::new();
    if place.email_required && place.details.buyer_identity.email.is_none() {
        errors.push(UserError::new(
            ErrorCode::EmailRequired,
            &["buyerIdentity", "email"],
            "give the buyer's e-mail (updateCartBuyerIdentity) before checkout: the order confirmation goes there",
        ));
    }
    let mut wanted: HashMap<&Sku, i64> = HashMap::new();
    for line in lines {
        *wanted.entry(&line.sku).or_default() += i64::from(line.quantity);
    }
    let mut order_lines = Vec::with_capacity(lines.len());
    let mut stock_taken: Vec<Variant> = Vec::new();
    let mut subtotal = Money::ZERO;
    for (index, line) in lines.iter().enumerate() {
        let at = |code, field: &str, message: String| {
            UserError::at(code, "lines", index, field, message).on_line(&line.id)
        };
        let Some(product) = catalog.get(&line.sku) else {
            errors.push(at(
                ErrorCode::UnknownSku,
                "sku",
                format!("no product has SKU {}", line.sku),
            ));
            continue;
        };
        if !product.for_sale() {
            errors.push(at(
                ErrorCode::ProductInactive,
                "sku",
                format!("{} is no longer for sale", line.sku),
            ));
            continue;
        }
        if let Some(stock) = product.stock {
            let total = wanted[&line.sku];
            if stock < total {
                let message = if total == i64::from(line.quantity) {
                    format!("{}: {stock} available, {total} wanted", line.sku)
                } else {
                    format!(
                        "{}: {stock} available, {total} wanted over several lines",
                        line.sku
                    )
                };
                errors.push(at(shortage(stock), "quantity", message));
                continue;
            }
            if !stock_taken.iter().any(|p| p.sku == line.sku) {
                stock_taken.push(Variant {
                    stock: Some(stock - total),
                    ..product.clone()
                });
            }
        }
        let Some(line_total) = product.price.checked_mul(line.quantity) else {
            errors.push(at(
                ErrorCode::InvalidQuantity,
                "quantity",
                "the line total is too large".into(),
            ));
            continue;
        };
        match subtotal.checked_add(line_total) {
            Some(sum) => subtotal = sum,
            None => errors.push(at(
                ErrorCode::InvalidQuantity,
                "quantity",
                "the order total is too large".into(),
            )),
        }
        order_lines.push(OrderLine {
            sku: line.sku.clone(),
            title: product.title.clone(),
            quantity: line.quantity,
            unit_price: product.price,
            line_total,
            attributes: line.attributes.clone(),
            product_title: product.product_title.clone(),
            selected_options: product.selected_options.clone(),
            stock_taken: product.stock.is_some(),
        });
    }
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    let field = if place.source_cart.is_some() {
        "cart"
    } else {
        "lines"
    };
    let max_bytes = place.max_bytes;
    let total = place.pricing.as_ref().map_or(subtotal, |p| p.cost.total);
    let order = Order {
        id: place.id,
        status: OrderStatus::Placed,
        lines: order_lines,
        subtotal,
        total,
        created_at: place.now,
        source_cart: place.source_cart,
        note: place.details.note,
        attributes: place.details.attributes,
        buyer_identity: place.details.buyer_identity,
        payment_reference: None,
        tracking: None,
        cancel_reason: None,
        restocked: false,
        events: vec![OrderEvent {
            status: OrderStatus::Placed,
            at: place.now,
            by: place.by.to_string(),
            note: None,
        }],
        pricing: place.pricing,
    };
    let bytes = crate::domain::size::stored_bytes(&order);
    if bytes > max_bytes {
        return Err(Rejection::one(UserError::new(
            ErrorCode::CartLimitExceeded,
            &[field],
            format!(
                "an order may take at most {} (--max-order-bytes, counted in UTF-8 bytes as stored); this one would take {}: remove lines or shorten their attributes",
                crate::domain::size::describe(max_bytes),
                crate::domain::size::describe(bytes)
            ),
        )));
    }
    Ok(Placement {
        order,
        stock_taken,
        usage_taken: Vec::new(),
    })
}

/// Which orders an admin lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only in this status.
    pub status: Option<OrderStatus>,
    /// Only placed at or after this time.
    pub placed_after: Option<DateTime<Utc>>,
    /// Only placed before this time.
    pub placed_before: Option<DateTime<Utc>>,
    /// Only with this buyer e-mail.
    pub email: Option<Email>,
}

/// The ids an admin listing may find: at least `lower`, below `upper` (if
/// any); `None` when no id can match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdRange {
    /// The smallest id that may match ("" for any).
    pub lower: String,
    /// Ids must be below this one.
    pub upper: Option<String>,
}

impl OrderFilter {
    /// The ids to scan below the cursor `before`: order ids are ULIDs, which
    /// start with their time, so the placed-at range bounds them.
    pub fn id_range(&self, before: Option<&str>) -> Option<IdRange> {
        let time_id = |t: DateTime<Utc>| {
            let ms = u64::try_from(t.timestamp_millis()).unwrap_or(0);
            ulid::Ulid::from_parts(ms.min((1 << 48) - 1), 0).to_string()
        };
        let mut upper = before.map(str::to_string);
        if let Some(t) = self.placed_before {
            let bound = time_id(t);
            upper = Some(upper.map_or(bound.clone(), |u| u.min(bound)));
        }
        let lower = self.placed_after.map(time_id).unwrap_or_default();
        if upper.as_ref().is_some_and(|u| lower >= *u) {
            return None;
        }
        Some(IdRange { lower, upper })
    }

    /// Whether `order` is one of them.
    pub fn matches(&self, order: &Order) -> bool {
        self.status.is_none_or(|s| s == order.status)
            && self.placed_after.is_none_or(|t| order.created_at >= t)
            && self.placed_before.is_none_or(|t| order.created_at < t)
            && self
                .email
                .as_ref()
                .is_none_or(|e| order.buyer_identity.email.as_ref() == Some(e))
    }
}

/// A move an admin asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderMove {
    /// Record the payment.
    MarkPaid {
        /// The payment provider's reference.
        payment_reference: Option<String>,
    },
    /// Record the shipment.
    MarkFulfilled {
        /// Tracking.
        tracking: Tracking,
    },
    /// Call the order off.
    Cancel {
        /// Why.
        reason: Option<String>,
        /// Whether to return the units to tracked stock.
        restock: bool,
    },
}

/// The longest payment reference, tracking number or cancel reason, in
/// UTF-8 bytes (500 characters of any script).
pub const MAX_MOVE_TEXT_BYTES: usize = 2000;
/// The longest tracking URL, in bytes.
pub const MAX_TRACKING_URL_BYTES: usize = 2000;

impl OrderMove {
    /// Records a payment; the reference is trimmed (blank is none) and
    /// checked.
    pub fn mark_paid(reference: Option<&str>) -> Result<OrderMove, Rejection> {
        let payment_reference = move_text(reference, "paymentReference", MAX_MOVE_TEXT_BYTES)?;
        Ok(OrderMove::MarkPaid { payment_reference })
    }

    /// Records a shipment; a tracking URL is `https://` or `http://`. Both
    /// fields are checked, and both refusals are reported.
    pub fn mark_fulfilled(number: Option<&str>, url: Option<&str>) -> Result<OrderMove, Rejection> {
        let number = move_text(number, "trackingNumber", MAX_MOVE_TEXT_BYTES);
        let url = move_text(url, "trackingUrl", MAX_TRACKING_URL_BYTES).and_then(|url| match url {
            Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                Err(invalid_move(
                    "trackingUrl",
                    "a tracking URL starts with https:// or http://",
                ))
            }
            other => Ok(other),
        });
        match (number, url) {
            (Ok(number), Ok(url)) => Ok(OrderMove::MarkFulfilled {
                tracking: Tracking { number, url },
            }),
            (Err(a), Err(b)) => Err(Rejection::Invalid(
                a.into_user_errors()
                    .into_iter()
                    .chain(b.into_user_errors())
                    .collect(),
            )),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// Calls the order off, returning its units to tracked stock or not.
    pub fn cancel(reason: Option<&str>, restock: bool) -> Result<OrderMove, Rejection> {
        let reason = move_text(reason, "reason", MAX_MOVE_TEXT_BYTES)?;
        Ok(OrderMove::Cancel { reason, restock })
    }

    /// The status it leads to.
    pub fn target(&self) -> OrderStatus {
        match self {
            OrderMove::MarkPaid { .. } => OrderStatus::Paid,
            OrderMove::MarkFulfilled { .. } => OrderStatus::Fulfilled,
            OrderMove::Cancel { .. } => OrderStatus::Cancelled,
        }
    }
}

fn invalid_move(field: &str, message: &str) -> Rejection {
    Rejection::one(UserError::new(
        ErrorCode::InvalidOrderInput,
        &[field],
        message,
    ))
}

/// Trims optional text and checks its length and characters; blank is none.
fn move_text(text: Option<&str>, field: &str, max: usize) -> Result<Option<String>, Rejection> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.len() > max || text.chars().any(char::is_control) {
        return Err(invalid_move(
            field,
            &format!("at most {max} bytes (UTF-8), no control characters"),
        ));
    }
    Ok(Some(text.to_string()))
}

/// What a move does to an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Moved {
    /// The order already made this move: nothing changes.
    Already,
    /// The order as it is now, and the units to return to stock by SKU
    /// (only when a cancel restocks).
    Changed(Box<Order>, Vec<(Sku, u32)>),
}

impl Moved {
    /// The SKUs this move returns units to: read them (locked, or in the
    /// move's transaction) for [`Moved::restocked`].
    pub fn restock_skus(&self) -> impl Iterator<Item = &Sku> {
        let restock = match self {
            Moved::Changed(_, restock) => restock.as_slice(),
            Moved::Already => &[],
        };
        restock.iter().map(|(sku, _)| sku)
    }

    /// The discount usage records this move gives back (one use each): a
    /// cancel's, of the usage its order took at checkout.
    pub fn usage_returned(&self) -> &[String] {
        match self {
            Moved::Changed(order, _) if order.status == OrderStatus::Cancelled => order
                .pricing
                .as_ref()
                .map_or(&[][..], |pricing| pricing.usage.as_slice()),
            _ => &[],
        }
    }

    /// The variants to write once this move returns its units: each
    /// tracked variant of `catalog` (as the move's transaction read it) with
    /// its units back, bounded by [`MAX_STOCK`](super::catalog::MAX_STOCK).
    /// Untracked and unknown SKUs have nothing to write.
    pub fn restocked(&self, catalog: &HashMap<Sku, Variant>) -> Vec<Variant> {
        let Moved::Changed(_, restock) = self else {
            return Vec::new();
        };
        restock
            .iter()
            .filter_map(|(sku, units)| restocked(catalog.get(sku)?, *units))
            .collect()
    }
}

/// Applies `action` to `order` by `by` at `now`: the moves allowed are
/// placed → paid → fulfilled, placed → cancelled and paid → cancelled;
/// repeating the move the order already made is a no-op; any other is
/// `INVALID_ORDER_TRANSITION`.
pub fn move_order(
    order: &Order,
    action: &OrderMove,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Moved, Rejection> {
    let to = action.target();
    if order.status == to {
        return Ok(Moved::Already);
    }
    if !order.status.allows(to) {
        return Err(Rejection::one(UserError::new(
            ErrorCode::InvalidOrderTransition,
            &["orderId"],
            format!(
                "order {} is {}; it cannot become {}",
                order.id,
                order.status.as_str(),
                to.as_str()
            ),
        )));
    }
    let mut next = order.clone();
    if next.events.is_empty() {
        next.events = order.history();
    }
    let mut restock = Vec::new();
    let note = match action {
        OrderMove::MarkPaid { payment_reference } => {
            next.payment_reference = payment_reference.clone();
            payment_reference.clone()
        }
        OrderMove::MarkFulfilled { tracking } => {
            next.tracking = Some(tracking.clone());
            tracking.number.clone().or_else(|| tracking.url.clone())
        }
        OrderMove::Cancel {
            reason,
            restock: give_back,
        } => {
            next.cancel_reason = reason.clone();
            if *give_back {
                next.restocked = true;
                for line in order.lines.iter().filter(|l| l.stock_taken) {
                    match restock.iter_mut().find(|(sku, _)| sku == &line.sku) {
                        Some((_, quantity)) => *quantity += line.quantity,
                        None => restock.push((line.sku.clone(), line.quantity)),
                    }
                }
            }
            reason.clone()
        }
    };
    next.status = to;
    next.events.push(OrderEvent {
        status: to,
        // Never before the move it follows (a request's `now` is taken
        // when it starts; a later one may commit first): the history, and
        // the time in its webhook event's id, go forward with the order.
        at: now.max(order.updated_at()),
        by: by.to_string(),
        note,
    });
    Ok(Moved::Changed(Box::new(next), restock))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str, price: i64, stock: Option<i64>, active: bool) -> Variant {
        Variant::new(
            Sku::parse(sku).unwrap(),
            format!("{sku} title"),
            Money::from_minor(price),
            stock,
            active,
        )
    }

    fn catalog() -> HashMap<Sku, Variant> {
        [
            product("A", 250, Some(3), true),
            product("FREE", 100, None, true),
            product("OFF", 100, Some(9), false),
        ]
        .into_iter()
        .map(|p| (p.sku.clone(), p))
        .collect()
    }

    fn line(sku: &str, quantity: u32) -> CartLine {
        CartLine {
            id: format!("1-{sku}"),
            sku: Sku::parse(sku).unwrap(),
            quantity,
            attributes: Vec::new(),
            unit_price: None,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    fn place(lines: &[CartLine], email_required: bool) -> Result<Placement, Rejection> {
        place_within(lines, email_required, 128 << 10)
    }

    fn place_within(
        lines: &[CartLine],
        email_required: bool,
        max_bytes: usize,
    ) -> Result<Placement, Rejection> {
        place_order(
            lines,
            &catalog(),
            PlaceOrder {
                id: "o1".into(),
                details: CheckoutDetails::default(),
                email_required,
                by: "guest:g",
                now: now(),
                source_cart: None,
                max_bytes,
                pricing: None,
            },
        )
    }

    #[test]
    fn an_order_over_its_byte_budget_is_refused_naming_the_limit() {
        let mut big = line("A", 1);
        big.attributes = (0..10)
            .map(|i| crate::domain::attributes::Attribute {
                key: format!("k{i}"),
                value: "𝄞".repeat(64),
            })
            .collect();
        let lines = [big];
        let size = crate::domain::size::stored_bytes(&place(&lines, false).unwrap().order);
        assert!(size > 2560, "{size}");
        assert!(place_within(&lines, false, size).is_ok());
        let refused = place_within(&lines, false, size - 1).unwrap_err();
        let errors = refused.into_user_errors();
        assert_eq!(errors[0].code, ErrorCode::CartLimitExceeded);
        assert_eq!(errors[0].field, ["lines"]);
        assert!(
            errors[0].message.contains("--max-order-bytes"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn an_order_snapshots_prices_and_takes_tracked_stock_only() {
        let placement = place(&[line("A", 2), line("FREE", 5)], false).unwrap();
        assert_eq!(placement.order.subtotal, Money::from_minor(1000));
        assert_eq!(placement.order.total, placement.order.subtotal);
        assert_eq!(placement.order.lines[0].title, "A title");
        assert_eq!(placement.stock_taken.len(), 1);
        assert_eq!(placement.stock_taken[0].stock, Some(1));
        assert_eq!(placement.order.events.len(), 1);
        assert_eq!(placement.order.events[0].by, "guest:g");
    }

    #[test]
    fn a_sku_on_several_lines_needs_the_sum_in_stock() {
        let mut engraved = line("A", 2);
        engraved.id = "1-1".into();
        engraved.attributes = vec![Attribute {
            key: "engraving".into(),
            value: "x".into(),
        }];
        let errors = place(&[line("A", 2), engraved.clone()], false)
            .unwrap_err()
            .into_user_errors();
        assert_eq!(errors[0].code, ErrorCode::InsufficientStock);
        assert_eq!(errors[0].line.as_deref(), Some("1-A"), "names its line");
        assert!(
            errors[0].message.contains("several lines"),
            "{}",
            errors[0].message
        );
        let mut one = engraved;
        one.quantity = 1;
        let placement = place(&[line("A", 2), one], false).unwrap();
        assert_eq!(placement.stock_taken.len(), 1);
        assert_eq!(placement.stock_taken[0].stock, Some(0));
        assert_eq!(placement.order.lines[1].attributes[0].value, "x");
    }

    #[test]
    fn every_line_that_cannot_be_bought_is_named() {
        let lines = [
            line("A", 4),
            line("OFF", 1),
            line("GONE", 1),
            line("FREE", 1),
        ];
        let errors = place(&lines, false).unwrap_err().into_user_errors();
        let got: Vec<_> = errors.iter().map(|e| (e.code, e.field.join("."))).collect();
        assert_eq!(
            got,
            [
                (ErrorCode::InsufficientStock, "lines.0.quantity".to_string()),
                (ErrorCode::ProductInactive, "lines.1.sku".to_string()),
                (ErrorCode::UnknownSku, "lines.2.sku".to_string()),
            ]
        );
        assert!(
            errors[0].message.contains("3 available"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn an_empty_cart_cannot_be_checked_out_and_an_email_may_be_required() {
        let errors = place(&[], false).unwrap_err().into_user_errors();
        assert_eq!(errors[0].code, ErrorCode::CartEmpty);
        let errors = place(&[line("FREE", 1)], true)
            .unwrap_err()
            .into_user_errors();
        assert_eq!(errors[0].code, ErrorCode::EmailRequired);
        assert_eq!(errors[0].field, ["buyerIdentity", "email"]);
    }

    #[test]
    fn exactly_the_last_units_can_be_bought() {
        let placement = place(&[line("A", 3)], false).unwrap();
        assert_eq!(placement.stock_taken[0].stock, Some(0));
    }

    fn placed() -> Order {
        place(&[line("A", 2), line("FREE", 1)], false)
            .unwrap()
            .order
    }

    fn moved(order: &Order, action: OrderMove) -> Result<Moved, Rejection> {
        move_order(order, &action, "admin", now())
    }

    fn paid() -> OrderMove {
        OrderMove::MarkPaid {
            payment_reference: Some("pi_1".into()),
        }
    }

    fn fulfilled() -> OrderMove {
        OrderMove::MarkFulfilled {
            tracking: Tracking::default(),
        }
    }

    fn cancel(restock: bool) -> OrderMove {
        OrderMove::Cancel {
            reason: Some("asked".into()),
            restock,
        }
    }

    fn after(order: &Order, action: OrderMove) -> Order {
        match moved(order, action).unwrap() {
            Moved::Changed(order, _) => *order,
            Moved::Already => panic!("nothing changed"),
        }
    }

    #[test]
    fn orders_move_placed_paid_fulfilled_and_keep_their_history() {
        let order = after(&after(&placed(), paid()), fulfilled());
        assert_eq!(order.status, OrderStatus::Fulfilled);
        assert_eq!(order.payment_reference.as_deref(), Some("pi_1"));
        let statuses: Vec<_> = order.events.iter().map(|e| e.status).collect();
        assert_eq!(
            statuses,
            [
                OrderStatus::Placed,
                OrderStatus::Paid,
                OrderStatus::Fulfilled
            ]
        );
        assert_eq!(moved(&order, fulfilled()).unwrap(), Moved::Already);
    }

    #[test]
    fn a_move_that_started_before_the_last_one_committed_is_not_dated_before_it() {
        let started = now();
        let later = started + chrono::Duration::seconds(3);
        let paid_later = match move_order(&placed(), &paid(), "admin", later) {
            Ok(Moved::Changed(order, _)) => *order,
            other => panic!("{other:?}"),
        };
        // A cancel whose request began earlier, committed after the payment.
        let cancelled = match move_order(&paid_later, &cancel(false), "admin", started) {
            Ok(Moved::Changed(order, _)) => *order,
            other => panic!("{other:?}"),
        };
        let times: Vec<_> = cancelled.events.iter().map(|e| e.at).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert_eq!(cancelled.updated_at(), later);
    }

    #[test]
    fn every_other_move_is_refused() {
        let fulfilled_order = after(&after(&placed(), paid()), fulfilled());
        let cancelled = after(&placed(), cancel(false));
        for (order, action) in [
            (placed(), fulfilled()),
            (fulfilled_order.clone(), paid()),
            (fulfilled_order, cancel(true)),
            (cancelled.clone(), paid()),
            (cancelled, fulfilled()),
        ] {
            let errors = moved(&order, action).unwrap_err().into_user_errors();
            assert_eq!(errors[0].code, ErrorCode::InvalidOrderTransition);
        }
    }

    #[test]
    fn cancelling_returns_each_sku_once_and_only_when_asked() {
        let mut order = placed();
        order.lines.push(order.lines[0].clone());
        let Moved::Changed(cancelled, restock) = moved(&order, cancel(true)).unwrap() else {
            panic!("nothing changed");
        };
        assert!(cancelled.restocked);
        assert_eq!(
            restock,
            [(Sku::parse("A").unwrap(), 4)],
            "FREE was never taken from stock"
        );
        assert_eq!(moved(&cancelled, cancel(true)).unwrap(), Moved::Already);
        let Moved::Changed(kept, restock) =
            moved(&after(&placed(), paid()), cancel(false)).unwrap()
        else {
            panic!("nothing changed");
        };
        assert!(restock.is_empty() && !kept.restocked);
    }

    #[test]
    fn a_cancel_writes_back_tracked_stock_only_bounded_by_the_cap() {
        let mut order = placed();
        let mut gone = order.lines[0].clone();
        gone.sku = Sku::parse("GONE").unwrap();
        order.lines.push(gone);
        let cancelled = moved(&order, cancel(true)).unwrap();
        let skus: Vec<&str> = cancelled.restock_skus().map(Sku::as_str).collect();
        assert_eq!(skus, ["A", "GONE"]);
        let mut shelf = catalog();
        let written = cancelled.restocked(&shelf);
        assert_eq!(written.len(), 1, "GONE is not in the catalog any more");
        assert_eq!((written[0].sku.as_str(), written[0].stock), ("A", Some(5)));
        let max = super::super::catalog::MAX_STOCK;
        shelf.get_mut(&Sku::parse("A").unwrap()).unwrap().stock = Some(max - 1);
        assert_eq!(cancelled.restocked(&shelf)[0].stock, Some(max));
        let kept = moved(&placed(), cancel(false)).unwrap();
        assert!(kept.restocked(&shelf).is_empty());
        assert_eq!(Moved::Already.restock_skus().count(), 0);
    }

    #[test]
    fn orders_stored_before_events_read_with_their_placement() {
        let mut order = placed();
        order.events.clear();
        assert_eq!(order.history()[0].status, OrderStatus::Placed);
        let paid = after(&order, paid());
        assert_eq!(paid.events.len(), 2);
    }
}
