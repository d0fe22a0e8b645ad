//! Carts: `cart`, `carts`, and the mutations that change them.
//!
//! Every mutation follows the same steps: who is asking (from the token),
//! which cart (a valid name), check the input lines against the catalog, then
//! one atomic store update that applies a [`CartChange`] and bumps the version.

use super::cart_view::CartView;
use super::error::{ApiError, ApiResult};
use super::inputs::{CartLineInput, as_given, checked_lines};
use super::types::{AttributeView, BuyerIdentityInput, UserErrorView, user_errors};
use super::{require_viewer, take_write};
use crate::auth::Viewer;
use crate::domain::attributes::{AttributeLimits, check_attributes, check_note};
use crate::domain::cart::LineUpdate;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, KeyUse, key_reused};
use crate::domain::{
    Cart, CartChange, CartIndex, CartName, ErrorCode, Limits, OwnerKey, Rejection, Sku,
    UserError as DomainError,
};
use crate::services::Services;
use crate::store::{Replayable, UpdateError};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

/// Cart queries; they need a token.
#[derive(Default)]
pub struct CartQuery;

#[Object]
impl CartQuery {
    /// The viewer's cart called `name`; an empty cart (version 0) if none is stored.
    async fn cart(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = "default")] name: String,
    ) -> ApiResult<CartView> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        let name = CartName::parse(&name).map_err(ApiError::BadUserInput)?;
        let stored = services.store.cart(&viewer.owner_key(), &name).await?;
        CartView::from_stored(services, viewer, stored, &name).await
    }

    /// All of the viewer's stored carts, by name.
    #[graphql(complexity = "super::complexity::list(super::complexity::CARTS, child_complexity)")]
    async fn carts(&self, ctx: &Context<'_>) -> ApiResult<Vec<CartView>> {
        let services = Services::of(ctx);
        let viewer = require_viewer(ctx)?;
        let set = services.store.cart_set(&viewer.owner_key()).await?;
        let mut views = Vec::with_capacity(set.carts.len());
        for name in set.carts.keys() {
            views.push(CartView::from_set(services, viewer, &set, name).await?);
        }
        Ok(views)
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
    /// The line's id (`CartLine.id`).
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
    /// Ids of the lines to remove; ids not in the cart are ignored (removing twice is harmless).
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
        let edit = Edit::Add(&input.lines);
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
        let once = Some((key, fingerprint));
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
        let edit = Edit::Update(&input.lines);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Removes lines by id.
    async fn remove_cart_lines(
        &self,
        ctx: &Context<'_>,
        input: RemoveCartLinesInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::Remove(&input.line_ids);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Sets the buyer's note to the shop (`null` removes it).
    async fn update_cart_note(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartNoteInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::Note(input.note.as_deref());
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Replaces the cart's attributes.
    async fn update_cart_attributes(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartAttributesInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::Attributes(&input.attributes);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Replaces the buyer identity (e-mail, phone, country, shipping address),
    /// each field checked; errors name the field.
    async fn update_cart_buyer_identity(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartBuyerIdentityInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::BuyerIdentity(&input.buyer_identity);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Removes every line. The cart keeps its name and version history.
    async fn clear_cart(&self, ctx: &Context<'_>, input: ClearCartInput) -> ApiResult<CartPayload> {
        change_cart(ctx, &input.cart, input.expected_version, Edit::Clear, None).await
    }

    /// Replaces the cart's lines with these (a repeated SKU adds up).
    async fn replace_cart(
        &self,
        ctx: &Context<'_>,
        input: ReplaceCartInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::Replace(&input.lines);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }
}

/// What a cart mutation asks for, before it is checked.
enum Edit<'a> {
    Add(&'a [CartLineInput]),
    Replace(&'a [CartLineInput]),
    Update(&'a [CartLineUpdateInput]),
    Remove(&'a [ID]),
    Clear,
    Note(Option<&'a str>),
    Attributes(&'a [AttributeView]),
    BuyerIdentity(&'a BuyerIdentityInput),
}

/// Runs a cart change: which cart, then (with an idempotency key) look the
/// key up — a retry replays, whatever its input says now — then check the
/// input, then one atomic write that applies it (and records the key).
async fn change_cart(
    ctx: &Context<'_>,
    cart: &str,
    expected: Option<u64>,
    edit: Edit<'_>,
    once: Option<(IdempotencyKey, Fingerprint)>,
) -> ApiResult<CartPayload> {
    let services = Services::of(ctx);
    let viewer = require_viewer(ctx)?;
    let name = match CartName::parse(cart) {
        Ok(name) => name,
        Err(why) => return Ok(CartPayload::invalid_name(why)),
    };
    if let Err(throttled) = take_write(ctx, viewer) {
        return payload(services, viewer, &name, Some(throttled)).await;
    }
    let owner = viewer.owner_key();
    if let Some((key, fingerprint)) = &once {
        match services.store.recorded(&owner, key, fingerprint).await {
            Ok(None) => {}
            Ok(Some(outcome)) if outcome.cart_version().is_some() => {
                return payload(services, viewer, &name, None).await;
            }
            Ok(Some(_)) => return payload(services, viewer, &name, Some(key_reused())).await,
            Err(UpdateError::Rejected(reused)) => {
                return payload(services, viewer, &name, Some(reused)).await;
            }
            Err(UpdateError::Store(e)) => return Err(e.into()),
        }
    }
    let change = match checked_change(services, &owner, &name, viewer, edit).await? {
        Ok(change) => change,
        Err(rejection) => return payload(services, viewer, &name, Some(rejection)).await,
    };
    let now = services.clock.now();
    let lifetime = services.shop.cart_lifetime(viewer.kind);
    let limits = services.shop.limits;
    let apply = |index: &mut CartIndex, stored: Option<&Cart>| {
        index.apply(stored, &name, &change, expected, &limits, now, lifetime)
    };
    let result = match &once {
        None => services
            .store
            .update_cart(&owner, &name, &apply)
            .await
            .map(Replayable::Applied),
        Some((key, fingerprint)) => {
            let key = KeyUse {
                key,
                fingerprint,
                now,
                max_per_owner: services.shop.max_idempotency_keys_per_viewer,
            };
            services
                .store
                .update_cart_once(&owner, &key, &name, &apply)
                .await
        }
    };
    match result {
        Ok(stored) => Ok(CartPayload {
            cart: Some(CartView::from_stored(services, viewer, stored.into_inner(), &name).await?),
            user_errors: Vec::new(),
        }),
        Err(UpdateError::Rejected(rejection)) => {
            payload(services, viewer, &name, Some(rejection)).await
        }
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}

/// Turns client input into a [`CartChange`], checking it (SKUs against the
/// catalog, attributes, the note, the buyer identity).
async fn checked_change(
    services: &Services,
    owner: &OwnerKey,
    name: &CartName,
    viewer: &Viewer,
    edit: Edit<'_>,
) -> ApiResult<Result<CartChange, Rejection>> {
    let limits = &services.shop.attribute_limits;
    Ok(match edit {
        Edit::Clear => Ok(CartChange::Clear),
        Edit::Remove(ids) => Ok(CartChange::Remove(
            ids.iter().map(|id| id.to_string()).collect(),
        )),
        Edit::Add(lines) => checked_lines(services, lines).await?.map(CartChange::Add),
        Edit::Replace(lines) => checked_lines(services, lines)
            .await?
            .map(CartChange::Replace),
        Edit::Note(note) => check_note(note.unwrap_or(""), limits)
            .map(CartChange::Note)
            .map_err(Rejection::one),
        Edit::Attributes(attributes) => {
            check_attributes(&AttributeView::pairs(attributes), &["attributes"], limits)
                .map(CartChange::Attributes)
                .map_err(Rejection::Invalid)
        }
        Edit::BuyerIdentity(input) => input
            .to_domain()
            .check()
            .map(CartChange::BuyerIdentity)
            .map_err(Rejection::Invalid),
        Edit::Update(updates) => {
            let stored = services.store.cart(owner, name).await?;
            let lifetime = services.shop.cart_lifetime(viewer.kind);
            let cart = Cart::as_seen(stored, name, services.clock.now(), lifetime);
            let skus: Vec<Sku> = cart.lines.iter().map(|l| l.sku.clone()).collect();
            let catalog = services.store.products_by_sku(&skus).await?;
            checked_updates(updates, &services.shop.limits, limits)
                .map(|lines| CartChange::Update { lines, catalog })
        }
    })
}

/// Checks line updates: quantities 0 to the per-line limit, attributes.
fn checked_updates(
    updates: &[CartLineUpdateInput],
    limits: &Limits,
    attribute_limits: &AttributeLimits,
) -> Result<Vec<LineUpdate>, Rejection> {
    let mut errors = Vec::new();
    let mut checked = Vec::with_capacity(updates.len());
    if updates.len() > limits.max_lines_per_cart {
        return Err(Rejection::one(DomainError::new(
            ErrorCode::CartLimitExceeded,
            &["lines"],
            format!(
                "at most {} lines at once; got {}",
                limits.max_lines_per_cart,
                updates.len()
            ),
        )));
    }
    let max = i64::from(limits.max_quantity_per_line);
    for (index, update) in updates.iter().enumerate() {
        let quantity = i64::from(update.quantity);
        if !(0..=max).contains(&quantity) {
            errors.push(DomainError::at(
                ErrorCode::InvalidQuantity,
                "lines",
                index,
                "quantity",
                format!("quantity must be 0 (remove) to {max}, got {quantity}"),
            ));
            continue;
        }
        let attributes = match &update.attributes {
            None => None,
            Some(given) => {
                let index = index.to_string();
                match check_attributes(
                    &AttributeView::pairs(given),
                    &["lines", &index, "attributes"],
                    attribute_limits,
                ) {
                    Ok(attributes) => Some(attributes),
                    Err(mut why) => {
                        errors.append(&mut why);
                        continue;
                    }
                }
            }
        };
        checked.push(LineUpdate {
            id: update.id.to_string(),
            quantity: quantity as u32,
            attributes,
        });
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(Rejection::Invalid(errors))
    }
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
    match CartName::parse(cart) {
        Ok(name) => payload(services, viewer, &name, Some(rejection)).await,
        Err(why) => Ok(CartPayload::invalid_name(why)),
    }
}

/// The payload with the cart as it is now and, for a refused change, why.
async fn payload(
    services: &Services,
    viewer: &Viewer,
    name: &CartName,
    rejection: Option<Rejection>,
) -> ApiResult<CartPayload> {
    let stored = services.store.cart(&viewer.owner_key(), name).await?;
    Ok(CartPayload {
        cart: Some(CartView::from_stored(services, viewer, stored, name).await?),
        user_errors: user_errors(
            rejection
                .map(Rejection::into_user_errors)
                .unwrap_or_default(),
        ),
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
