//! Discounts as an admin keeps them (`upsertDiscount`, `deleteDiscount`,
//! `discounts`, `discount`), checked by the pure rule
//! ([`parse_discount`]) and stored as shop records (kind `discount`, keyed
//! by id) on both backends.
//!
//! A discount's id is a ULID made when it is created, and its `createdAt`
//! is that ULID's time (whole milliseconds), which an update keeps: so
//! listing by `(createdAt, id)` is listing by id, and a page cursor (an id)
//! still has its place after its discount is deleted. Ids come from the
//! process's monotonic generator, so discounts created in one millisecond
//! list (and stack, on ties) in the order they were made.

use super::AppError;
use super::pricing::decode;
use crate::domain::names::OrderId;
use crate::domain::pricing::{
    Discount, DiscountCode, DiscountInput, DiscountProblem, MAX_CODES_PER_DISCOUNT, parse_discount,
};
use crate::domain::{ErrorCode, Rejection, UserError};
use crate::services::Services;
use crate::store::shop::DISCOUNTS;
use chrono::{DateTime, Utc};

/// The most discounts a shop may have, active or not. Every priced cart
/// read, preview and checkout reads all of them (shop records are read per
/// request until issue "Fast with prices" caches them), so their number is
/// what a cost read pays for: 1,000 discounts of at most 100 codes are a few
/// hundred kilobytes to decode per priced read.
pub const MAX_DISCOUNTS: usize = 1000;

/// The canonical spelling of a discount id (a ULID, read in any case), or
/// `None` when `text` is not one (then it names no discount).
pub fn discount_id(text: &str) -> Option<String> {
    OrderId::parse(text).map(OrderId::into_string)
}

/// Every discount, by `(createdAt, id)`: the order pricing applies them in.
pub async fn all(services: &Services) -> Result<Vec<Discount>, AppError> {
    let stored = services.store.shop_records(DISCOUNTS).await?;
    let mut discounts = stored
        .into_iter()
        .map(|(key, value)| decode::<Discount>(&key, value))
        .collect::<Result<Vec<_>, _>>()?;
    discounts.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    Ok(discounts)
}

/// The discount `id` (any spelling of its ULID), if there is one.
pub async fn get(services: &Services, id: &str) -> Result<Option<Discount>, AppError> {
    let Some(id) = discount_id(id) else {
        return Ok(None);
    };
    Ok(all(services).await?.into_iter().find(|d| d.id == id))
}

/// Up to `limit` discounts in [`all`]'s order, after the discount `after`
/// (a canonical id; a deleted one keeps its place by its ULID's time).
pub async fn page(
    services: &Services,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Discount>, AppError> {
    let discounts = all(services).await?;
    let start = match after {
        None => 0,
        Some(cursor) => {
            let place = match discounts.iter().find(|d| d.id == cursor) {
                Some(found) => order_key(found),
                None => (ulid_time(cursor), cursor),
            };
            discounts.partition_point(|d| order_key(d) <= place)
        }
    };
    Ok(discounts.into_iter().skip(start).take(limit).collect())
}

/// Admin: creates a discount (no `id`) or replaces the discount `id` (any
/// spelling of its ULID), keeping its id and `createdAt`; or
/// says why not, every problem at once: `INVALID_DISCOUNT` naming the field
/// (an unknown `id` too, and too many discounts), `DUPLICATE_DISCOUNT_CODE`
/// naming `codes.N` when another discount has that code in any case.
///
/// The uniqueness of codes is checked, then written (no lock, no
/// transaction): two admins writing the same code to two discounts at the
/// same instant could both pass. Left so because only admins write
/// discounts; a store-side index of codes would close it.
pub async fn upsert(
    services: &Services,
    id: Option<&str>,
    input: &DiscountInput,
) -> Result<Result<Discount, Rejection>, AppError> {
    let existing = all(services).await?;
    let mut errors = Vec::new();
    let (id, created_at) = match id {
        Some(given) => {
            let wanted = discount_id(given);
            match existing.iter().find(|d| wanted.as_ref() == Some(&d.id)) {
                Some(found) => (found.id.clone(), found.created_at),
                None => {
                    errors.push(invalid(&["id"], "no discount has this id"));
                    (String::new(), services.clock.now())
                }
            }
        }
        None if existing.len() >= MAX_DISCOUNTS => {
            let why = format!("a shop has at most {MAX_DISCOUNTS} discounts; delete some first");
            return Ok(Err(Rejection::one(invalid(&[], why))));
        }
        None => new_id(services),
    };
    let parsed = parse_discount(input, id.clone(), created_at, &services.shop.currency);
    let parsed = parsed.map_err(|problems| errors.extend(problems.into_iter().map(invalid_at)));
    errors.extend(taken_codes(&input.codes, &existing, &id));
    match parsed {
        Ok(discount) if errors.is_empty() => {
            let value =
                serde_json::to_value(&discount).map_err(|e| AppError::Broken(e.to_string()))?;
            services
                .store
                .put_shop_record(DISCOUNTS, &discount.id, &value)
                .await?;
            Ok(Ok(discount))
        }
        _ => Ok(Err(Rejection::Invalid(errors))),
    }
}

/// Admin: deletes the discount `id` (any spelling); whether there was one.
/// Orders that used it keep what it took off (they froze their cost).
pub async fn delete(services: &Services, id: &str) -> Result<bool, AppError> {
    let Some(id) = discount_id(id) else {
        return Ok(false);
    };
    Ok(services.store.delete_shop_record(DISCOUNTS, &id).await?)
}

/// A new id and its time (the id's, in whole milliseconds).
fn new_id(services: &Services) -> (String, DateTime<Utc>) {
    let id = services.order_ids.next(services.clock.now());
    let created_at = ulid_time(&id);
    (id, created_at)
}

/// The time in a ULID (the epoch for text that is not one).
fn ulid_time(id: &str) -> DateTime<Utc> {
    let millis = ulid::Ulid::from_string(id).map_or(0, |u| u.timestamp_ms());
    DateTime::from_timestamp_millis(i64::try_from(millis).unwrap_or(i64::MAX)).unwrap_or_default()
}

/// What discounts are listed and applied by.
fn order_key(discount: &Discount) -> (DateTime<Utc>, &str) {
    (discount.created_at, discount.id.as_str())
}

/// `DUPLICATE_DISCOUNT_CODE` for each given code (by its index, among the
/// first [`MAX_CODES_PER_DISCOUNT`]) that a discount other than `id` has.
fn taken_codes(given: &[String], existing: &[Discount], id: &str) -> Vec<UserError> {
    let others: std::collections::HashMap<String, &str> = existing
        .iter()
        .filter(|d| d.id != id)
        .flat_map(|d| d.codes.iter().map(|c| (c.key(), d.title.as_str())))
        .collect();
    let mut errors = Vec::new();
    for (index, text) in given.iter().enumerate().take(MAX_CODES_PER_DISCOUNT) {
        let Ok(code) = DiscountCode::parse(text) else {
            continue;
        };
        if let Some(title) = others.get(&code.key()) {
            errors.push(UserError::new(
                ErrorCode::DuplicateDiscountCode,
                &["codes", &index.to_string()],
                format!(
                    "'{}' is a code of the discount '{}' (codes are case-insensitive)",
                    code.as_str(),
                    short(title)
                ),
            ));
        }
    }
    errors
}

/// A title cut short for a message (titles may be 800 bytes).
fn short(title: &str) -> String {
    match title.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &title[..at]),
        None => title.to_string(),
    }
}

fn invalid_at(problem: DiscountProblem) -> UserError {
    UserError {
        field: problem.field,
        ..invalid(&[], problem.message)
    }
}

fn invalid(field: &[&str], message: impl Into<String>) -> UserError {
    UserError::new(ErrorCode::InvalidDiscount, field, message)
}
