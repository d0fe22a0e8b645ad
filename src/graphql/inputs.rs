//! Input types more than one area takes, and the checks they share.

use super::types::AttributeView;
use crate::domain::LineInput;
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

/// The lines as the use cases take them (parsed, not checked).
pub fn line_inputs(lines: &[CartLineInput]) -> Vec<LineInput> {
    lines
        .iter()
        .map(|l| LineInput {
            sku: l.sku.clone(),
            quantity: i64::from(l.quantity),
            attributes: AttributeView::pairs(&l.attributes),
        })
        .collect()
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
