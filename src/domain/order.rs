//! Orders and the checkout rule: turn lines into an order, or say exactly
//! which lines cannot be bought.

use super::cart::CartLine;
use super::catalog::Product;
use super::error::{ErrorCode, Rejection, UserError};
use super::money::Money;
use super::names::{CartName, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Where an order is in its life. Only `Placed` exists today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Stock is reserved and the order is recorded.
    Placed,
}

/// One line of an order: a snapshot, so later catalog changes do not alter it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The SKU bought.
    pub sku: Sku,
    /// The title at checkout.
    pub title: String,
    /// Units bought.
    pub quantity: u32,
    /// The unit price at checkout.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
}

/// A placed order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// A ULID: sortable by creation time.
    pub id: String,
    /// Life-cycle status.
    pub status: OrderStatus,
    /// Snapshot lines.
    pub lines: Vec<OrderLine>,
    /// Sum of line totals.
    pub subtotal: Money,
    /// What is owed: the subtotal (no tax or shipping yet).
    pub total: Money,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// The cart it came from and that cart's version, for `checkout`;
    /// `None` for `checkoutLines` (a client-held cart).
    pub source_cart: Option<(CartName, u64)>,
}

/// What checkout writes: the order and the products whose stock it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The new order.
    pub order: Order,
    /// Products with decremented stock (only tracked ones).
    pub stock_taken: Vec<Product>,
}

/// Checks every line (the product exists, is active and has the stock) and
/// builds the order with prices from the catalog. All failing lines are
/// reported, each naming its SKU; nothing is decided on partial data.
pub fn place_order(
    id: String,
    lines: &[CartLine],
    catalog: &HashMap<Sku, Product>,
    now: DateTime<Utc>,
    source_cart: Option<(CartName, u64)>,
) -> Result<Placement, Rejection> {
    if lines.is_empty() {
        return Err(Rejection::one(UserError::new(
            ErrorCode::CartEmpty,
            &["lines"],
            "there is nothing to check out",
        )));
    }
    let mut errors = Vec::new();
    let mut order_lines = Vec::with_capacity(lines.len());
    let mut stock_taken = Vec::new();
    let mut subtotal = Money::ZERO;
    for (index, line) in lines.iter().enumerate() {
        let at = |code, field: &str, message: String| {
            UserError::at(code, "lines", index, field, message)
        };
        let Some(product) = catalog.get(&line.sku) else {
            errors.push(at(
                ErrorCode::UnknownSku,
                "sku",
                format!("no product has SKU {}", line.sku),
            ));
            continue;
        };
        if !product.active {
            errors.push(at(
                ErrorCode::ProductInactive,
                "sku",
                format!("{} is no longer for sale", line.sku),
            ));
            continue;
        }
        if let Some(stock) = product.stock {
            let wanted = i64::from(line.quantity);
            if stock < wanted {
                errors.push(at(
                    ErrorCode::OutOfStock,
                    "quantity",
                    format!("{}: {stock} available, {wanted} wanted", line.sku),
                ));
                continue;
            }
            stock_taken.push(Product {
                stock: Some(stock - wanted),
                ..product.clone()
            });
        }
        let Some(line_total) = product.price.checked_mul(line.quantity) else {
            errors.push(at(
                ErrorCode::InvalidQuantity,
                "quantity",
                "the line total is too large".into(),
            ));
            continue;
        };
        match subtotal.checked_add(line_total) {
            Some(sum) => subtotal = sum,
            None => errors.push(at(
                ErrorCode::InvalidQuantity,
                "quantity",
                "the order total is too large".into(),
            )),
        }
        order_lines.push(OrderLine {
            sku: line.sku.clone(),
            title: product.title.clone(),
            quantity: line.quantity,
            unit_price: product.price,
            line_total,
        });
    }
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    Ok(Placement {
        order: Order {
            id,
            status: OrderStatus::Placed,
            lines: order_lines,
            subtotal,
            total: subtotal,
            created_at: now,
            source_cart,
        },
        stock_taken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str, price: i64, stock: Option<i64>, active: bool) -> Product {
        Product {
            sku: Sku::parse(sku).unwrap(),
            title: format!("{sku} title"),
            price: Money::from_minor(price),
            stock,
            active,
        }
    }

    fn catalog() -> HashMap<Sku, Product> {
        [
            product("A", 250, Some(3), true),
            product("FREE", 100, None, true),
            product("OFF", 100, Some(9), false),
        ]
        .into_iter()
        .map(|p| (p.sku.clone(), p))
        .collect()
    }

    fn line(sku: &str, quantity: u32) -> CartLine {
        CartLine {
            sku: Sku::parse(sku).unwrap(),
            quantity,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    #[test]
    fn an_order_snapshots_prices_and_takes_tracked_stock_only() {
        let placement = place_order(
            "o1".into(),
            &[line("A", 2), line("FREE", 5)],
            &catalog(),
            now(),
            None,
        )
        .unwrap();
        assert_eq!(placement.order.subtotal, Money::from_minor(1000));
        assert_eq!(placement.order.total, placement.order.subtotal);
        assert_eq!(placement.order.lines[0].title, "A title");
        assert_eq!(placement.stock_taken.len(), 1);
        assert_eq!(placement.stock_taken[0].stock, Some(1));
    }

    #[test]
    fn every_line_that_cannot_be_bought_is_named() {
        let lines = [
            line("A", 4),
            line("OFF", 1),
            line("GONE", 1),
            line("FREE", 1),
        ];
        let errors = place_order("o1".into(), &lines, &catalog(), now(), None)
            .unwrap_err()
            .into_user_errors();
        let got: Vec<_> = errors.iter().map(|e| (e.code, e.field.join("."))).collect();
        assert_eq!(
            got,
            [
                (ErrorCode::OutOfStock, "lines.0.quantity".to_string()),
                (ErrorCode::ProductInactive, "lines.1.sku".to_string()),
                (ErrorCode::UnknownSku, "lines.2.sku".to_string()),
            ]
        );
        assert!(
            errors[0].message.contains("3 available"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn an_empty_cart_cannot_be_checked_out() {
        let errors = place_order("o1".into(), &[], &catalog(), now(), None)
            .unwrap_err()
            .into_user_errors();
        assert_eq!(errors[0].code, ErrorCode::CartEmpty);
    }

    #[test]
    fn exactly_the_last_units_can_be_bought() {
        let placement = place_order("o1".into(), &[line("A", 3)], &catalog(), now(), None).unwrap();
        assert_eq!(placement.stock_taken[0].stock, Some(0));
    }
}
