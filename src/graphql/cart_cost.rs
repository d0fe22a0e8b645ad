//! A cart's cost as the schema shows it: `Cart.cost`, `CartLine.cost`,
//! `Cart.discountCodes`, `Cart.deliveryOptions` and
//! `Cart.selectedDeliveryOption`, all from one quote per cart view, made at
//! the first ask (a read that asks for none of them prices nothing). The
//! same views show what `previewCheckout` quotes.

use super::error::ApiResult;
use super::types::{Decimal, MoneyView};
use crate::app::pricing::{CartToQuote, Quoted, quote_cart};
use crate::domain::pricing::{CartCost, DeliveryOption, DeliveryState, LineCost, Quote};
use crate::domain::{Currency, OwnerKey, ViewerKind};
use crate::services::Services;
use async_graphql::{ComplexObject, Context, Enum, SimpleObject};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// What a cart costs, quoted once per cart view and shared with its lines.
pub struct CostCell {
    owner: OwnerKey,
    kind: ViewerKind,
    cart: CartToQuote,
    currency: Currency,
    once: OnceCell<Quoted>,
}

impl CostCell {
    /// The cell of a cart of `owner` (a viewer of `kind`).
    pub fn new(
        owner: OwnerKey,
        kind: ViewerKind,
        cart: CartToQuote,
        currency: Currency,
    ) -> Arc<CostCell> {
        Arc::new(CostCell {
            owner,
            kind,
            cart,
            currency,
            once: OnceCell::new(),
        })
    }

    /// The cell of a cart already quoted (`previewCheckout`).
    pub fn quoted(
        owner: OwnerKey,
        kind: ViewerKind,
        cart: CartToQuote,
        currency: Currency,
        quoted: Quoted,
    ) -> Arc<CostCell> {
        Arc::new(CostCell {
            owner,
            kind,
            cart,
            currency,
            once: OnceCell::new_with(Some(quoted)),
        })
    }

    /// The quote, made at the first ask.
    pub async fn get(&self, ctx: &Context<'_>) -> ApiResult<&Quoted> {
        Ok(self
            .once
            .get_or_try_init(|| quote_cart(Services::of(ctx), &self.owner, self.kind, &self.cart))
            .await?)
    }

    /// The cart's cost for output.
    pub async fn cart_cost(&self, ctx: &Context<'_>) -> ApiResult<CartCostView> {
        let quoted = self.get(ctx).await?;
        Ok(CartCostView::new(
            &quoted.quote.breakdown.cost,
            self.currency,
        ))
    }

    /// Line `index`'s cost for output.
    pub async fn line_cost(&self, ctx: &Context<'_>, index: usize) -> ApiResult<CartLineCostView> {
        let quoted = self.get(ctx).await?;
        match quoted.quote.breakdown.lines.get(index) {
            Some(line) => Ok(CartLineCostView::new(line, self.currency)),
            None => {
                Err(crate::app::AppError::Broken(format!("the cost has no line {index}")).into())
            }
        }
    }

    /// What became of each code the cart holds.
    pub async fn discount_codes(&self, ctx: &Context<'_>) -> ApiResult<Vec<CartDiscountCodeView>> {
        let quoted = self.get(ctx).await?;
        Ok(CartDiscountCodeView::list(&quoted.quote))
    }

    /// The delivery options serving the cart, cheapest first.
    pub async fn delivery_options(
        self: &Arc<Self>,
        ctx: &Context<'_>,
    ) -> ApiResult<Vec<DeliveryOptionView>> {
        let quoted = self.get(ctx).await?;
        Ok(quoted
            .quote
            .options
            .iter()
            .map(|option| DeliveryOptionView::new(option, self.currency, Some(self.clone())))
            .collect())
    }

    /// The delivery option chosen, while it serves the cart.
    pub async fn selected_delivery_option(
        self: &Arc<Self>,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<DeliveryOptionView>> {
        let quoted = self.get(ctx).await?;
        Ok(match &quoted.quote.delivery {
            DeliveryState::Chosen(option) => Some(DeliveryOptionView::new(
                option,
                self.currency,
                Some(self.clone()),
            )),
            _ => None,
        })
    }

    /// What option `handle` costs this cart after shipping discounts.
    async fn discounted(&self, ctx: &Context<'_>, option: &DeliveryOption) -> ApiResult<MoneyView> {
        let quoted = self.get(ctx).await?;
        let chosen = match &quoted.quote.delivery {
            DeliveryState::Chosen(chosen) if chosen.handle == option.handle => {
                quoted.quote.breakdown.cost.clone()
            }
            _ => {
                quoted
                    .with_delivery(&self.cart, &option.handle)?
                    .breakdown
                    .cost
            }
        };
        let shipping = chosen.shipping.unwrap_or(option.price);
        let left = shipping.minor() - chosen.shipping_discount.minor();
        Ok(MoneyView::new(
            crate::domain::Money::from_minor(left),
            &self.currency,
        ))
    }
}

/// What became of a code the cart holds.
#[derive(SimpleObject)]
#[graphql(name = "CartDiscountCode")]
pub struct CartDiscountCodeView {
    /// The code as the buyer entered it.
    pub code: String,
    /// Whether it applies to the cart now.
    pub applicable: bool,
    /// Why not; `null` when it applies.
    pub reason: Option<DiscountRejectionCode>,
}

impl CartDiscountCodeView {
    /// Every code of a quote.
    pub fn list(quote: &Quote) -> Vec<CartDiscountCodeView> {
        quote
            .breakdown
            .codes
            .iter()
            .map(|outcome| CartDiscountCodeView {
                code: outcome.code.clone(),
                applicable: outcome.applicable(),
                reason: outcome.rejection.map(Into::into),
            })
            .collect()
    }
}

/// Why a code does not apply, checked in this order (the first reason found
/// is the one given).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(
    name = "DiscountRejection",
    remote = "crate::domain::pricing::DiscountRejection",
    rename_items = "SCREAMING_SNAKE_CASE"
)]
pub enum DiscountRejectionCode {
    /// No active discount has this code.
    NotFound,
    /// Before its `startsAt`.
    NotStarted,
    /// At or after its `endsAt`.
    Expired,
    /// Its usage limit is used up.
    UsageLimitReached,
    /// This buyer has used it as often as one customer may.
    CustomerUsageLimitReached,
    /// Only for signed-in customers.
    CustomersOnly,
    /// The entitled lines' subtotal (before discounts) is below its minimum.
    MinimumSubtotalNotMet,
    /// The entitled lines' units are below its minimum.
    MinimumQuantityNotMet,
    /// Nothing in the cart it applies to (or, for shipping, nothing shipped).
    NoEntitledLines,
    /// It applies, but not together with discounts that save more.
    NotCombinable,
}

/// A way to ship the cart: a shipping rate that serves its destination,
/// subtotal and weight.
#[derive(SimpleObject)]
#[graphql(name = "DeliveryOption", complex)]
pub struct DeliveryOptionView {
    /// The rate's handle: pass it to `updateCartDeliveryOption`.
    pub handle: String,
    /// Its title.
    pub title: String,
    /// Its price for this cart, before shipping discounts.
    pub price: MoneyView,
    #[graphql(skip)]
    option: DeliveryOption,
    #[graphql(skip)]
    cell: Option<Arc<CostCell>>,
}

impl DeliveryOptionView {
    /// An option of a cart (`cell`: its quote, for `discountedPrice`).
    pub fn new(
        option: &DeliveryOption,
        currency: Currency,
        cell: Option<Arc<CostCell>>,
    ) -> DeliveryOptionView {
        DeliveryOptionView {
            handle: option.handle.clone(),
            title: option.title.clone(),
            price: MoneyView::new(option.price, &currency),
            option: option.clone(),
            cell,
        }
    }
}

#[ComplexObject]
impl DeliveryOptionView {
    /// Its price after the cart's shipping discounts, were it chosen.
    #[graphql(complexity = "super::complexity::RECORD_READ + child_complexity")]
    async fn discounted_price(&self, ctx: &Context<'_>) -> ApiResult<MoneyView> {
        match &self.cell {
            Some(cell) => cell.discounted(ctx, &self.option).await,
            None => Ok(self.price),
        }
    }
}

/// What the buyer pays for a cart. `total = subtotal − discountTotal +
/// (shipping − shippingDiscount) + (taxesIncluded ? 0 : taxTotal)`, exactly.
#[derive(SimpleObject)]
#[graphql(name = "CartCost")]
pub struct CartCostView {
    /// Σ unit price × quantity.
    pub subtotal: MoneyView,
    /// What discounts take off the lines.
    pub discount_total: MoneyView,
    /// The chosen delivery's price; `null` until one is chosen, or when
    /// nothing is shipped.
    pub shipping: Option<MoneyView>,
    /// What discounts take off shipping (never more than shipping).
    pub shipping_discount: MoneyView,
    /// Tax, shipping's included.
    pub tax_total: MoneyView,
    /// Whether prices include tax (then `taxTotal` is inside `total`).
    pub taxes_included: bool,
    /// What the buyer pays.
    pub total: MoneyView,
    /// Tax by rate.
    pub tax_lines: Vec<TaxLineView>,
    /// Whether the tax address or the delivery option is still unknown.
    pub estimated: bool,
}

/// Tax at one rate.
#[derive(SimpleObject)]
#[graphql(name = "TaxLine")]
pub struct TaxLineView {
    /// The rate's title.
    pub title: String,
    /// The rate in percent.
    pub rate_percent: Decimal,
    /// The tax.
    pub amount: MoneyView,
}

/// What one line costs. `total = subtotal − discountTotal`, on the price
/// basis (with tax when prices include it).
#[derive(SimpleObject)]
#[graphql(name = "CartLineCost")]
pub struct CartLineCostView {
    /// The unit price now.
    pub unit_price: MoneyView,
    /// Unit price × quantity.
    pub subtotal: MoneyView,
    /// What each discount took off this line.
    pub discount_allocations: Vec<DiscountAllocationView>,
    /// Σ `discountAllocations`.
    pub discount_total: MoneyView,
    /// What is left of the line.
    pub total: MoneyView,
    /// The line's tax.
    pub tax_total: MoneyView,
}

/// One discount's part of a line.
#[derive(SimpleObject)]
#[graphql(name = "DiscountAllocation")]
pub struct DiscountAllocationView {
    /// The code that applied it; `null` for an automatic discount.
    pub code: Option<String>,
    /// The discount's title.
    pub title: String,
    /// The amount.
    pub amount: MoneyView,
}

impl CartCostView {
    /// A cost for output.
    pub fn new(cost: &CartCost, currency: Currency) -> CartCostView {
        let money = |m| MoneyView::new(m, &currency);
        CartCostView {
            subtotal: money(cost.subtotal),
            discount_total: money(cost.discount_total),
            shipping: cost.shipping.map(money),
            shipping_discount: money(cost.shipping_discount),
            tax_total: money(cost.tax_total),
            taxes_included: cost.taxes_included,
            total: money(cost.total),
            tax_lines: cost
                .tax_lines
                .iter()
                .map(|t| TaxLineView {
                    title: t.title.clone(),
                    rate_percent: Decimal(t.rate.to_string()),
                    amount: money(t.amount),
                })
                .collect(),
            estimated: cost.estimated,
        }
    }
}

impl CartLineCostView {
    /// A line's cost for output.
    pub fn new(line: &LineCost, currency: Currency) -> CartLineCostView {
        let money = |m| MoneyView::new(m, &currency);
        CartLineCostView {
            unit_price: money(line.unit_price),
            subtotal: money(line.subtotal),
            discount_allocations: line
                .discount_allocations
                .iter()
                .map(|a| DiscountAllocationView {
                    code: a.code.clone(),
                    title: a.title.clone(),
                    amount: money(a.amount),
                })
                .collect(),
            discount_total: money(line.discount_total),
            total: money(line.total),
            tax_total: money(line.tax_total),
        }
    }
}
