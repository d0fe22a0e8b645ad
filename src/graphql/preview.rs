//! `previewCheckout`: a cart the client keeps, priced exactly as
//! `checkoutLines` would price it, without buying anything.

use super::access::require_viewer;
use super::cart_cost::{
    CartCostView, CartDiscountCodeView, CartLineCostView, CostCell, DeliveryOptionView,
};
use super::error::ApiResult;
use super::inputs::{CartLineInput, line_inputs};
use super::types::{AttributeView, BuyerIdentityInput, UserErrorView, user_errors};
use crate::app::pricing::{PreviewInput, preview};
use crate::services::Services;
use async_graphql::{Context, InputObject, Object, SimpleObject};
use std::sync::Arc;

/// A cart the client keeps, as `checkoutLines` would take it.
#[derive(InputObject)]
pub struct PreviewCheckoutInput {
    /// The lines.
    pub lines: Vec<CartLineInput>,
    /// Discount codes (at most five).
    #[graphql(default)]
    pub discount_codes: Vec<String>,
    /// Who buys: the destination prices tax and shipping.
    pub buyer_identity: Option<BuyerIdentityInput>,
    /// The delivery option chosen (a handle from `deliveryOptions`).
    pub delivery_option: Option<String>,
}

/// A preview: what `checkoutLines` with the same input would charge now.
#[derive(SimpleObject)]
pub struct PreviewCheckoutPayload {
    /// The cost (`null` when the input was refused).
    pub cost: Option<CartCostView>,
    /// Each line with its cost, in input order.
    pub lines: Vec<PreviewLineView>,
    /// What became of each code.
    pub discount_codes: Vec<CartDiscountCodeView>,
    /// The shipping rates serving these lines and this destination.
    pub delivery_options: Vec<DeliveryOptionView>,
    /// The delivery option given, while it serves the lines.
    pub selected_delivery_option: Option<DeliveryOptionView>,
    /// What `checkoutLines` would refuse in the input itself (unknown SKUs,
    /// bad quantities, codes or buyer fields). Codes that do not apply are
    /// not errors here: `discountCodes` says why.
    pub user_errors: Vec<UserErrorView>,
}

/// One line of a preview.
#[derive(SimpleObject)]
#[graphql(name = "PreviewLine")]
pub struct PreviewLineView {
    /// The SKU.
    pub sku: String,
    /// Units.
    pub quantity: u32,
    /// Its attributes.
    pub attributes: Vec<AttributeView>,
    /// What it costs.
    pub cost: CartLineCostView,
}

/// The preview query.
#[derive(Default)]
pub struct PreviewQuery;

#[Object]
impl PreviewQuery {
    /// Prices a cart the client keeps exactly as `checkoutLines` would now
    /// (same rules, same clock, usage as committed): identical `cost`,
    /// line costs, codes and delivery options to a stored cart with the
    /// same contents. Needs a token (guest or customer: `customersOnly` and
    /// per-customer limits depend on it). Buys and writes nothing.
    #[graphql(complexity = "super::complexity::NODE_READ + child_complexity")]
    async fn preview_checkout(
        &self,
        ctx: &Context<'_>,
        input: PreviewCheckoutInput,
    ) -> ApiResult<PreviewCheckoutPayload> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        let given = PreviewInput {
            lines: line_inputs(&input.lines),
            discount_codes: input.discount_codes,
            buyer_identity: input
                .buyer_identity
                .as_ref()
                .map(BuyerIdentityInput::to_domain),
            delivery_option: input.delivery_option,
        };
        let preview = match preview(services, viewer, &given).await? {
            Ok(preview) => preview,
            Err(refused) => {
                return Ok(PreviewCheckoutPayload {
                    cost: None,
                    lines: Vec::new(),
                    discount_codes: Vec::new(),
                    delivery_options: Vec::new(),
                    selected_delivery_option: None,
                    user_errors: user_errors(refused.into_user_errors()),
                });
            }
        };
        let currency = services.shop.currency;
        let quote = preview.quoted.quote.clone();
        let cell: Arc<CostCell> = CostCell::quoted(
            viewer.owner_key(),
            viewer.kind,
            preview.cart,
            currency,
            preview.quoted,
        );
        let lines = preview
            .lines
            .iter()
            .zip(&quote.breakdown.lines)
            .map(|(line, cost)| PreviewLineView {
                sku: line.sku.to_string(),
                quantity: line.quantity,
                attributes: AttributeView::list(&line.attributes),
                cost: CartLineCostView::new(cost, currency),
            })
            .collect();
        Ok(PreviewCheckoutPayload {
            cost: Some(CartCostView::new(&quote.breakdown.cost, currency)),
            lines,
            discount_codes: CartDiscountCodeView::list(&quote),
            delivery_options: cell.delivery_options(ctx).await?,
            selected_delivery_option: cell.selected_delivery_option(ctx).await?,
            user_errors: Vec::new(),
        })
    }
}
