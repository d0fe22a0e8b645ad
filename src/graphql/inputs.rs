//! Input types more than one area takes, and the checks they share.

use super::error::ApiResult;
use crate::domain::cart::check_lines;
use crate::domain::{CartLine, ErrorCode, LineMode, Rejection, Sku, UserError};
use crate::services::Services;
use async_graphql::InputObject;

/// A SKU and a quantity.
#[derive(InputObject)]
pub struct CartLineInput {
    /// The product's SKU.
    pub sku: String,
    /// Units (to add, or to set, depending on the mutation).
    pub quantity: i32,
}

/// Checks client lines against the limits and the catalog (unknown SKUs,
/// inactive products, quantities out of range, repeats): the lines to store,
/// or every problem at once, by input index.
pub async fn checked_lines(
    services: &Services,
    lines: &[CartLineInput],
    mode: LineMode,
) -> ApiResult<Result<Vec<CartLine>, Rejection>> {
    // No request needs more lines than a cart holds (checkoutLines included):
    // refused before the catalog is read for them.
    let max = services.shop.limits.max_lines_per_cart;
    if lines.len() > max {
        return Ok(Err(Rejection::one(UserError::new(
            ErrorCode::CartLimitExceeded,
            &["lines"],
            format!(
                "at most {max} lines at once (a cart holds at most {max} different SKUs); got {}",
                lines.len()
            ),
        ))));
    }
    let skus: Vec<Sku> = lines
        .iter()
        .filter_map(|l| Sku::parse(&l.sku).ok())
        .collect();
    let catalog = services.store.products_by_sku(&skus).await?;
    let input: Vec<(String, i64)> = lines
        .iter()
        .map(|l| (l.sku.clone(), i64::from(l.quantity)))
        .collect();
    Ok(check_lines(&input, mode, &services.shop.limits, &catalog))
}

/// The lines as the client gave them, for an idempotency fingerprint.
pub fn as_given(lines: &[CartLineInput]) -> Vec<(&str, i32)> {
    lines.iter().map(|l| (l.sku.as_str(), l.quantity)).collect()
}
