//! Discounts (admin only): `upsertDiscount`, `deleteDiscount`,
//! `discounts(first, after)` and `discount(id)`. The rules are
//! [`app::discounts`](crate::app::discounts) and the pure check it uses;
//! here the input is read and the outcome shown ([`DiscountView`]).

use super::access::require_admin;
use super::discount_view::{DiscountTargetView, DiscountView};
use super::error::ApiResult;
use super::ids::{discount_cursor, discount_ref};
use super::pagination::PageRequest;
use super::types::{Decimal, UserErrorView, user_errors};
use crate::app::discounts;
use crate::domain::pricing::{self, Combinations, Discount};
use crate::domain::{ErrorCode, UserError};
use crate::services::Services;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// A discount to create (no `id`) or replace (its `id`, which keeps its
/// `createdAt`). Give exactly one of `percentage`, `fixedAmount` and
/// `buyXGetY`.
#[derive(InputObject)]
pub struct DiscountInput {
    /// The discount to replace (`gid://cartql/Discount/…` or its ULID);
    /// none creates one.
    pub id: Option<ID>,
    /// What buyers see on what it takes off (1 to 800 bytes).
    pub title: String,
    /// Its codes (at most 100, each 1 to 64 printable ASCII characters,
    /// unique across discounts in any case); none: automatic.
    #[graphql(default)]
    pub codes: Vec<String>,
    /// What it takes its amount off.
    pub target: DiscountTargetView,
    /// A share in percent, more than 0 and at most 100 (`"10"`, `"12.5"`).
    pub percentage: Option<Decimal>,
    /// An amount in the shop currency (on the price basis), more than 0.
    pub fixed_amount: Option<Decimal>,
    /// Which lines (`LINES` only); none: every line.
    pub applies_to: Option<DiscountScopeInput>,
    /// Buy X get Y (`LINES` only).
    pub buy_x_get_y: Option<BuyXGetYInput>,
    /// What the entitled lines must add up to, before any discount.
    pub minimum_subtotal: Option<Decimal>,
    /// Units the entitled lines must hold (1 to 10^9).
    pub minimum_quantity: Option<i32>,
    /// Not applicable before this instant.
    pub starts_at: Option<DateTime<Utc>>,
    /// Not applicable from this instant on (exclusive; after `startsAt`).
    pub ends_at: Option<DateTime<Utc>>,
    /// Orders that may use it in all (1 to 10^9).
    pub usage_limit: Option<i32>,
    /// Orders one customer, or one guest e-mail, may use it in (1 to 10^9).
    pub usage_limit_per_customer: Option<i32>,
    /// Only signed-in customers may use it.
    #[graphql(default = false)]
    pub customers_only: bool,
    /// What it may be applied together with; none: nothing.
    pub combines_with: Option<DiscountCombinationInput>,
    /// Whether it applies at all.
    #[graphql(default = true)]
    pub active: bool,
}

/// The lines a `LINES` discount is entitled to (at most 250 SKUs and
/// handles together, at least one).
#[derive(InputObject)]
pub struct DiscountScopeInput {
    /// Variants by SKU.
    pub skus: Option<Vec<String>>,
    /// Every variant of these products.
    pub product_handles: Option<Vec<String>>,
}

/// Buy `buyQuantity` units, get `getQuantity` more at `getPercentage` off.
#[derive(InputObject)]
pub struct BuyXGetYInput {
    /// Units bought per group (1 to 1000).
    pub buy_quantity: i32,
    /// Units reduced per group (1 to 1000).
    pub get_quantity: i32,
    /// How much the reduced units are reduced, in percent (`"100"`: free).
    #[graphql(default_with = "Decimal(\"100\".into())")]
    pub get_percentage: Decimal,
    /// Groups one order may use (1 to 10^9); none: as many as its units make.
    pub max_uses_per_order: Option<i32>,
}

/// Which kinds of discount it may be applied together with (left out: no).
#[derive(InputObject)]
pub struct DiscountCombinationInput {
    /// With `LINES` discounts.
    pub line_discounts: Option<bool>,
    /// With `ORDER` discounts.
    pub order_discounts: Option<bool>,
    /// With `SHIPPING` discounts.
    pub shipping_discounts: Option<bool>,
}

/// A discount after a write.
#[derive(SimpleObject)]
pub struct DiscountPayload {
    /// The discount as stored (`null` when refused).
    pub discount: Option<DiscountView>,
    /// Why it was refused: `INVALID_DISCOUNT` or `DUPLICATE_DISCOUNT_CODE`,
    /// naming the field (`["codes", "2"]`).
    pub user_errors: Vec<UserErrorView>,
}

/// Which discount to delete.
#[derive(InputObject)]
pub struct DeleteDiscountInput {
    /// `gid://cartql/Discount/…` or its ULID.
    pub id: ID,
}

/// Whether a discount was deleted.
#[derive(SimpleObject)]
pub struct DeleteDiscountPayload {
    /// Whether there was such a discount.
    pub deleted: bool,
    /// Why the input was refused (an id that is no discount's).
    pub user_errors: Vec<UserErrorView>,
}

/// Admin discount queries.
#[derive(Default)]
pub struct DiscountQuery;

#[Object]
impl DiscountQuery {
    /// Admin only: every discount, oldest first (`first` at most 100; the
    /// cursor is a discount id).
    #[graphql(
        complexity = "super::complexity::list(super::complexity::page(first), child_complexity)"
    )]
    async fn discounts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, DiscountView>> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let page = PageRequest::parse(first, after, discount_cursor)?;
        let found = discounts::page(services, page.after.as_deref(), page.fetch()).await?;
        Ok(page.connection(found, |d| (d.id.clone(), view(services, d))))
    }

    /// Admin only: the discount with this id, or `null`.
    async fn discount(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<DiscountView>> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let found = discounts::get(services, discount_ref(&id)).await?;
        Ok(found.map(|d| view(services, d)))
    }
}

/// Admin discount mutations.
#[derive(Default)]
pub struct DiscountMutation;

#[Object]
impl DiscountMutation {
    /// Admin only: creates or replaces a discount.
    async fn upsert_discount(
        &self,
        ctx: &Context<'_>,
        input: DiscountInput,
    ) -> ApiResult<DiscountPayload> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let id = input.id.as_ref().map(|id| discount_ref(id).to_string());
        let given = domain_input(input);
        Ok(
            match discounts::upsert(services, id.as_deref(), &given).await? {
                Ok(discount) => DiscountPayload {
                    discount: Some(view(services, discount)),
                    user_errors: Vec::new(),
                },
                Err(refused) => DiscountPayload {
                    discount: None,
                    user_errors: user_errors(refused.into_user_errors()),
                },
            },
        )
    }

    /// Admin only: deletes a discount. Orders that used it keep what it
    /// took off.
    async fn delete_discount(
        &self,
        ctx: &Context<'_>,
        input: DeleteDiscountInput,
    ) -> ApiResult<DeleteDiscountPayload> {
        require_admin(ctx)?;
        let id = discount_ref(&input.id);
        if discounts::discount_id(id).is_none() {
            let why = "not a discount id (gid://cartql/Discount/… or its ULID)";
            let refused = UserError::new(ErrorCode::InvalidDiscount, &["id"], why);
            return Ok(DeleteDiscountPayload {
                deleted: false,
                user_errors: user_errors(vec![refused]),
            });
        }
        let deleted = discounts::delete(Services::of(ctx), id).await?;
        Ok(DeleteDiscountPayload {
            deleted,
            user_errors: Vec::new(),
        })
    }
}

/// The view of a discount.
pub fn view(services: &Services, discount: Discount) -> DiscountView {
    DiscountView {
        discount,
        currency: services.shop.currency,
    }
}

/// The input as the pure check reads it.
fn domain_input(input: DiscountInput) -> pricing::DiscountInput {
    let with = input.combines_with.unwrap_or(DiscountCombinationInput {
        line_discounts: None,
        order_discounts: None,
        shipping_discounts: None,
    });
    pricing::DiscountInput {
        title: input.title,
        codes: input.codes,
        target: input.target.into(),
        percentage: input.percentage.map(|d| d.0),
        fixed_amount: input.fixed_amount.map(|d| d.0),
        applies_to: input.applies_to.map(|s| pricing::DiscountScopeInput {
            skus: s.skus,
            product_handles: s.product_handles,
        }),
        buy_x_get_y: input.buy_x_get_y.map(|b| pricing::BuyXGetYInput {
            buy_quantity: b.buy_quantity.into(),
            get_quantity: b.get_quantity.into(),
            get_percentage: Some(b.get_percentage.0),
            max_uses_per_order: b.max_uses_per_order.map(Into::into),
        }),
        minimum_subtotal: input.minimum_subtotal.map(|d| d.0),
        minimum_quantity: input.minimum_quantity.map(Into::into),
        starts_at: input.starts_at,
        ends_at: input.ends_at,
        usage_limit: input.usage_limit.map(Into::into),
        usage_limit_per_customer: input.usage_limit_per_customer.map(Into::into),
        customers_only: input.customers_only,
        combines_with: Combinations {
            line_discounts: with.line_discounts.unwrap_or(false),
            order_discounts: with.order_discounts.unwrap_or(false),
            shipping_discounts: with.shipping_discounts.unwrap_or(false),
        },
        active: input.active,
    }
}
