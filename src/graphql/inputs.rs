//! Input types more than one area takes, and the checks they share.

use super::error::ApiResult;
use super::types::AttributeView;
use crate::domain::cart::check_lines;
use crate::domain::{ErrorCode, LineInput, NewLine, Rejection, Sku, UserError};
use crate::services::Services;
use async_graphql::InputObject;

/// A SKU, a quantity and the line's attributes.
#[derive(InputObject)]
pub struct CartLineInput {
    /// The variant's SKU.
    pub sku: String,
    /// Units to add (or, for a whole cart, to hold).
    pub quantity: i32,
    /// The line's attributes (an engraving): the same SKU with other
    /// attributes is another line.
    #[graphql(default)]
    pub attributes: Vec<AttributeView>,
}

/// Checks client lines against the limits and the catalog (unknown SKUs,
/// variants not for sale, quantities out of range, bad attributes): the
/// lines to store, or every problem at once, by input index.
pub async fn checked_lines(
    services: &Services,
    lines: &[CartLineInput],
) -> ApiResult<Result<Vec<NewLine>, Rejection>> {
    // No request needs more lines than a cart holds (checkoutLines included):
    // refused before the catalog is read for them.
    let max = services.shop.limits.max_lines_per_cart;
    if lines.len() > max {
        return Ok(Err(Rejection::one(UserError::new(
            ErrorCode::CartLimitExceeded,
            &["lines"],
            format!(
                "at most {max} lines at once (a cart holds at most {max} lines); got {}",
                lines.len()
            ),
        ))));
    }
    let skus: Vec<Sku> = lines
        .iter()
        .filter_map(|l| Sku::parse(&l.sku).ok())
        .collect();
    let catalog = services.store.products_by_sku(&skus).await?;
    let input: Vec<LineInput> = lines
        .iter()
        .map(|l| LineInput {
            sku: l.sku.clone(),
            quantity: i64::from(l.quantity),
            attributes: AttributeView::pairs(&l.attributes),
        })
        .collect();
    Ok(check_lines(
        &input,
        &services.shop.limits,
        &services.shop.attribute_limits,
        &catalog,
    ))
}

/// A line as the client gave it: SKU, quantity, attributes.
pub type GivenLine<'a> = (&'a str, i32, Vec<(&'a str, &'a str)>);

/// The lines as the client gave them, for an idempotency fingerprint.
pub fn as_given(lines: &[CartLineInput]) -> Vec<GivenLine<'_>> {
    lines
        .iter()
        .map(|l| {
            let attributes = l
                .attributes
                .iter()
                .map(|a| (a.key.as_str(), a.value.as_str()))
                .collect();
            (l.sku.as_str(), l.quantity, attributes)
        })
        .collect()
}
