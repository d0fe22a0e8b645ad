//! Carts: `cart`, `carts`, and the mutations that change them.
//!
//! Every mutation follows the same steps: who is asking (from the token),
//! which cart (a valid name), check the input lines against the catalog, then
//! one atomic store update that applies a [`CartChange`] and bumps the version.

use super::cart_view::{CartView, cart_lifetime, cart_view};
use super::error::{ApiError, ApiResult};
use super::orders::orders;
use super::types::{UserError, user_errors};
use super::{require_viewer, shop, store};
use crate::auth::Viewer;
use crate::domain::cart::check_lines;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, KeyUse};
use crate::domain::{
    CartChange, CartName, CartSet, ErrorCode, LineMode, Rejection, Sku, UserError as DomainError,
};
use crate::store::UpdateError;
use crate::store::orders::CartOnceOutcome;
use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::Utc;

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
        let viewer = require_viewer(ctx)?;
        let name = CartName::parse(&name).map_err(ApiError::BadUserInput)?;
        let set = store(ctx).cart_set(&viewer.owner_key()).await?;
        cart_view(ctx, viewer, &set, &name).await
    }

    /// All of the viewer's stored carts, by name.
    async fn carts(&self, ctx: &Context<'_>) -> ApiResult<Vec<CartView>> {
        let viewer = require_viewer(ctx)?;
        let set = store(ctx).cart_set(&viewer.owner_key()).await?;
        let mut views = Vec::with_capacity(set.carts.len());
        for name in set.carts.keys() {
            views.push(cart_view(ctx, viewer, &set, name).await?);
        }
        Ok(views)
    }
}

/// A SKU and a quantity.
#[derive(InputObject)]
pub struct CartLineInput {
    /// The product's SKU.
    pub sku: String,
    /// Units (to add, or to set, depending on the mutation).
    pub quantity: i32,
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
    pub user_errors: Vec<UserError>,
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
        let Some(key) = &input.idempotency_key else {
            let edit = Edit::Lines(LineMode::Add, &input.lines);
            return change_cart(ctx, &input.cart, input.expected_version, edit).await;
        };
        let viewer = require_viewer(ctx)?;
        let key = match IdempotencyKey::parse(key, "idempotencyKey") {
            Ok(key) => key,
            Err(e) => return refused_name(ctx, viewer, &input.cart, Rejection::one(e)).await,
        };
        let lines: Vec<(&str, i32)> = input
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        let fingerprint = Fingerprint::of(
            "addCartLines",
            &(input.cart.as_str(), lines, input.expected_version),
        );
        let edit = Edit::Lines(LineMode::Add, &input.lines);
        change_cart_once(
            ctx,
            &input.cart,
            input.expected_version,
            edit,
            Some((key, fingerprint)),
        )
        .await
    }

    /// Sets quantities; 0 removes the line; a SKU not in the cart is added.
    async fn update_cart_lines(
        &self,
        ctx: &Context<'_>,
        input: UpdateCartLinesInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::Lines(LineMode::Set, &input.lines);
        change_cart(ctx, &input.cart, input.expected_version, edit).await
    }

    /// Removes lines by SKU.
    async fn remove_cart_lines(
        &self,
        ctx: &Context<'_>,
        input: RemoveCartLinesInput,
    ) -> ApiResult<CartPayload> {
        change_cart(
            ctx,
            &input.cart,
            input.expected_version,
            Edit::Remove(&input.skus),
        )
        .await
    }

    /// Removes every line. The cart keeps its name and version history.
    async fn clear_cart(&self, ctx: &Context<'_>, input: ClearCartInput) -> ApiResult<CartPayload> {
        change_cart(ctx, &input.cart, input.expected_version, Edit::Clear).await
    }

    /// Replaces the cart's lines with these (a repeated SKU adds up).
    async fn replace_cart(
        &self,
        ctx: &Context<'_>,
        input: ReplaceCartInput,
    ) -> ApiResult<CartPayload> {
        let edit = Edit::Lines(LineMode::Replace, &input.lines);
        change_cart(ctx, &input.cart, input.expected_version, edit).await
    }
}

/// What a cart mutation asks for, before it is checked.
enum Edit<'a> {
    Lines(LineMode, &'a [CartLineInput]),
    Remove(&'a [String]),
    Clear,
}

async fn change_cart(
    ctx: &Context<'_>,
    cart: &str,
    expected: Option<u64>,
    edit: Edit<'_>,
) -> ApiResult<CartPayload> {
    change_cart_once(ctx, cart, expected, edit, None).await
}

/// Runs a cart change; with an idempotency key, at most once per key.
async fn change_cart_once(
    ctx: &Context<'_>,
    cart: &str,
    expected: Option<u64>,
    edit: Edit<'_>,
    once: Option<(IdempotencyKey, Fingerprint)>,
) -> ApiResult<CartPayload> {
    let viewer = require_viewer(ctx)?;
    let name = match CartName::parse(cart) {
        Ok(name) => name,
        Err(why) => {
            return Ok(CartPayload {
                cart: None,
                user_errors: user_errors(vec![DomainError::new(
                    ErrorCode::InvalidCartName,
                    &["cart"],
                    why,
                )]),
            });
        }
    };
    let change = match checked_change(ctx, edit).await? {
        Ok(change) => change,
        Err(rejection) => {
            // A retry of an add that succeeded gets its first answer even if
            // its input would no longer pass (a product went inactive since).
            if let Some((key, fingerprint)) = &once {
                match orders(ctx)
                    .recorded(&viewer.owner_key(), key, fingerprint)
                    .await
                {
                    Ok(Some(outcome)) if outcome.cart_version().is_some() => {
                        let set = store(ctx).cart_set(&viewer.owner_key()).await?;
                        return Ok(CartPayload {
                            cart: Some(cart_view(ctx, viewer, &set, &name).await?),
                            user_errors: Vec::new(),
                        });
                    }
                    Err(UpdateError::Rejected(reused)) => {
                        return refused(ctx, viewer, &name, reused).await;
                    }
                    Err(UpdateError::Store(e)) => return Err(ApiError::from(e)),
                    Ok(_) => {}
                }
            }
            return refused(ctx, viewer, &name, rejection).await;
        }
    };
    let settings = shop(ctx);
    let lifetime = cart_lifetime(ctx, viewer);
    let now = Utc::now();
    let apply = |set: &mut CartSet| {
        set.apply(&name, &change, expected, &settings.limits, now, lifetime)
            .map(|_| ())
    };
    let owner = viewer.owner_key();
    let result = match &once {
        None => store(ctx)
            .update_cart_set(&owner, &mut |set| apply(set))
            .await
            .map(CartOnceOutcome::Applied),
        Some((key, fingerprint)) => {
            let key = KeyUse {
                key,
                fingerprint,
                now,
                max_per_owner: settings.max_idempotency_keys_per_viewer,
            };
            orders(ctx)
                .update_cart_set_once(&owner, &key, &name, &apply)
                .await
        }
    };
    match result {
        Ok(CartOnceOutcome::Applied(set)) => Ok(CartPayload {
            cart: Some(cart_view(ctx, viewer, &set, &name).await?),
            user_errors: Vec::new(),
        }),
        Ok(CartOnceOutcome::Replayed(set)) => Ok(CartPayload {
            cart: Some(cart_view(ctx, viewer, &set, &name).await?),
            user_errors: Vec::new(),
        }),
        Err(UpdateError::Rejected(rejection)) => refused(ctx, viewer, &name, rejection).await,
        Err(UpdateError::Store(e)) => Err(ApiError::from(e)),
    }
}

/// Turns client input into a [`CartChange`], checking SKUs against the catalog.
async fn checked_change(
    ctx: &Context<'_>,
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
            let skus: Vec<Sku> = lines
                .iter()
                .filter_map(|l| Sku::parse(&l.sku).ok())
                .collect();
            let catalog = store(ctx).products_by_sku(&skus).await?;
            let input: Vec<(String, i64)> = lines
                .iter()
                .map(|l| (l.sku.clone(), i64::from(l.quantity)))
                .collect();
            let checked = check_lines(&input, mode, &shop(ctx).limits, &catalog);
            Ok(checked.map(|lines| match mode {
                LineMode::Add => CartChange::Add(lines),
                LineMode::Set => CartChange::Update(lines),
                LineMode::Replace => CartChange::Replace(lines),
            }))
        }
    }
}

/// Like [`refused`], for a cart name not parsed yet.
async fn refused_name(
    ctx: &Context<'_>,
    viewer: &Viewer,
    cart: &str,
    rejection: Rejection,
) -> ApiResult<CartPayload> {
    match CartName::parse(cart) {
        Ok(name) => refused(ctx, viewer, &name, rejection).await,
        Err(why) => Ok(CartPayload {
            cart: None,
            user_errors: user_errors(vec![DomainError::new(
                ErrorCode::InvalidCartName,
                &["cart"],
                why,
            )]),
        }),
    }
}

/// The payload of a refused change: the cart as it is now, and why.
async fn refused(
    ctx: &Context<'_>,
    viewer: &Viewer,
    name: &CartName,
    rejection: Rejection,
) -> ApiResult<CartPayload> {
    let set = store(ctx).cart_set(&viewer.owner_key()).await?;
    Ok(CartPayload {
        cart: Some(cart_view(ctx, viewer, &set, name).await?),
        user_errors: user_errors(rejection.into_user_errors()),
    })
}
