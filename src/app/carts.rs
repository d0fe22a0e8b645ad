//! Carts: reading them priced, and every mutation.
//!
//! A mutation's steps, in order: the write rate; the input checked (the
//! catalog is read once, for the lines it names, and that read also prices
//! the answer); one store call that applies the change by the rule
//! ([`CartIndex::apply`]) and, with an idempotency key, looks the key up and
//! records it in the same transaction. A refused check with a key looks the
//! key up after all: a retry of a recorded request is answered as the first
//! was, even if its input would not pass any more.

use super::catalog::checked_lines;
use super::pricing::{CartToQuote, quote_cart};
use super::{AppError, Caller, Once};
use crate::auth::Viewer;
use crate::domain::attributes::{AttributeLimits, check_attributes, check_note};
use crate::domain::buyer::BuyerIdentityInput;
use crate::domain::cart::{LineUpdate, PricedCart, Quantity, Zero, price_lines};
use crate::domain::idempotency::{KeyUse, key_reused};
use crate::domain::merge::{MergeClock, MergeReport, MergeStrategy, merge_guest_carts};
use crate::domain::pricing::entered_codes;
use crate::domain::{
    Cart, CartChange, CartIndex, CartName, CartSet, ErrorCode, Handle, Limits, LineInput,
    Rejection, Sku, UserError, Variant,
};
use crate::services::Services;
use crate::store::{Replayable, UpdateError};
use std::collections::HashMap;

/// A cart as its viewer sees it now, priced with the variants as they are now.
#[derive(Clone, Debug)]
pub struct ShownCart {
    /// The cart (empty, version 0, if nothing is stored; blank if it expired).
    pub cart: Cart,
    /// Its lines priced, with their warnings.
    pub priced: PricedCart,
}

/// A change to a cart as the client asked for it: parsed, not checked.
#[derive(Clone, Debug)]
pub enum CartEdit {
    /// Add units (`addCartLines`).
    Add(Vec<LineInput>),
    /// Make the lines exactly these (`replaceCart`).
    Replace(Vec<LineInput>),
    /// Change lines by id (`updateCartLines`).
    Update(Vec<LineUpdateInput>),
    /// Remove lines by id (`removeCartLines`).
    Remove(Vec<String>),
    /// Remove every line (`clearCart`).
    Clear,
    /// Set or remove the note (`updateCartNote`).
    Note(Option<String>),
    /// Replace the cart's attributes (`updateCartAttributes`).
    Attributes(Vec<(String, String)>),
    /// Replace the buyer (`updateCartBuyerIdentity`).
    BuyerIdentity(Box<BuyerIdentityInput>),
    /// Replace the discount codes (`updateCartDiscountCodes`).
    DiscountCodes(Vec<String>),
    /// Choose or forget the delivery option (`updateCartDeliveryOption`).
    DeliveryOption(Option<String>),
}

/// One line's change as the client asked for it.
#[derive(Clone, Debug)]
pub struct LineUpdateInput {
    /// The line's id.
    pub id: String,
    /// Its new quantity (0 removes it).
    pub quantity: i64,
    /// Its new attributes, if they change.
    pub attributes: Option<Vec<(String, String)>>,
}

/// What a cart mutation did: the cart as it is now and, if the change was
/// refused, why (then nothing changed).
#[derive(Clone, Debug)]
pub struct Edited {
    /// The cart now.
    pub cart: ShownCart,
    /// Why the change was refused.
    pub refused: Option<Rejection>,
}

/// Wakes after each change to the owner's carts (any mutation, checkout,
/// merge, sweep), from this instance or another.
pub fn watch(services: &Services, owner: &crate::domain::OwnerKey) -> crate::store::Changes {
    services.store.cart_changes(owner)
}

/// The viewer's cart `name`, priced.
pub async fn show(
    services: &Services,
    viewer: &Viewer,
    name: &CartName,
) -> Result<ShownCart, AppError> {
    let (stored, known) = services
        .store
        .cart_and_variants(&viewer.owner_key(), name)
        .await?;
    price(services, viewer, stored, name, known).await
}

/// All of the viewer's stored carts, by name, priced (the catalog read once).
pub async fn show_all(services: &Services, viewer: &Viewer) -> Result<Vec<ShownCart>, AppError> {
    let set = services.store.cart_set(&viewer.owner_key()).await?;
    let lifetime = services.shop.cart_lifetime(viewer.kind);
    let now = services.clock.now();
    let carts: Vec<Cart> = set
        .carts
        .into_values()
        .map(|cart| {
            let name = cart.name.clone();
            Cart::as_seen(Some(cart), &name, now, lifetime)
        })
        .collect();
    // Each SKU once, however many lines and carts hold it.
    let skus: Vec<Sku> = carts
        .iter()
        .flat_map(|c| c.lines.iter().map(|l| l.sku.clone()))
        .collect::<std::collections::BTreeSet<Sku>>()
        .into_iter()
        .collect();
    let catalog = services.store.variants_by_sku(&skus).await?;
    carts
        .into_iter()
        .map(|cart| priced(services, cart, &catalog))
        .collect()
}

/// Runs a cart mutation (see the module docs for its steps).
pub async fn edit(
    services: &Services,
    caller: Caller<'_>,
    name: &CartName,
    edit: CartEdit,
    expected_version: Option<u64>,
    once: Option<Once>,
) -> Result<Edited, AppError> {
    let viewer = caller.viewer;
    if let Err(throttled) = caller.take_write(services) {
        return refused(services, viewer, name, throttled).await;
    }
    let owner = viewer.owner_key();
    let (change, known) = match checked(services, viewer, name, edit).await? {
        Ok(checked) => checked,
        Err(rejection) => {
            return match &once {
                Some(once) => replay_or(services, viewer, name, once, rejection).await,
                None => refused(services, viewer, name, rejection).await,
            };
        }
    };
    let now = services.clock.now();
    let lifetime = services.shop.cart_lifetime(viewer.kind);
    let limits = services.shop.limits;
    let apply = |index: &mut CartIndex, stored: Option<&Cart>| {
        index.apply(
            stored,
            name,
            &change,
            expected_version,
            &limits,
            now,
            lifetime,
        )
    };
    let written = match &once {
        None => services
            .store
            .update_cart(&owner, name, &apply)
            .await
            .map(Replayable::Applied),
        Some(once) => {
            let key = KeyUse {
                key: &once.key,
                fingerprint: &once.fingerprint,
                now,
                max_per_owner: services.shop.max_idempotency_keys_per_viewer,
            };
            services
                .store
                .update_cart_once(&owner, &key, name, &apply)
                .await
        }
    };
    match written {
        Ok(stored) => Ok(Edited {
            cart: price(services, viewer, stored.into_inner(), name, known).await?,
            refused: None,
        }),
        Err(UpdateError::Rejected(rejection)) => refused(services, viewer, name, rejection).await,
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}

/// A refused check with a key: the key's recorded outcome if the same
/// request made one, `IDEMPOTENCY_KEY_REUSED` for another request, else the
/// refusal.
async fn replay_or(
    services: &Services,
    viewer: &Viewer,
    name: &CartName,
    once: &Once,
    rejection: Rejection,
) -> Result<Edited, AppError> {
    let owner = viewer.owner_key();
    let refusal = match services
        .store
        .recorded(&owner, &once.key, &once.fingerprint)
        .await
    {
        Ok(None) => Some(rejection),
        Ok(Some(outcome)) if outcome.cart_version().is_some() => None,
        Ok(Some(_)) => Some(key_reused()),
        Err(UpdateError::Rejected(reused)) => Some(reused),
        Err(UpdateError::Store(e)) => return Err(e.into()),
    };
    Ok(Edited {
        cart: show(services, viewer, name).await?,
        refused: refusal,
    })
}

/// The cart as it is now, with the reason nothing changed.
async fn refused(
    services: &Services,
    viewer: &Viewer,
    name: &CartName,
    rejection: Rejection,
) -> Result<Edited, AppError> {
    Ok(Edited {
        cart: show(services, viewer, name).await?,
        refused: Some(rejection),
    })
}

/// Turns an edit into a [`CartChange`], checking it (SKUs against the
/// catalog, quantities, attributes, the note, the buyer). Returns the
/// variants it read, for pricing the answer.
async fn checked(
    services: &Services,
    viewer: &Viewer,
    name: &CartName,
    edit: CartEdit,
) -> Result<Result<(CartChange, HashMap<Sku, Variant>), Rejection>, AppError> {
    let attribute_limits = &services.shop.attribute_limits;
    let none = HashMap::new;
    Ok(match edit {
        CartEdit::Clear => Ok((CartChange::Clear, none())),
        CartEdit::Remove(ids) => Ok((CartChange::Remove(ids), none())),
        CartEdit::Add(lines) => {
            let (lines, catalog) = checked_lines(services, &lines).await?;
            lines.map(|lines| (CartChange::Add(lines), catalog))
        }
        CartEdit::Replace(lines) => {
            let (lines, catalog) = checked_lines(services, &lines).await?;
            lines.map(|lines| (CartChange::Replace(lines), catalog))
        }
        CartEdit::Note(note) => check_note(note.as_deref().unwrap_or(""), attribute_limits)
            .map(|note| (CartChange::Note(note), none()))
            .map_err(Rejection::one),
        CartEdit::Attributes(attributes) => {
            check_attributes(&attributes, &["attributes"], attribute_limits)
                .map(|attributes| (CartChange::Attributes(attributes), none()))
                .map_err(Rejection::Invalid)
        }
        CartEdit::BuyerIdentity(input) => input
            .check()
            .map(|buyer| (CartChange::BuyerIdentity(buyer), none()))
            .map_err(Rejection::Invalid),
        CartEdit::DiscountCodes(codes) => {
            entered_codes(&codes, "codes").map(|codes| (CartChange::DiscountCodes(codes), none()))
        }
        CartEdit::DeliveryOption(None) => Ok((CartChange::DeliveryOption(None), none())),
        CartEdit::DeliveryOption(Some(handle)) => delivery_option(services, viewer, name, &handle)
            .await?
            .map(|handle| (CartChange::DeliveryOption(Some(handle)), none())),
        CartEdit::Update(updates) => {
            let (_, catalog) = services
                .store
                .cart_and_variants(&viewer.owner_key(), name)
                .await?;
            checked_updates(&updates, &services.shop.limits, attribute_limits).map(|lines| {
                let change = CartChange::Update {
                    lines,
                    catalog: catalog.clone(),
                };
                (change, catalog)
            })
        }
    })
}

/// Checks a delivery option against the cart as it is: the handle must
/// name a shipping rate serving it now (its destination, subtotal and
/// weight), else `DELIVERY_OPTION_UNAVAILABLE`. A later change to the cart
/// can make it stop serving: reads then show no selected option and
/// checkout refuses until another is chosen.
async fn delivery_option(
    services: &Services,
    viewer: &Viewer,
    name: &CartName,
    handle: &str,
) -> Result<Result<String, Rejection>, AppError> {
    let unavailable = |why: String| {
        Ok(Err(Rejection::one(UserError::new(
            ErrorCode::DeliveryOptionUnavailable,
            &["handle"],
            why,
        ))))
    };
    let handle = match Handle::parse(handle) {
        Ok(handle) => handle,
        Err(why) => return unavailable(format!("not a delivery option: {why}")),
    };
    let (stored, catalog) = services
        .store
        .cart_and_variants(&viewer.owner_key(), name)
        .await?;
    let lifetime = services.shop.cart_lifetime(viewer.kind);
    let cart = Cart::as_seen(stored, name, services.clock.now(), lifetime);
    let to_quote = CartToQuote::of(&cart, &catalog, viewer.email.as_ref());
    let quoted = quote_cart(services, &viewer.owner_key(), viewer.kind, &to_quote).await?;
    if quoted
        .quote
        .options
        .iter()
        .any(|o| o.handle == handle.as_str())
    {
        return Ok(Ok(handle.as_str().to_string()));
    }
    let served: Vec<&str> = quoted
        .quote
        .options
        .iter()
        .map(|o| o.handle.as_str())
        .collect();
    unavailable(match served.is_empty() {
        true => format!(
            "no shipping rate serves this cart as it is (add shipped lines, or a shipping address the shop ships to); {handle} is not an option"
        ),
        false => format!(
            "{handle} does not serve this cart (its destination, subtotal or weight); its options: {}",
            served.join(", ")
        ),
    })
}

/// Checks line updates: quantities 0 to the per-line limit, attributes.
fn checked_updates(
    updates: &[LineUpdateInput],
    limits: &Limits,
    attribute_limits: &AttributeLimits,
) -> Result<Vec<LineUpdate>, Rejection> {
    limits.check_line_count(updates.len())?;
    let mut errors = Vec::new();
    let mut checked = Vec::with_capacity(updates.len());
    for (index, update) in updates.iter().enumerate() {
        let quantity = match Quantity::parse(update.quantity, Zero::Removes, limits) {
            Ok(quantity) => quantity,
            Err(why) => {
                let at = UserError::at(ErrorCode::InvalidQuantity, "lines", index, "quantity", why);
                errors.push(at.on_line(&update.id));
                continue;
            }
        };
        let attributes = match &update.attributes {
            None => None,
            Some(given) => {
                let index = index.to_string();
                match check_attributes(given, &["lines", &index, "attributes"], attribute_limits) {
                    Ok(attributes) => Some(attributes),
                    Err(why) => {
                        errors.extend(why.into_iter().map(|e| e.on_line(&update.id)));
                        continue;
                    }
                }
            }
        };
        checked.push(LineUpdate {
            id: update.id.clone(),
            quantity: quantity.get(),
            attributes,
        });
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(Rejection::Invalid(errors))
    }
}

/// What a live subscription finds when it looks at its cart.
pub enum Current {
    /// A log-out everywhere revoked the viewer's token: the subscription ends.
    Revoked,
    /// The cart as the viewer sees it now, not priced, and the variants its
    /// lines name (a subscription prices only what it sends, with these).
    Cart(Box<Cart>, HashMap<Sku, Variant>),
}

/// The viewer's cart `name`, once the viewer's token is checked against
/// log-outs everywhere: a live subscription asks on every change. The check
/// and the reads are one store call (one statement, one snapshot, on
/// PostgreSQL: a push was three round trips).
pub async fn current(
    services: &Services,
    viewer: &Viewer,
    name: &CartName,
) -> Result<Current, AppError> {
    let (after, stored, known) = services
        .store
        .valid_after_cart_and_variants(&viewer.owner_key(), name)
        .await?;
    if viewer.is_revoked_by(after) {
        return Ok(Current::Revoked);
    }
    let lifetime = services.shop.cart_lifetime(viewer.kind);
    Ok(Current::Cart(
        Box::new(Cart::as_seen(stored, name, services.clock.now(), lifetime)),
        known,
    ))
}

/// The cart `name` as stored (`None`: nothing is), as its viewer sees it
/// now, priced; `known` are variants already read (only the others are).
pub async fn price(
    services: &Services,
    viewer: &Viewer,
    stored: Option<Cart>,
    name: &CartName,
    known: HashMap<Sku, Variant>,
) -> Result<ShownCart, AppError> {
    let lifetime = services.shop.cart_lifetime(viewer.kind);
    let cart = Cart::as_seen(stored, name, services.clock.now(), lifetime);
    price_seen(services, cart, known).await
}

/// A cart already as seen now, priced; `known` are variants already read.
pub async fn price_seen(
    services: &Services,
    cart: Cart,
    mut known: HashMap<Sku, Variant>,
) -> Result<ShownCart, AppError> {
    let missing: Vec<Sku> = cart
        .lines
        .iter()
        .filter(|l| !known.contains_key(&l.sku))
        .map(|l| l.sku.clone())
        .collect();
    if !missing.is_empty() {
        known.extend(services.store.variants_by_sku(&missing).await?);
    }
    priced(services, cart, &known)
}

fn priced(
    services: &Services,
    cart: Cart,
    catalog: &HashMap<Sku, Variant>,
) -> Result<ShownCart, AppError> {
    let priced = price_lines(&cart.lines, catalog, &services.shop.currency)
        .map_err(|e| AppError::Broken(format!("cart {}: {e}", cart.name)))?;
    Ok(ShownCart { cart, priced })
}

/// What a guest → customer merge did: the report, and each merged cart of
/// the customer as it is now, priced, in the report's order.
#[derive(Clone, Debug)]
pub struct Merged {
    /// Which guest carts moved or combined, and what the limits changed.
    pub report: MergeReport,
    /// The customer's carts that received a guest cart.
    pub carts: Vec<ShownCart>,
}

/// Moves the carts of `guest` into the caller's (a customer's) by
/// `strategy`, in one store transaction over both owners' carts (the rule
/// is [`merge_guest_carts`]). A refusal (a limit the merge would break)
/// changes nothing.
pub async fn merge_guest(
    services: &Services,
    caller: Caller<'_>,
    guest: &Viewer,
    strategy: MergeStrategy,
) -> Result<Result<Merged, Rejection>, AppError> {
    if let Err(throttled) = caller.take_write(services) {
        return Ok(Err(throttled));
    }
    let customer = caller.viewer;
    let settings = &services.shop;
    let limits = settings.limits;
    let clock = MergeClock {
        now: services.clock.now(),
        guest_lifetime: settings.guest_cart_lifetime,
        customer_lifetime: settings.customer_cart_lifetime,
    };
    let merge = move |mine: &mut CartSet, theirs: &mut CartSet| {
        merge_guest_carts(mine, theirs, strategy, &limits, &clock)
    };
    let merged = services
        .store
        .merge_carts(&guest.owner_key(), &customer.owner_key(), &merge)
        .await;
    let (report, mut set) = match merged {
        Ok(merged) => merged,
        Err(UpdateError::Rejected(rejection)) => return Ok(Err(rejection)),
        Err(UpdateError::Store(e)) => return Err(e.into()),
    };
    let mut carts = Vec::with_capacity(report.carts.len());
    for merged in &report.carts {
        let stored = set.carts.remove(&merged.name);
        carts.push(price(services, customer, stored, &merged.name, HashMap::new()).await?);
    }
    Ok(Ok(Merged { report, carts }))
}
