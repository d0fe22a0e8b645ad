//! Carts: `cart`, `carts`, and the mutations that change them.
//!
//! Every mutation follows the same steps: who is asking (from the token),
//! which cart (a valid name), check the input lines against the catalog, then
//! one atomic store update that applies a [`CartChange`] and bumps the version.

use super::cart_view::CartView;
use super::error::{ApiError, ApiResult};
use super::inputs::{CartLineInput, as_given, checked_lines};
use super::require_viewer;
use super::types::{UserErrorView, user_errors};
use crate::auth::Viewer;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, KeyUse, key_reused};
use crate::domain::{
    CartChange, CartName, CartSet, ErrorCode, LineMode, Rejection, Sku, UserError as DomainError,
};
use crate::services::Services;
use crate::store::{Replayable, UpdateError};
use async_graphql::{Context, InputObject, Object, SimpleObject};

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
        let set = services.store.cart_set(&viewer.owner_key()).await?;
        CartView::from_set(services, viewer, &set, &name).await
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

/// Sets quantities of lines; 0 removes.
#[derive(InputObject)]
pub struct UpdateCartLinesInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// Lines with their new quantities.
    pub lines: Vec<CartLineInput>,
    /// Refuse with `VERSION_CONFLICT` unless the cart is at this version.
    pub expected_version: Option<u64>,
}

/// Removes lines by SKU.
#[derive(InputObject)]
pub struct RemoveCartLinesInput {
    /// Which cart.
    #[graphql(default = "default")]
    pub cart: String,
    /// SKUs to remove; ones not in the cart are ignored.
    pub skus: Vec<String>,
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
        let edit = Edit::Lines(LineMode::Add, &input.lines);
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

    /// Sets quantities; 0 removes the line; a SKU not in the cart is added.
    async fn update_cart_lines(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartLinesInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::Lines(LineMode::Set, &input.lines);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }

    /// Removes lines by SKU.
    async fn remove_cart_lines(
        &self,
        ctx: &Context<'_>,
        input: RemoveCartLinesInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::Remove(&input.skus);
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
        let edit = Edit::Lines(LineMode::Replace, &input.lines);
        change_cart(ctx, &input.cart, input.expected_version, edit, None).await
    }
}

/// What a cart mutation asks for, before it is checked.
enum Edit<'a> {
    Lines(LineMode, &'a [CartLineInput]),
    Remove(&'a [String]),
    Clear,
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
    let change = match checked_change(services, edit).await? {
        Ok(change) => change,
        Err(rejection) => return payload(services, viewer, &name, Some(rejection)).await,
    };
    let now = services.clock.now();
    let lifetime = services.shop.cart_lifetime(viewer.kind);
    let limits = services.shop.limits;
    let apply = |set: &mut CartSet| {
        set.apply(&name, &change, expected, &limits, now, lifetime)
            .map(|_| ())
    };
    let result = match &once {
        None => services
            .store
            .update_cart_set(&owner, &apply)
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
                .update_cart_set_once(&owner, &key, &name, &apply)
                .await
        }
    };
    match result {
        Ok(set) => Ok(CartPayload {
            cart: Some(CartView::from_set(services, viewer, &set.into_inner(), &name).await?),
            user_errors: Vec::new(),
        }),
        Err(UpdateError::Rejected(rejection)) => {
            payload(services, viewer, &name, Some(rejection)).await
        }
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}

/// Turns client input into a [`CartChange`], checking SKUs against the catalog.
async fn checked_change(
    services: &Services,
    edit: Edit<'_>,
) -> ApiResult<Result<CartChange, Rejection>> {
    match edit {
        Edit::Clear => Ok(Ok(CartChange::Clear)),
        Edit::Remove(skus) => {
            let mut parsed = Vec::with_capacity(skus.len());
            let mut errors = Vec::new();
            for (index, sku) in skus.iter().enumerate() {
                match Sku::parse(sku) {
                    Ok(sku) => parsed.push(sku),
                    Err(why) => errors.push(DomainError::new(
                        ErrorCode::UnknownSku,
                        &["skus", &index.to_string()],
                        why,
                    )),
                }
            }
            Ok(if errors.is_empty() {
                Ok(CartChange::Remove(parsed))
            } else {
                Err(Rejection::Invalid(errors))
            })
        }
        Edit::Lines(mode, lines) => {
            let checked = checked_lines(services, lines, mode).await?;
            Ok(checked.map(|lines| match mode {
                LineMode::Add => CartChange::Add(lines),
                LineMode::Set => CartChange::Update(lines),
                LineMode::Replace => CartChange::Replace(lines),
            }))
        }
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
    let set = services.store.cart_set(&viewer.owner_key()).await?;
    Ok(CartPayload {
        cart: Some(CartView::from_set(services, viewer, &set, name).await?),
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
