//! Carts: `cart`, `carts`, and the mutations that change them.
//!
//! Every mutation follows the same steps: who is asking (from the token),
//! which cart (a valid name), check the input lines against the catalog, then
//! one atomic store update that applies a [`CartChange`] and bumps the version.

use super::access::require_viewer;
use super::cart_view::CartView;
use super::error::{ApiError, ApiResult};
use super::ids::line_in_cart;
use super::inputs::{CartLineInput, as_given, line_inputs};
use super::types::{AttributeView, BuyerIdentityInput, UserErrorView, user_errors, user_errors_in};
use crate::app::carts::{self, CartEdit, LineUpdateInput};
use crate::app::{Caller, Once};
use crate::auth::ClientAddress;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey};
use crate::domain::{CartName, ErrorCode, Rejection, UserError as DomainError};
use crate::services::Services;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

/// Cart queries; they need a token.
#[derive(Default)]
pub struct CartQuery;

#[Object]
impl CartQuery {
    /// The viewer's cart called `name`; an empty cart (version 0) if none is stored.
    #[graphql(complexity = "super::complexity::NODE_READ + child_complexity")]
    async fn cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = "default")] name: String,
    ) -> ApiResult<CartView> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        let name = CartName::parse(&name).map_err(ApiError::BadUserInput)?;
        let shown = carts::show(services, viewer, &name).await?;
        Ok(CartView::new(services, viewer, shown))
    }

    /// All of the viewer's stored carts, by name.
    #[graphql(
        complexity = "super::complexity::list(super::complexity::CARTS, super::complexity::NODE_READ + child_complexity)"
    )]
    async fn carts(&self, ctx: &Context<'_>) -> ApiResult<Vec<CartView>> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        let shown = carts::show_all(services, viewer).await?;
        Ok(shown
            .into_iter()
            .map(|cart| CartView::new(services, viewer, cart))
            .collect())
    }
}

/// Adds units to a cart's lines.
#[derive(InputObject)]
pub struct AddCartLinesInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// Lines to add; quantities add to what is there.
    pub lines: Vec<CartLineInput>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
    /// Optional. A retry with the same key returns the first result instead of adding again.
    pub idempotency_key: Option<String>,
}

/// Changes lines by id: quantity (0 removes) and, if given, attributes.
#[derive(InputObject)]
pub struct UpdateCartLinesInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// The lines to change.
    pub lines: Vec<CartLineUpdateInput>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// One line's change.
#[derive(InputObject)]
pub struct CartLineUpdateInput {
    /// The line's id (`CartLine.id`; the id within the cart that older
    /// versions showed, such as `3-0`, is taken too).
    pub id: ID,
    /// Its new quantity; 0 removes the line.
    pub quantity: i32,
    /// Its new attributes (replacing the old ones); omit to keep them.
    pub attributes: Option<Vec<AttributeView>>,
}

/// Removes lines by id.
#[derive(InputObject)]
pub struct RemoveCartLinesInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// Ids of the lines to remove (`CartLine.id`, or the id within the cart
    /// older versions showed); ids not in the cart are ignored (removing
    /// twice is harmless).
    pub line_ids: Vec<ID>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// Sets or clears the buyer's note to the shop.
#[derive(InputObject)]
pub struct UpdateCartNoteInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// The note; `null` or blank removes it.
    pub note: Option<String>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// Replaces the cart's attributes.
#[derive(InputObject)]
pub struct UpdateCartAttributesInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// The whole set; `[]` removes them all.
    pub attributes: Vec<AttributeView>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// Replaces who buys.
#[derive(InputObject)]
pub struct UpdateCartBuyerIdentityInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// The whole identity: fields left out are cleared.
    pub buyer_identity: BuyerIdentityInput,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// Replaces the cart's discount codes.
#[derive(InputObject)]
pub struct UpdateCartDiscountCodesInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// The whole set (at most five; `[]` removes them all). Case does not
    /// matter; a repeat is dropped; an unknown code is kept and shown with
    /// `applicable: false`.
    pub codes: Vec<String>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// Chooses the delivery option.
#[derive(InputObject)]
pub struct UpdateCartDeliveryOptionInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// A handle from the cart's `deliveryOptions`; `null` forgets the choice.
    pub handle: Option<String>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// Removes every line.
#[derive(InputObject)]
pub struct ClearCartInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// Makes a cart hold exactly these lines (push a client-held cart).
#[derive(InputObject)]
pub struct ReplaceCartInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// The whole cart.
    pub lines: Vec<CartLineInput>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// The cart after a mutation.
#[derive(SimpleObject)]
pub struct CartPayload {
    /// The cart as stored now (also on `VERSION_CONFLICT`); `null` only for an invalid cart name.
    pub cart: Option<CartView>,
    /// Why the change was refused, if it was. Nothing is changed when this is not empty.
    pub user_errors: Vec<UserErrorView>,
}

/// The cart mutations; they need a token.
#[derive(Default)]
pub struct CartMutation;

#[Object]
impl CartMutation {
    /// Adds units: a SKU already in the cart gets the quantity added.
    async fn add_cart_lines(
        &self,
        ctx: &Context<'_>,
        input: AddCartLinesInput,
    ) -> ApiResult<CartPayload> {
        let edit = CartEdit::Add(line_inputs(&input.lines));
        let Some(key) = &input.idempotency_key else {
            return change_cart(ctx, &input.cart, input.expected_version, edit, None).await;
        };
        let key = match IdempotencyKey::parse(key, "idempotencyKey") {
            Ok(key) => key,
            Err(e) => return refused_before_name(ctx, &input.cart, Rejection::one(e)).await,
        };
        let fingerprint = Fingerprint::of(
            "addCartLines",
            &(
                input.cart.as_str(),
                as_given(&input.lines),
                input.expected_version,
            ),
        );
        let once = Some(Once { key, fingerprint });
        change_cart(ctx, &input.cart, input.expected_version, edit, once).await
    }

    /// Changes lines by id: a new quantity (0 removes the line) and, if
    /// given, new attributes. A line whose new attributes equal another
    /// line's of the same SKU joins that line.
    async fn update_cart_lines(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartLinesInput,
    ) -> ApiResult<CartPayload> {
        let viewer = require_viewer(ctx)?;
        let updates = input
            .lines
            .iter()
            .map(|l| LineUpdateInput {
                id: line_in_cart(viewer, &input.cart, &l.id),
                quantity: i64::from(l.quantity),
                attributes: l.attributes.as_deref().map(AttributeView::pairs),
            })
            .collect();
        let edit = CartEdit::Update(updates);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Removes lines by id.
    async fn remove_cart_lines(
        &self,
        ctx: &Context<'_>,
        input: RemoveCartLinesInput,
    ) -> ApiResult<CartPayload> {
        let viewer = require_viewer(ctx)?;
        let ids = input.line_ids.iter();
        let edit = CartEdit::Remove(
            ids.map(|id| line_in_cart(viewer, &input.cart, id))
                .collect(),
        );
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Sets the buyer's note to the shop (`null` removes it).
    async fn update_cart_note(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartNoteInput,
    ) -> ApiResult<CartPayload> {
        let edit = CartEdit::Note(input.note);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Replaces the cart's attributes.
    async fn update_cart_attributes(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartAttributesInput,
    ) -> ApiResult<CartPayload> {
        let edit = CartEdit::Attributes(AttributeView::pairs(&input.attributes));
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Replaces the buyer identity (e-mail, phone, country, shipping address),
    /// each field checked; errors name the field.
    async fn update_cart_buyer_identity(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartBuyerIdentityInput,
    ) -> ApiResult<CartPayload> {
        let edit = CartEdit::BuyerIdentity(Box::new(input.buyer_identity.to_domain()));
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Replaces the discount codes (at most five). Unknown, expired or
    /// used-up codes are kept and shown in `discountCodes` with the reason;
    /// checkout refuses while one does not apply.
    async fn update_cart_discount_codes(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartDiscountCodesInput,
    ) -> ApiResult<CartPayload> {
        let edit = CartEdit::DiscountCodes(input.codes);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Chooses the delivery option: one of the cart's `deliveryOptions` now
    /// (`DELIVERY_OPTION_UNAVAILABLE` otherwise); `null` forgets it.
    async fn update_cart_delivery_option(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartDeliveryOptionInput,
    ) -> ApiResult<CartPayload> {
        let edit = CartEdit::DeliveryOption(input.handle);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Removes every line. The cart keeps its name and version history.
    async fn clear_cart(&self, ctx: &Context<'_>, input: ClearCartInput) -> ApiResult<CartPayload> {
        change_cart(
            ctx,
            &input.cart,
            input.expected_version,
            CartEdit::Clear,
            None,
        )
        .await
    }

    /// Replaces the cart's lines with these (a repeated SKU adds up).
    async fn replace_cart(
        &self,
        ctx: &Context<'_>,
        input: ReplaceCartInput,
    ) -> ApiResult<CartPayload> {
        let edit = CartEdit::Replace(line_inputs(&input.lines));
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }
}

/// Parses the cart name and runs the edit ([`carts::edit`]).
async fn change_cart(
    ctx: &Context<'_>,
    cart: &str,
    expected: Option<u64>,
    edit: CartEdit,
    once: Option<Once>,
) -> ApiResult<CartPayload> {
    let services = Services::of(ctx);
    let viewer = require_viewer(ctx)?;
    let name = match CartName::parse(cart) {
        Ok(name) => name,
        Err(why) => return Ok(CartPayload::invalid_name(why)),
    };
    let caller = Caller {
        viewer,
        client: ctx.data_opt::<ClientAddress>(),
    };
    let edited = carts::edit(services, caller, &name, edit, expected, once).await?;
    let cart = CartView::new(services, viewer, edited.cart);
    let errors = edited.refused.map(Rejection::into_user_errors);
    Ok(CartPayload {
        user_errors: user_errors_in(errors.unwrap_or_default(), Some(cart.ids())),
        cart: Some(cart),
    })
}

/// A refusal found before the cart name was checked (a bad idempotency key):
/// the cart as it is, or the name's own refusal.
async fn refused_before_name(
    ctx: &Context<'_>,
    cart: &str,
    rejection: Rejection,
) -> ApiResult<CartPayload> {
    let services = Services::of(ctx);
    let viewer = require_viewer(ctx)?;
    let name = match CartName::parse(cart) {
        Ok(name) => name,
        Err(why) => return Ok(CartPayload::invalid_name(why)),
    };
    let shown = carts::show(services, viewer, &name).await?;
    Ok(CartPayload {
        cart: Some(CartView::new(services, viewer, shown)),
        user_errors: user_errors(rejection.into_user_errors()),
    })
}

impl CartPayload {
    /// `INVALID_CART_NAME`: there is no cart to show.
    pub fn invalid_name(why: String) -> CartPayload {
        CartPayload {
            cart: None,
            user_errors: user_errors(vec![DomainError::new(
                ErrorCode::InvalidCartName,
                &["cart"],
                why,
            )]),
        }
    }
}
