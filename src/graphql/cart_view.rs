//! The `Cart` and `CartLine` types: a stored cart priced from the catalog for
//! output, by resolvers and by subscriptions.

use super::cart_cost::{
    CartCostView, CartDiscountCodeView, CartLineCostView, CostCell, DeliveryOptionView,
};
use super::catalog::VariantView;
use super::error::ApiResult;
use super::ids::CartIds;
use super::types::MoneyView;
use super::types::{AttributeView, BuyerIdentityView};
use crate::app::carts::ShownCart;
use crate::app::pricing::CartToQuote;
use crate::auth::{Viewer, ViewerKind};
use crate::domain::account::Email;
use crate::domain::cart::Warning;
use crate::domain::pricing::QuoteLine;
use crate::domain::{Cart, Currency, OwnerKey};
use crate::services::Services;
use async_graphql::{ComplexObject, Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A cart with its lines priced from the catalog.
pub struct CartView {
    cart: Cart,
    lines: Vec<CartLineView>,
    total_quantity: u64,
    subtotal: MoneyView,
    expires_at: Option<DateTime<Utc>>,
    warnings: Vec<Warning>,
    default_email: Option<Email>,
    /// The global ids of the cart and its lines, made when asked for.
    ids: Arc<CartIds>,
    /// Its cost, computed when first asked for.
    cost: Arc<CostCell>,
}

#[Object(name = "Cart")]
impl CartView {
    /// Global id of this named cart of this viewer (`gid://cartql/Cart/…`),
    /// unique across the shop.
    pub(crate) async fn id(&self) -> ID {
        self.ids.cart()
    }
    /// The cart's name (`default` unless you chose another).
    async fn name(&self) -> &str {
        self.cart.name.as_str()
    }
    /// Bumped on every change; pass it as `expectedVersion` to avoid lost updates. 0 = never written.
    async fn version(&self) -> u64 {
        self.cart.version
    }
    /// Lines in the order they were first added.
    #[graphql(complexity = "super::complexity::list(super::complexity::LINES, child_complexity)")]
    async fn lines(&self) -> &[CartLineView] {
        &self.lines
    }
    /// Sum of all quantities.
    async fn total_quantity(&self) -> u64 {
        self.total_quantity
    }
    /// Sum of line totals at current prices.
    async fn subtotal(&self) -> &MoneyView {
        &self.subtotal
    }
    /// What the buyer pays: discounts, shipping and tax, exactly (see the
    /// README's "What the buyer pays" for the rules and rounding points).
    #[graphql(complexity = "2 * super::complexity::RECORD_READ + child_complexity")]
    async fn cost(&self, ctx: &Context<'_>) -> ApiResult<CartCostView> {
        self.cost.cart_cost(ctx).await
    }
    /// The discount codes the buyer entered, each with whether it applies
    /// now and, if not, why (`updateCartDiscountCodes` sets them).
    #[graphql(complexity = "2 * super::complexity::RECORD_READ + child_complexity")]
    async fn discount_codes(&self, ctx: &Context<'_>) -> ApiResult<Vec<CartDiscountCodeView>> {
        self.cost.discount_codes(ctx).await
    }
    /// The shipping rates serving this cart (its destination, subtotal
    /// before discounts and weight), cheapest first; empty when nothing is
    /// shipped.
    #[graphql(complexity = "2 * super::complexity::RECORD_READ + 20 * child_complexity")]
    async fn delivery_options(&self, ctx: &Context<'_>) -> ApiResult<Vec<DeliveryOptionView>> {
        self.cost.delivery_options(ctx).await
    }
    /// The delivery option chosen (`updateCartDeliveryOption`), while it
    /// serves the cart; `null` otherwise (checkout then refuses with
    /// `DELIVERY_OPTION_REQUIRED` or `DELIVERY_OPTION_UNAVAILABLE`).
    #[graphql(complexity = "2 * super::complexity::RECORD_READ + child_complexity")]
    async fn selected_delivery_option(
        &self,
        ctx: &Context<'_>,
    ) -> ApiResult<Option<DeliveryOptionView>> {
        self.cost.selected_delivery_option(ctx).await
    }
    /// When the cart was first written.
    async fn created_at(&self) -> DateTime<Utc> {
        self.cart.created_at
    }
    /// When it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.cart.updated_at
    }
    /// When the cart will be emptied if left alone; `null` while it holds nothing.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// The buyer's note to the shop.
    async fn note(&self) -> Option<&str> {
        self.cart.note.as_deref()
    }
    /// Attributes of the whole cart.
    async fn attributes(&self) -> Vec<AttributeView> {
        AttributeView::list(&self.cart.attributes)
    }
    /// Who buys. A customer's e-mail defaults to their account's (or their
    /// identity provider's `email` claim) until one is given.
    async fn buyer_identity(&self) -> BuyerIdentityView {
        let mut buyer = self.cart.buyer_identity.clone();
        if buyer.email.is_none() {
            buyer.email = self.default_email.clone();
        }
        BuyerIdentityView::new(&buyer)
    }
    /// What to know before checkout, computed on every read: lines out of
    /// stock, short of stock, no longer for sale, or at a new price.
    async fn warnings(&self) -> Vec<CartWarningView> {
        self.warnings
            .iter()
            .map(|w| CartWarningView {
                code: w.code.into(),
                line_id: self.line_id(&w.line_id),
                message: w.message.clone(),
            })
            .collect()
    }
}

/// Something about a line to know before checkout.
#[derive(SimpleObject)]
#[graphql(name = "CartWarning")]
pub struct CartWarningView {
    /// What kind.
    pub code: CartWarningCode,
    /// The line it is about.
    pub line_id: ID,
    /// In a sentence, with the numbers (how many are left, old and new price).
    pub message: String,
}

/// Kinds of cart warnings.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(
    remote = "crate::domain::cart::WarningCode",
    rename_items = "SCREAMING_SNAKE_CASE"
)]
pub enum CartWarningCode {
    /// None left: checkout would refuse the line.
    OutOfStock,
    /// Fewer left than the line wants: checkout would refuse the line.
    InsufficientStock,
    /// The variant is no longer for sale: checkout would refuse the line.
    NoLongerAvailable,
    /// The unit price differs from the one when the line was last added or updated.
    PriceChanged,
}

/// One line of a cart, priced.
#[derive(SimpleObject)]
#[graphql(name = "CartLine", complex)]
pub struct CartLineView {
    /// Global id of the line (`gid://cartql/CartLine/…`): unique across
    /// every cart of every viewer, stable for the life of the line, never reused.
    pub id: LineId,
    /// The variant's SKU.
    pub sku: String,
    /// The variant as it is now (its `product` has the product's title and options).
    pub variant: VariantView,
    /// Units.
    pub quantity: u32,
    /// Current unit price.
    pub unit_price: MoneyView,
    /// `unitPrice × quantity`.
    pub line_total: MoneyView,
    /// The line's attributes.
    pub attributes: Vec<AttributeView>,
    /// The cart's cost and this line's place in it.
    #[graphql(skip)]
    pub cost: (Arc<CostCell>, usize),
}

/// A line's global id, spelled out only if a query selects it (it takes
/// the owner's tag, a SHA-256, and a string of 80-odd bytes). Output as an
/// `ID`, as any other.
pub struct LineId {
    ids: Arc<CartIds>,
    /// The line's id within the cart.
    line: String,
}

/// As [`Node`](super::node::Node)'s `id` reads it.
impl std::fmt::Display for LineId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.ids.line(&self.line))
    }
}

impl async_graphql::OutputType for LineId {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <ID as async_graphql::OutputType>::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <ID as async_graphql::OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _ctx: &async_graphql::ContextSelectionSet<'_>,
        _field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        Ok(async_graphql::Value::String(self.ids.line(&self.line).0))
    }
}

#[ComplexObject]
impl CartLineView {
    /// What this line costs: its discounts, total and tax.
    #[graphql(complexity = "2 * super::complexity::RECORD_READ + child_complexity")]
    async fn cost(&self, ctx: &Context<'_>) -> ApiResult<CartLineCostView> {
        self.cost.0.line_cost(ctx, self.cost.1).await
    }
}

impl CartView {
    /// The global id of this cart's line `line` (its id within the cart).
    pub(crate) fn line_id(&self, line: &str) -> ID {
        self.ids.line(line)
    }

    /// The global ids of the cart and its lines.
    pub(crate) fn ids(&self) -> &CartIds {
        &self.ids
    }

    /// The line with this id within the cart, alone.
    pub(crate) fn into_line(self, line: &str) -> Option<CartLineView> {
        self.lines.into_iter().find(|l| l.id.line == line)
    }

    /// A cart a use case read and priced, for output.
    pub(crate) fn new(services: &Services, viewer: &Viewer, shown: ShownCart) -> CartView {
        let owner = viewer.owner_key();
        Self::of_owner(services, &owner, viewer.kind, viewer.email.clone(), shown)
    }

    /// A cart of `owner` (a viewer of `kind` whose e-mail is
    /// `default_email`), for output: a viewer's own, or an abandoned one in
    /// a webhook payload.
    pub(crate) fn of_owner(
        services: &Services,
        owner: &OwnerKey,
        kind: ViewerKind,
        default_email: Option<Email>,
        shown: ShownCart,
    ) -> CartView {
        let lifetime = services.shop.cart_lifetime(kind);
        let currency: Currency = services.shop.currency;
        let ShownCart { cart, priced } = shown;
        let held = cart.lines.iter().map(|l| l.id.clone()).collect();
        let ids = Arc::new(CartIds::new(owner, &cart.name, held));
        let mut buyer = cart.buyer_identity.clone();
        if buyer.email.is_none() {
            buyer.email = default_email.clone();
        }
        let to_quote = CartToQuote {
            lines: priced
                .lines
                .iter()
                .map(|p| QuoteLine::of(&p.product, p.line.quantity, p.unit_price))
                .collect(),
            codes: cart.discount_codes.clone(),
            delivery: cart.delivery_option.clone(),
            buyer,
        };
        let cost = CostCell::new(owner.clone(), kind, to_quote, currency);
        let lines = priced
            .lines
            .into_iter()
            .enumerate()
            .map(|(index, p)| CartLineView {
                id: LineId {
                    ids: ids.clone(),
                    line: p.line.id,
                },
                attributes: AttributeView::list(&p.line.attributes),
                sku: p.line.sku.to_string(),
                quantity: p.line.quantity,
                unit_price: MoneyView::new(p.unit_price, &currency),
                line_total: MoneyView::new(p.line_total, &currency),
                variant: VariantView {
                    product: p.product,
                    currency,
                    parent: None,
                },
                cost: (cost.clone(), index),
            })
            .collect();
        CartView {
            ids,
            cost,
            expires_at: (!cart.is_blank()).then(|| cart.expires_at(lifetime)),
            warnings: priced.warnings,
            default_email,
            cart,
            lines,
            total_quantity: priced.total_quantity,
            subtotal: MoneyView::new(priced.subtotal, &currency),
        }
    }
}
