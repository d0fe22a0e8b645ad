//! Checkout: a stored cart, or lines a client kept, into an order.
//!
//! The steps, in order: the write rate; the client's lines checked for what
//! they say (SKUs well formed, quantities, attributes, note, buyer: no
//! catalog); the client address's checkout count; then one store call, the
//! checkout transaction, which looks the key up (a retry is answered with
//! the order placed first), reads the variants it buys (locked), checks them
//! (known, for sale, in stock), takes the stock, writes the order, records
//! the key and, for a stored cart, empties it. A refused check with a key
//! looks the key up after all, so a retry is answered even if its input
//! would not pass any more. So `checkoutLines` reads the store once, and
//! checks each SKU once.

use super::carts::{ShownCart, show};
use super::pricing::checked_pricing;
use super::{AppError, Caller, Once};
use crate::domain::attributes::{check_attributes, check_note};
use crate::domain::buyer::BuyerIdentityInput;
use crate::domain::cart::check_line_shapes;
use crate::domain::idempotency::{Outcome, key_reused};
use crate::domain::order::{CheckoutDetails, Order};
use crate::domain::rate::throttled;
use crate::domain::{CartLine, CartName, ErrorCode, LineInput, Rejection, UserError};
use crate::services::Services;
use crate::store::orders::{CheckoutRequest, CheckoutSource};
use crate::store::throttle::Subject;
use crate::store::{Replayable, UpdateError};

/// What to buy.
#[derive(Clone, Debug)]
pub enum CheckoutFrom {
    /// The viewer's stored cart (`checkout`).
    Cart {
        /// Which cart.
        name: CartName,
        /// Refuse unless the cart is at this version.
        expected_version: Option<u64>,
        /// Refuse unless the total is this amount (a decimal, unchecked).
        expected_total: Option<String>,
    },
    /// Lines the client kept itself (`checkoutLines`).
    Lines(Box<LinesInput>),
}

/// A client-held cart as the client sent it: parsed, not checked.
#[derive(Clone, Debug, Default)]
pub struct LinesInput {
    /// The lines.
    pub lines: Vec<LineInput>,
    /// The note.
    pub note: Option<String>,
    /// The cart attributes.
    pub attributes: Vec<(String, String)>,
    /// Who buys.
    pub buyer_identity: Option<BuyerIdentityInput>,
    /// Discount codes, as entered.
    pub discount_codes: Vec<String>,
    /// The delivery option: a shipping rate's handle.
    pub delivery_option: Option<String>,
    /// Refuse unless the total is this amount (a decimal, unchecked).
    pub expected_total: Option<String>,
}

/// What a checkout did.
#[derive(Clone, Debug)]
pub struct CheckedOut {
    /// The order placed (or, for a retry, the one placed first).
    pub order: Option<Order>,
    /// For a stored cart, the cart now (emptied after an order).
    pub cart: Option<ShownCart>,
    /// Why nothing was bought.
    pub refused: Option<Rejection>,
}

/// Runs a checkout (see the module docs for its steps).
pub async fn checkout(
    services: &Services,
    caller: Caller<'_>,
    from: CheckoutFrom,
    once: Once,
) -> Result<CheckedOut, AppError> {
    let placed = place(services, caller, &from, &once).await?;
    let cart = match &from {
        CheckoutFrom::Cart { name, .. } => Some(show(services, caller.viewer, name).await?),
        CheckoutFrom::Lines(_) => None,
    };
    Ok(match placed {
        Ok(order) => CheckedOut {
            order: Some(order),
            cart,
            refused: None,
        },
        Err(refused) => {
            count("refused");
            CheckedOut {
                order: None,
                cart,
                refused: Some(refused),
            }
        }
    })
}

/// The order, or why there is none.
async fn place(
    services: &Services,
    caller: Caller<'_>,
    from: &CheckoutFrom,
    once: &Once,
) -> Result<Result<Order, Rejection>, AppError> {
    if let Err(throttled) = caller.take_write(services) {
        return Ok(Err(throttled));
    }
    let viewer = caller.viewer;
    let expected_total = match from {
        CheckoutFrom::Cart { expected_total, .. } => expected_total.as_deref(),
        CheckoutFrom::Lines(input) => input.expected_total.as_deref(),
    };
    let expected_total = match expected_total.map(|t| services.shop.currency.parse_amount(t)) {
        None => None,
        Some(Ok(amount)) => Some(amount),
        Some(Err(why)) => {
            let error = UserError::new(
                ErrorCode::InvalidOrderInput,
                &["expectedTotal"],
                format!("expectedTotal is not an amount: {why}"),
            );
            return replay_or(services, caller, once, Rejection::one(error)).await;
        }
    };
    let (source, origins) = match from {
        CheckoutFrom::Cart {
            name,
            expected_version,
            ..
        } => {
            let source = CheckoutSource::Cart {
                name: name.clone(),
                expected_version: *expected_version,
                lifetime: services.shop.cart_lifetime(viewer.kind),
                limits: services.shop.limits,
            };
            (source, Vec::new())
        }
        CheckoutFrom::Lines(input) => match checked_lines(services, input).await? {
            Ok(checked) => checked,
            Err(rejection) => return replay_or(services, caller, once, rejection).await,
        },
    };
    let now = services.clock.now();
    let client = caller.client.map(|c| c.throttle_key());
    let keys: Vec<(Subject, &str)> = client
        .iter()
        .map(|c| (Subject::CheckoutClient, c.as_str()))
        .collect();
    if let Err(until) = services.throttle.reserve(&keys, now).await? {
        let why = "too many checkouts from this address";
        return Ok(Err(Rejection::one(throttled(why, until - now))));
    }
    let request = CheckoutRequest {
        owner: viewer.owner_key(),
        key: once.key.clone(),
        fingerprint: once.fingerprint.clone(),
        max_keys_per_owner: services.shop.max_idempotency_keys_per_viewer,
        order_id: services.order_ids.next(now),
        now,
        source,
        default_email: viewer.email.clone(),
        email_required: services.shop.checkout_email.required_for(viewer.kind),
        max_order_bytes: services.shop.limits.max_order_bytes,
        kind: viewer.kind,
        expected_total,
        currency: services.shop.currency,
    };
    match services.store.checkout(&request).await {
        Ok(Replayable::Applied(order)) => {
            count("placed");
            Ok(Ok(order))
        }
        Ok(Replayable::Replayed(order)) => {
            // A replay is not another checkout from this address.
            services.throttle.give_back(&keys).await?;
            count("replayed");
            Ok(Ok(order))
        }
        Err(UpdateError::Rejected(rejection)) => {
            services.throttle.give_back(&keys).await?;
            Ok(Err(renumbered(rejection, &origins)))
        }
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}

/// A refused check with a key: the order the same request placed, if it
/// placed one; `IDEMPOTENCY_KEY_REUSED` for another request; else the
/// refusal.
async fn replay_or(
    services: &Services,
    caller: Caller<'_>,
    once: &Once,
    rejection: Rejection,
) -> Result<Result<Order, Rejection>, AppError> {
    let owner = caller.viewer.owner_key();
    let id = match services
        .store
        .recorded(&owner, &once.key, &once.fingerprint)
        .await
    {
        Ok(None) => return Ok(Err(rejection)),
        Ok(Some(Outcome::Order(id))) => id,
        Ok(Some(_)) => return Ok(Err(key_reused())),
        Err(UpdateError::Rejected(reused)) => return Ok(Err(reused)),
        Err(UpdateError::Store(e)) => return Err(e.into()),
    };
    match services.store.order(&owner, &id).await? {
        Some(order) => {
            count("replayed");
            Ok(Ok(order))
        }
        None => Err(AppError::Broken(format!(
            "idempotency record of {owner} names order {id}, which is missing"
        ))),
    }
}

/// Checks what `checkoutLines` was given, all errors at once: the lines
/// (without the catalog: the checkout transaction checks the variants;
/// only when a line is malformed is the catalog read here, so that unknown
/// SKUs are reported with it), the note, the attributes and the buyer.
/// Returns the source and, for each line, the input index it came from.
async fn checked_lines(
    services: &Services,
    input: &LinesInput,
) -> Result<Result<(CheckoutSource, Vec<usize>), Rejection>, AppError> {
    let limits = &services.shop.limits;
    let attribute_limits = &services.shop.attribute_limits;
    let mut errors = Vec::new();
    if let Err(refused) = limits.check_line_count(input.lines.len()) {
        return Ok(Err(refused));
    }
    let lines = match check_line_shapes(&input.lines, limits, attribute_limits) {
        Ok(lines) => lines,
        Err(_) => {
            let (checked, _) = super::catalog::checked_lines(services, &input.lines).await?;
            if let Err(rejection) = checked {
                errors.extend(rejection.into_user_errors());
            }
            Vec::new()
        }
    };
    let note = check_note(input.note.as_deref().unwrap_or(""), attribute_limits)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let attributes = check_attributes(&input.attributes, &["attributes"], attribute_limits)
        .map_err(|e| errors.extend(e))
        .unwrap_or_default();
    let (buyer_identity, discount_codes, delivery_option) = checked_pricing(
        input.buyer_identity.as_ref(),
        &input.discount_codes,
        input.delivery_option.as_deref(),
        &mut errors,
    );
    if !errors.is_empty() {
        return Ok(Err(Rejection::Invalid(errors)));
    }
    let origins = lines.iter().map(|(index, _)| *index).collect();
    let lines = lines
        .into_iter()
        .enumerate()
        .map(|(n, (_, line))| CartLine {
            id: format!("0-{n}"),
            sku: line.sku,
            quantity: line.quantity,
            attributes: line.attributes,
            unit_price: line.unit_price,
        })
        .collect();
    let source = CheckoutSource::Lines {
        lines,
        details: Box::new(CheckoutDetails {
            note,
            attributes,
            buyer_identity,
            discount_codes,
            delivery_option,
        }),
    };
    Ok(Ok((source, origins)))
}

/// Errors the checkout named by line (`lines.N.…`, N counting the lines as
/// added up) named by the input line they came from.
fn renumbered(rejection: Rejection, origins: &[usize]) -> Rejection {
    match rejection {
        Rejection::Invalid(mut errors) if !origins.is_empty() => {
            for error in &mut errors {
                // Lines a client holds itself have no ids: the index names them.
                error.line = None;
                if let [lines, index, ..] = error.field.as_mut_slice()
                    && lines == "lines"
                    && let Some(origin) = index.parse::<usize>().ok().and_then(|n| origins.get(n))
                {
                    *index = origin.to_string();
                }
            }
            Rejection::Invalid(errors)
        }
        other => other,
    }
}

/// `cartql_checkouts_total{outcome}`: placed, replayed or refused.
fn count(outcome: &'static str) {
    metrics::counter!("cartql_checkouts_total", "outcome" => outcome).increment(1);
}
