//! Guest → customer cart merge: `mergeGuestCart`, and the merge that
//! `signUp`/`logIn` do with a `guestToken`.
//!
//! The rule is [`merge_guest_carts`] in the domain; the store runs it in one
//! transaction over both owners' carts, so a concurrent change to the guest
//! cart lands either before the merge (and is merged) or after it (and stays
//! in the guest's carts): nothing is lost.

use super::access::require_viewer;
use super::cart_view::CartView;
use super::error::{ApiError, ApiResult};
use super::types::{UserErrorView, user_errors};
use crate::app::{Caller, carts, identity};
use crate::auth::{ClientAddress, Viewer};
use crate::domain::ViewerKind;
use crate::domain::merge::MergeStrategy;
use crate::services::Services;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

/// What to do when the guest and the customer both have lines in a cart of the same name.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::merge::MergeStrategy")]
pub enum CartMergeStrategy {
    /// Put both carts' lines together, summing quantities (clamped to the limits).
    Combine,
    /// Keep the customer's cart; drop the guest's.
    KeepCustomer,
    /// Replace the customer's cart with the guest's.
    KeepGuest,
}

/// What happened to one guest cart.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::merge::MergeOutcome")]
pub enum CartMergeOutcome {
    /// The customer had no lines in a cart of this name; the guest's cart moved over.
    Moved,
    /// Both had lines; they were combined.
    Combined,
    /// Both had lines; the customer's were kept.
    KeptCustomer,
    /// Both had lines; the guest's replaced the customer's.
    KeptGuest,
}

/// One guest cart that was merged, and the customer's cart of that name now.
#[derive(SimpleObject)]
#[graphql(name = "MergedCart")]
pub struct MergedCartView {
    /// The cart's name.
    pub name: String,
    /// What was done.
    pub outcome: CartMergeOutcome,
    /// How many lines the guest's cart had.
    pub guest_lines: u32,
    /// The customer's cart after the merge.
    pub cart: CartView,
}

/// A line the limits did not let through whole.
#[derive(SimpleObject)]
pub struct MergeAdjustment {
    /// The cart's name.
    pub cart: String,
    /// The SKU.
    pub sku: String,
    /// The quantity the merge would have made.
    pub wanted: u64,
    /// The quantity the cart holds now; 0 when the line did not fit at all.
    pub kept: u32,
    /// Which limit, in a sentence.
    pub message: String,
}

/// What a merge did. The guest has no carts afterwards; merging again changes nothing.
#[derive(SimpleObject)]
pub struct CartMergeResult {
    /// The strategy applied.
    pub strategy: CartMergeStrategy,
    /// Every guest cart that had lines, by name.
    pub carts: Vec<MergedCartView>,
    /// Quantities lowered and lines dropped to stay within the limits.
    pub adjustments: Vec<MergeAdjustment>,
}

/// Moves a guest's carts into the viewer's.
#[derive(InputObject)]
pub struct MergeGuestCartInput {
    /// The guest's token (from `startGuestSession`).
    pub guest_token: String,
    /// What to do when both have lines in a cart of the same name.
    #[graphql(default_with = "CartMergeStrategy::Combine")]
    pub merge: CartMergeStrategy,
}

/// The outcome of `mergeGuestCart`.
#[derive(SimpleObject)]
pub struct MergeGuestCartPayload {
    /// What was merged; `null` when refused.
    pub merge: Option<CartMergeResult>,
    /// Why it was refused; nothing is changed when this is not empty.
    pub user_errors: Vec<UserErrorView>,
}

/// The merge mutation.
#[derive(Default)]
pub struct MergeMutation;

#[Object]
impl MergeMutation {
    /// Moves every cart of the guest into the customer's carts of the same
    /// names, in one atomic step. For customers who log in elsewhere (an
    /// external identity provider) or already hold a customer token.
    async fn merge_guest_cart(
        &self,
        ctx: &Context<'_>,
        input: MergeGuestCartInput,
    ) -> ApiResult<MergeGuestCartPayload> {
        let customer = require_viewer(ctx)?;
        if customer.kind != ViewerKind::Customer {
            let why = "only a customer can take over a guest's carts; log in first";
            return Err(ApiError::BadUserInput(why.into()));
        }
        let refused = |errors| MergeGuestCartPayload {
            merge: None,
            user_errors: user_errors(errors),
        };
        let services = Services::of(ctx);
        let guest = match identity::checked_guest(services, Some(&input.guest_token)).await? {
            Ok(Some(guest)) => guest,
            Ok(None) => return Ok(refused(Vec::new())),
            Err(error) => return Ok(refused(vec![error])),
        };
        let caller = Caller {
            viewer: customer,
            client: ctx.data_opt::<ClientAddress>(),
        };
        let strategy = input.merge.into();
        Ok(
            match carts::merge_guest(services, caller, &guest, strategy).await? {
                Ok(merged) => MergeGuestCartPayload {
                    merge: Some(describe(services, customer, strategy, merged)),
                    user_errors: Vec::new(),
                },
                Err(rejection) => refused(rejection.into_user_errors()),
            },
        )
    }
}

/// The schema's account of a merge.
pub(crate) fn describe(
    services: &Services,
    customer: &Viewer,
    strategy: MergeStrategy,
    merged: carts::Merged,
) -> CartMergeResult {
    let carts::Merged { report, carts } = merged;
    let carts = report
        .carts
        .into_iter()
        .zip(carts)
        .map(|(merged, cart)| MergedCartView {
            name: merged.name.to_string(),
            outcome: merged.outcome.into(),
            guest_lines: u32::try_from(merged.guest_lines).unwrap_or(u32::MAX),
            cart: CartView::new(services, customer, cart),
        })
        .collect();
    let adjustments = report
        .adjustments
        .into_iter()
        .map(|a| MergeAdjustment {
            cart: a.cart.to_string(),
            sku: a.sku.to_string(),
            wanted: a.wanted,
            kept: a.kept,
            message: a.reason,
        })
        .collect();
    CartMergeResult {
        strategy: strategy.into(),
        carts,
        adjustments,
    }
}
