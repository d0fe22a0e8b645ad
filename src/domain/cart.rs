//! Carts: a viewer's named carts and the rules every change obeys.
//!
//! Each cart is stored on its own; what the rules need of an owner's other
//! carts is in its [`CartIndex`] (see [`index`]). Every change goes through
//! [`CartIndex::apply`]: it checks `expectedVersion`, the limits and the byte
//! budgets, and bumps the version only when the cart really changes.
//! [`CartSet`] is all of one owner's carts read whole (a merge, an export),
//! and applies changes by the same rule.
//!
//! A line is a SKU with a set of attributes (an engraving, a gift message):
//! adding a SKU with the same attributes adds to that line, other attributes
//! make another line. Each line has an id, `"{version}-{n}"`: the version of
//! the change that made it and its place among that change's new lines.
//! Versions never repeat within a cart (see [`CartSet::retired_version`]), so
//! an id is never reused, and it stays the line's through every update.

use super::attributes::{Attribute, AttributeLimits, check_attributes, same_attributes};
use super::buyer::BuyerIdentity;
use super::catalog::Variant;
use super::error::{ErrorCode, Rejection, UserError};
use super::money::Money;
use super::names::{CartName, Sku};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub mod index;

pub use index::{CartEntry, CartIndex, CartWrite, MAX_VERSION};

/// Per-shop limits on carts, validated at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Lines in one cart.
    pub max_lines_per_cart: usize,
    /// Units on one line.
    pub max_quantity_per_line: u32,
    /// Carts holding anything at once, per viewer.
    pub max_carts_per_viewer: usize,
    /// Bytes one cart may take as stored ([`crate::domain::size`]).
    pub max_cart_bytes: usize,
    /// Bytes all of one owner's carts may take together.
    pub max_owner_bytes: usize,
    /// Bytes one order may take as stored.
    pub max_order_bytes: usize,
}

/// Units on one line: 1 to the shop's per-line limit, or 0 where 0 removes
/// the line ([`Zero::Removes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity(u32);

/// What a quantity of 0 means where it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zero {
    /// Nothing: a line holds at least one unit (adding, replacing).
    Refused,
    /// The line goes (updating a line).
    Removes,
}

impl Quantity {
    /// A quantity as the client gave it, checked against `limits`; the
    /// refusal says the range.
    pub fn parse(given: i64, zero: Zero, limits: &Limits) -> Result<Quantity, String> {
        let max = limits.max_quantity_per_line;
        let (min, from) = match zero {
            Zero::Refused => (1, "1"),
            Zero::Removes => (0, "0 (remove)"),
        };
        match u32::try_from(given) {
            Ok(units) if units >= min && units <= max => Ok(Quantity(units)),
            _ => Err(format!("quantity must be {from} to {max}, got {given}")),
        }
    }

    /// The units.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Limits {
    /// Refuses a request naming more lines than a cart holds
    /// (`CART_LIMIT_EXCEEDED`): no request needs more, `checkoutLines`
    /// included, so it is refused before anything is read for them.
    pub fn check_line_count(&self, given: usize) -> Result<(), Rejection> {
        let max = self.max_lines_per_cart;
        if given <= max {
            return Ok(());
        }
        Err(Rejection::one(UserError::new(
            ErrorCode::CartLimitExceeded,
            &["lines"],
            format!("at most {max} lines at once (a cart holds at most {max} lines); got {given}"),
        )))
    }

    /// The defaults of the configuration.
    pub const DEFAULT: Limits = Limits {
        max_lines_per_cart: 100,
        max_quantity_per_line: 999,
        max_carts_per_viewer: 10,
        max_cart_bytes: 64 << 10,
        max_owner_bytes: 256 << 10,
        max_order_bytes: 128 << 10,
    };
}

/// One line of a cart: a SKU with its attributes, and how many. Prices are
/// looked up when read; the price when the line was last added or updated is
/// kept to tell the buyer when it changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// Stable id within the cart (empty only in carts stored by older
    /// versions, until [`Cart`] is read).
    #[serde(default)]
    pub id: String,
    /// The variant's SKU.
    pub sku: Sku,
    /// How many, at least 1 in a stored cart.
    pub quantity: u32,
    /// The line's attributes; they tell two lines of one SKU apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// The unit price when the line was last added or updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
}

impl CartLine {
    /// Whether `other` is the same SKU with the same attributes.
    pub fn same_item(&self, sku: &Sku, attributes: &[Attribute]) -> bool {
        &self.sku == sku && same_attributes(&self.attributes, attributes)
    }
}

/// A line as a change asks for it: no id yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLine {
    /// The variant's SKU.
    pub sku: Sku,
    /// How many.
    pub quantity: u32,
    /// Its attributes.
    pub attributes: Vec<Attribute>,
    /// The unit price now, when the catalog was read.
    pub unit_price: Option<Money>,
}

impl From<&CartLine> for NewLine {
    fn from(line: &CartLine) -> NewLine {
        NewLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            attributes: line.attributes.clone(),
            unit_price: line.unit_price,
        }
    }
}

/// A change to a line addressed by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineUpdate {
    /// The line.
    pub id: String,
    /// Its new quantity; 0 removes it.
    pub quantity: u32,
    /// Its new attributes, if they change.
    pub attributes: Option<Vec<Attribute>>,
}

/// One named cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredCart")]
pub struct Cart {
    /// Its name among the viewer's carts.
    pub name: CartName,
    /// Bumped on every change; 0 for a cart never written.
    pub version: u64,
    /// Lines in the order they were first added.
    pub lines: Vec<CartLine>,
    /// When the cart was first written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The buyer's note to the shop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Attributes of the whole cart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Who buys (e-mail, phone, country, shipping address).
    #[serde(default, skip_serializing_if = "BuyerIdentity::is_empty")]
    pub buyer_identity: BuyerIdentity,
    /// The discount codes the buyer entered (at most
    /// [`MAX_CODES_PER_CART`](super::pricing::MAX_CODES_PER_CART), distinct
    /// ignoring case), as entered: unknown ones are kept and shown as not
    /// applicable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discount_codes: Vec<String>,
    /// The delivery option chosen: a shipping rate's handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_option: Option<String>,
}

/// A cart as stored, before lines from older versions get their ids.
#[derive(Deserialize)]
struct StoredCart {
    name: CartName,
    version: u64,
    lines: Vec<CartLine>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    attributes: Vec<Attribute>,
    #[serde(default)]
    buyer_identity: BuyerIdentity,
    #[serde(default)]
    discount_codes: Vec<String>,
    #[serde(default)]
    delivery_option: Option<String>,
}

impl From<StoredCart> for Cart {
    /// Lines stored before lines had ids get `0-{n}`: no change writes
    /// version 0, so these ids cannot meet one a change makes.
    fn from(stored: StoredCart) -> Cart {
        let mut lines = stored.lines;
        for (n, line) in lines.iter_mut().enumerate() {
            if line.id.is_empty() {
                line.id = format!("0-{n}");
            }
        }
        Cart {
            name: stored.name,
            version: stored.version,
            lines,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            note: stored.note,
            attributes: stored.attributes,
            buyer_identity: stored.buyer_identity,
            discount_codes: stored.discount_codes,
            delivery_option: stored.delivery_option,
        }
    }
}

impl Cart {
    /// The cart a viewer sees before anything is stored under `name`.
    pub fn empty(name: CartName, now: DateTime<Utc>) -> Cart {
        Cart {
            name,
            version: 0,
            lines: Vec::new(),
            created_at: now,
            updated_at: now,
            note: None,
            attributes: Vec::new(),
            buyer_identity: BuyerIdentity::default(),
            discount_codes: Vec::new(),
            delivery_option: None,
        }
    }

    /// The cart `name` as a viewer sees it at `now`, from what is stored
    /// under that name: empty (version 0) when nothing is, blank (its version
    /// kept) when it expired.
    pub fn as_seen(
        stored: Option<Cart>,
        name: &CartName,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Cart {
        match stored {
            Some(cart) if cart.expires_at(lifetime) <= now && !cart.is_blank() => cart.blanked(),
            Some(cart) => cart,
            None => Cart::empty(name.clone(), now),
        }
    }

    /// Whether the cart holds nothing at all: no lines, note, attributes or buyer.
    pub fn is_blank(&self) -> bool {
        self.lines.is_empty()
            && self.note.is_none()
            && self.attributes.is_empty()
            && self.buyer_identity.is_empty()
            && self.discount_codes.is_empty()
            && self.delivery_option.is_none()
    }

    /// When the cart expires if left alone.
    pub fn expires_at(&self, lifetime: Duration) -> DateTime<Utc> {
        self.updated_at + lifetime
    }

    /// The cart as seen at `now`: an expired cart reads as blank (its version stays).
    pub fn as_of(&self, now: DateTime<Utc>, lifetime: Duration) -> Cart {
        if self.expires_at(lifetime) <= now && !self.is_blank() {
            return self.blanked();
        }
        self.clone()
    }

    /// The same cart with nothing in it.
    fn blanked(&self) -> Cart {
        Cart {
            lines: Vec::new(),
            note: None,
            attributes: Vec::new(),
            buyer_identity: BuyerIdentity::default(),
            discount_codes: Vec::new(),
            delivery_option: None,
            ..self.clone()
        }
    }

    /// Whether two carts hold the same things (versions and times aside).
    fn same_content(&self, other: &Cart) -> bool {
        self.lines == other.lines
            && self.note == other.note
            && self.attributes == other.attributes
            && self.buyer_identity == other.buyer_identity
            && self.discount_codes == other.discount_codes
            && self.delivery_option == other.delivery_option
    }

    /// The line with this id.
    pub fn line(&self, id: &str) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.id == id)
    }
}

/// A change to one cart. Quantities and attributes are already checked
/// (by [`check_lines`] and the attribute rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CartChange {
    /// Add to quantities (a new SKU–attributes pair is a new line).
    Add(Vec<NewLine>),
    /// Change lines by id; `catalog` holds the variants of the cart's lines
    /// as they are now (to refresh a line's price, and to refuse raising a
    /// line whose variant is no longer for sale).
    Update {
        /// The changes, in input order.
        lines: Vec<LineUpdate>,
        /// The variants, by SKU.
        catalog: HashMap<Sku, Variant>,
    },
    /// Remove lines by id (ids not in the cart are ignored).
    Remove(Vec<String>),
    /// Remove every line; note, attributes and buyer stay.
    Clear,
    /// Make the lines exactly these (a line that matches one in the cart keeps its id).
    Replace(Vec<NewLine>),
    /// Set (or, with `None`, remove) the note.
    Note(Option<String>),
    /// Replace the cart's attributes.
    Attributes(Vec<Attribute>),
    /// Replace the buyer identity.
    BuyerIdentity(BuyerIdentity),
    /// Replace the discount codes (already checked: at most five, distinct).
    DiscountCodes(Vec<String>),
    /// Choose (or, with `None`, forget) the delivery option.
    DeliveryOption(Option<String>),
    /// Make the cart hold exactly this (a guest's cart moving in at log-in;
    /// a line that matches one in the cart keeps its id).
    Become {
        /// The lines.
        lines: Vec<NewLine>,
        /// The note.
        note: Option<String>,
        /// The cart attributes.
        attributes: Vec<Attribute>,
        /// The buyer.
        buyer_identity: BuyerIdentity,
        /// The discount codes.
        discount_codes: Vec<String>,
        /// The delivery option.
        delivery_option: Option<String>,
    },
    /// Empty the cart completely (after checkout).
    Reset,
}

/// All of one viewer's carts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartSet {
    /// Carts by name, including emptied ones (their version must not restart).
    pub carts: BTreeMap<CartName, Cart>,
    /// Highest version of any cart dropped from the set; new carts start above it
    /// so an old `expectedVersion` (or line id) can never match a new cart.
    pub retired_version: u64,
}

impl CartSet {
    /// The cart called `name` as seen at `now` (empty, version 0, if none is stored).
    pub fn cart(&self, name: &CartName, now: DateTime<Utc>, lifetime: Duration) -> Cart {
        match self.carts.get(name) {
            Some(cart) => cart.as_of(now, lifetime),
            None => Cart::empty(name.clone(), now),
        }
    }

    /// The index of the set ([`CartIndex`]).
    pub fn index(&self) -> CartIndex {
        CartIndex::of(self.carts.values(), self.retired_version)
    }

    /// Applies `change` to the cart `name` by [`CartIndex::apply`]. Returns
    /// whether anything changed; on `Err` the set is left as it was.
    pub fn apply(
        &mut self,
        name: &CartName,
        change: &CartChange,
        expected_version: Option<u64>,
        limits: &Limits,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<bool, Rejection> {
        let mut index = self.index();
        let stored = self.carts.get(name);
        let Some(write) = index.apply(
            stored,
            name,
            change,
            expected_version,
            limits,
            now,
            lifetime,
        )?
        else {
            return Ok(false);
        };
        for dropped in &write.dropped {
            self.carts.remove(dropped);
        }
        self.carts.insert(name.clone(), write.cart);
        self.retired_version = index.retired_version;
        Ok(true)
    }

    /// Drops carts whose lifetime ran out before `now`; returns how many.
    pub fn drop_expired(&mut self, now: DateTime<Utc>, lifetime: Duration) -> usize {
        let mut index = self.index();
        let expired = index.drop_expired(now, lifetime);
        for name in &expired {
            self.carts.remove(name);
        }
        self.retired_version = index.retired_version;
        expired.len()
    }
}

/// Applies `change` to `cart`; new lines get ids made from `version`.
fn change_cart(
    cart: &mut Cart,
    change: &CartChange,
    version: u64,
    limits: &Limits,
) -> Result<(), Rejection> {
    let mut ids = (0u32..).map(|n| format!("{version}-{n}"));
    match change {
        CartChange::Add(add) => {
            let mut errors = Vec::new();
            for (index, new) in add.iter().enumerate() {
                match cart
                    .lines
                    .iter_mut()
                    .find(|l| l.same_item(&new.sku, &new.attributes))
                {
                    Some(existing) => {
                        let total = existing.quantity.saturating_add(new.quantity);
                        if total > limits.max_quantity_per_line {
                            let error = UserError::at(
                                ErrorCode::InvalidQuantity,
                                "lines",
                                index,
                                "quantity",
                                format!(
                                    "{} would reach {total} on its line; at most {} per line",
                                    new.sku, limits.max_quantity_per_line
                                ),
                            );
                            errors.push(error.on_line(&existing.id));
                        }
                        existing.quantity = total;
                        existing.unit_price = new.unit_price.or(existing.unit_price);
                    }
                    None => cart.lines.push(line_from(new, ids.next())),
                }
            }
            if !errors.is_empty() {
                return Err(Rejection::Invalid(errors));
            }
        }
        CartChange::Update { lines, catalog } => update_lines(cart, lines, catalog, limits)?,
        CartChange::Remove(ids) => cart.lines.retain(|l| !ids.contains(&l.id)),
        CartChange::Clear => cart.lines.clear(),
        CartChange::Replace(replace) => cart.lines = replaced(&cart.lines, replace, &mut ids),
        CartChange::Become {
            lines,
            note,
            attributes,
            buyer_identity,
            discount_codes,
            delivery_option,
        } => {
            cart.lines = replaced(&cart.lines, lines, &mut ids);
            cart.note = note.clone();
            cart.attributes = attributes.clone();
            cart.buyer_identity = buyer_identity.clone();
            cart.discount_codes = discount_codes.clone();
            cart.delivery_option = delivery_option.clone();
        }
        CartChange::Note(note) => cart.note = note.clone(),
        CartChange::Attributes(attributes) => cart.attributes = attributes.clone(),
        CartChange::BuyerIdentity(buyer) => cart.buyer_identity = buyer.clone(),
        CartChange::DiscountCodes(codes) => cart.discount_codes = codes.clone(),
        CartChange::DeliveryOption(handle) => cart.delivery_option = handle.clone(),
        CartChange::Reset => *cart = cart.blanked(),
    }
    Ok(())
}

/// `replace` as lines; one that matches a line of `current` keeps its id.
fn replaced(
    current: &[CartLine],
    replace: &[NewLine],
    ids: &mut impl Iterator<Item = String>,
) -> Vec<CartLine> {
    replace
        .iter()
        .map(|new| {
            let id = current
                .iter()
                .find(|l| l.same_item(&new.sku, &new.attributes))
                .map(|l| l.id.clone())
                .or_else(|| ids.next());
            line_from(new, id)
        })
        .collect()
}

fn line_from(new: &NewLine, id: Option<String>) -> CartLine {
    CartLine {
        id: id.unwrap_or_default(),
        sku: new.sku.clone(),
        quantity: new.quantity,
        attributes: new.attributes.clone(),
        unit_price: new.unit_price,
    }
}

/// Changes lines by id. A line whose new attributes make it the same item
/// as an earlier line joins that line (quantities add up).
fn update_lines(
    cart: &mut Cart,
    updates: &[LineUpdate],
    catalog: &HashMap<Sku, Variant>,
    limits: &Limits,
) -> Result<(), Rejection> {
    let mut errors = Vec::new();
    for (index, update) in updates.iter().enumerate() {
        let at = |code, field: &str, message: String| {
            UserError::at(code, "lines", index, field, message)
        };
        if updates[..index].iter().any(|u| u.id == update.id) {
            let error = at(
                ErrorCode::DuplicateLine,
                "id",
                format!("line {} appears more than once", short(&update.id)),
            );
            errors.push(error.on_line(&update.id));
            continue;
        }
        let Some(line) = cart.lines.iter_mut().find(|l| l.id == update.id) else {
            errors.push(at(
                ErrorCode::LineNotFound,
                "id",
                format!("the cart has no line {}", short(&update.id)),
            ));
            continue;
        };
        let variant = catalog.get(&line.sku);
        // A line added after the catalog was read has no entry: not refused.
        let for_sale = variant.is_none_or(|v| v.for_sale());
        if update.quantity > line.quantity && !for_sale {
            let error = at(
                ErrorCode::ProductInactive,
                "quantity",
                format!(
                    "{} is no longer for sale; lower or remove the line",
                    line.sku
                ),
            );
            errors.push(error.on_line(&line.id));
            continue;
        }
        line.quantity = update.quantity;
        if let Some(attributes) = &update.attributes {
            line.attributes = attributes.clone();
        }
        if let Some(variant) = variant {
            line.unit_price = Some(variant.price);
        }
    }
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    cart.lines.retain(|l| l.quantity > 0);
    // Lines that became the same item join the first of them.
    let mut joined: Vec<CartLine> = Vec::with_capacity(cart.lines.len());
    for line in cart.lines.drain(..) {
        match joined
            .iter_mut()
            .find(|l| l.same_item(&line.sku, &line.attributes))
        {
            Some(first) => {
                first.quantity = first.quantity.saturating_add(line.quantity);
                if first.quantity > limits.max_quantity_per_line {
                    let error = UserError::new(
                        ErrorCode::InvalidQuantity,
                        &["lines"],
                        format!(
                            "two lines of {} would join into {} units; at most {} per line",
                            line.sku, first.quantity, limits.max_quantity_per_line
                        ),
                    );
                    errors.push(error.on_line(&first.id));
                }
            }
            None => joined.push(line),
        }
    }
    cart.lines = joined;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Rejection::Invalid(errors))
    }
}

fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

/// A line as a client sends it: unchecked text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineInput {
    /// The SKU.
    pub sku: String,
    /// How many.
    pub quantity: i64,
    /// Attributes as key–value pairs.
    pub attributes: Vec<(String, String)>,
}

/// Checks client input lines against the limits and the catalog: malformed
/// or unknown SKUs, variants not for sale, quantities out of range, bad
/// attributes. A repeated SKU with the same attributes adds up. All
/// problems are reported at once, by input index.
pub fn check_lines(
    input: &[LineInput],
    limits: &Limits,
    attribute_limits: &AttributeLimits,
    catalog: &HashMap<Sku, Variant>,
) -> Result<Vec<NewLine>, Rejection> {
    let mut errors = Vec::new();
    let mut lines = Vec::with_capacity(input.len());
    for (index, given) in input.iter().enumerate() {
        let Some(mut line) = checked_shape(index, given, limits, attribute_limits, &mut errors)
        else {
            continue;
        };
        let at = |code, message: String| UserError::at(code, "lines", index, "sku", message);
        match catalog.get(&line.sku) {
            None => errors.push(at(
                ErrorCode::UnknownSku,
                format!("no product has SKU {}", line.sku),
            )),
            Some(product) if !product.for_sale() => errors.push(at(
                ErrorCode::ProductInactive,
                format!("{} is not for sale", line.sku),
            )),
            Some(product) => {
                line.unit_price = Some(product.price);
                lines.push((index, line));
            }
        }
    }
    let merged = merge_lines(lines, limits, &mut errors);
    if errors.is_empty() {
        Ok(merged.into_iter().map(|(_, line)| line).collect())
    } else {
        Err(Rejection::Invalid(errors))
    }
}

/// Checks what client lines say without the catalog: SKUs well formed,
/// quantities in range, attributes within their limits; a repeated SKU with
/// the same attributes adds up. Each line comes with the input index of its
/// first occurrence (to name it in the errors of later checks). Checkout of
/// client-held lines checks the catalog inside its transaction.
pub fn check_line_shapes(
    input: &[LineInput],
    limits: &Limits,
    attribute_limits: &AttributeLimits,
) -> Result<Vec<(usize, NewLine)>, Rejection> {
    let mut errors = Vec::new();
    let lines = input
        .iter()
        .enumerate()
        .filter_map(|(index, given)| {
            checked_shape(index, given, limits, attribute_limits, &mut errors)
                .map(|line| (index, line))
        })
        .collect();
    let merged = merge_lines(lines, limits, &mut errors);
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(Rejection::Invalid(errors))
    }
}

/// One input line's SKU, quantity and attributes, checked; `None` (with
/// its errors pushed) when any is wrong.
fn checked_shape(
    index: usize,
    given: &LineInput,
    limits: &Limits,
    attribute_limits: &AttributeLimits,
    errors: &mut Vec<UserError>,
) -> Option<NewLine> {
    let at = |code, field, message: String| UserError::at(code, "lines", index, field, message);
    let sku = match Sku::parse(&given.sku) {
        Ok(sku) => sku,
        Err(why) => {
            errors.push(at(ErrorCode::UnknownSku, "sku", why));
            return None;
        }
    };
    let quantity = match Quantity::parse(given.quantity, Zero::Refused, limits) {
        Ok(quantity) => quantity,
        Err(why) => {
            errors.push(at(ErrorCode::InvalidQuantity, "quantity", why));
            return None;
        }
    };
    let index_text = index.to_string();
    match check_attributes(
        &given.attributes,
        &["lines", &index_text, "attributes"],
        attribute_limits,
    ) {
        Ok(attributes) => Some(NewLine {
            sku,
            quantity: quantity.get(),
            attributes,
            unit_price: None,
        }),
        Err(mut why) => {
            errors.append(&mut why);
            None
        }
    }
}

/// Adds up lines of the same SKU with the same attributes (the first keeps
/// its place), refusing a sum over the per-line limit at the later input.
fn merge_lines(
    lines: Vec<(usize, NewLine)>,
    limits: &Limits,
    errors: &mut Vec<UserError>,
) -> Vec<(usize, NewLine)> {
    let max = limits.max_quantity_per_line;
    let mut merged: Vec<(usize, NewLine)> = Vec::with_capacity(lines.len());
    for (index, line) in lines {
        match merged
            .iter_mut()
            .find(|(_, l)| l.sku == line.sku && same_attributes(&l.attributes, &line.attributes))
        {
            Some((_, existing)) => {
                existing.quantity = existing.quantity.saturating_add(line.quantity);
                if existing.quantity > max {
                    errors.push(UserError::at(
                        ErrorCode::InvalidQuantity,
                        "lines",
                        index,
                        "quantity",
                        format!(
                            "{} adds up to {} here; at most {max} per line",
                            line.sku, existing.quantity
                        ),
                    ));
                }
            }
            None => merged.push((index, line)),
        }
    }
    merged
}

/// A cart line with its price from the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedLine {
    /// The stored line.
    pub line: CartLine,
    /// The variant as it is now.
    pub product: Variant,
    /// Its current price.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
}

/// A cart's lines priced from the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedCart {
    /// Priced lines in cart order.
    pub lines: Vec<PricedLine>,
    /// Sum of quantities.
    pub total_quantity: u64,
    /// Sum of line totals.
    pub subtotal: Money,
    /// What the buyer should know before checkout, line by line.
    pub warnings: Vec<Warning>,
}

/// Why a cart could not be priced. Both mean stored data broke an invariant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PricingError {
    /// A line names a product the catalog no longer has.
    #[error("cart line {0} names a product that is not in the catalog")]
    MissingProduct(Sku),
    /// A total does not fit in an i64.
    #[error("cart total overflows")]
    Overflow,
}

/// Something about a line the buyer should know before checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// What kind.
    pub code: WarningCode,
    /// The line it is about.
    pub line_id: String,
    /// In a sentence.
    pub message: String,
}

/// Kinds of [`Warning`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarningCode {
    /// None left.
    OutOfStock,
    /// Fewer left than the line wants.
    InsufficientStock,
    /// The variant is not for sale any more.
    NoLongerAvailable,
    /// The unit price differs from the one when the line was last added or updated.
    PriceChanged,
}

/// The warnings for one line, given its variant as it is now and how many
/// units of its SKU the cart's lines want in all (`wanted`): stock is
/// judged on the sum, as checkout judges it, so a warning and a refusal
/// agree (two engraved and two plain mugs with three left both warn).
pub fn line_warnings(
    line: &CartLine,
    product: &Variant,
    wanted: i64,
    currency: &super::money::Currency,
) -> Vec<Warning> {
    let warn = |code, message: String| Warning {
        code,
        line_id: line.id.clone(),
        message,
    };
    let mut warnings = Vec::new();
    if !product.for_sale() {
        warnings.push(warn(
            WarningCode::NoLongerAvailable,
            format!("{} is no longer for sale", product.sku),
        ));
    } else if product.stock == Some(0) {
        warnings.push(warn(
            WarningCode::OutOfStock,
            format!("{} is out of stock", product.sku),
        ));
    } else if let Some(stock) = product.stock
        && stock < wanted
    {
        let message = if wanted == i64::from(line.quantity) {
            format!(
                "only {stock} of {} left; the line wants {wanted}",
                product.sku
            )
        } else {
            format!(
                "only {stock} of {} left; the cart's lines want {wanted} in all",
                product.sku
            )
        };
        warnings.push(warn(WarningCode::InsufficientStock, message));
    }
    if let Some(was) = line.unit_price
        && was != product.price
    {
        warnings.push(warn(
            WarningCode::PriceChanged,
            format!(
                "the price of {} changed from {} to {} {}",
                product.sku,
                currency.format(was),
                currency.format(product.price),
                currency.code()
            ),
        ));
    }
    warnings
}

/// Prices `lines` with the products in `catalog`, with their warnings.
pub fn price_lines(
    lines: &[CartLine],
    catalog: &HashMap<Sku, Variant>,
    currency: &super::money::Currency,
) -> Result<PricedCart, PricingError> {
    let mut priced = Vec::with_capacity(lines.len());
    let mut warnings = Vec::new();
    let mut subtotal = Money::ZERO;
    let mut total_quantity = 0u64;
    let mut wanted: HashMap<&Sku, i64> = HashMap::new();
    for line in lines {
        *wanted.entry(&line.sku).or_default() += i64::from(line.quantity);
    }
    for line in lines {
        let product = catalog
            .get(&line.sku)
            .ok_or_else(|| PricingError::MissingProduct(line.sku.clone()))?;
        let line_total = product
            .price
            .checked_mul(line.quantity)
            .ok_or(PricingError::Overflow)?;
        subtotal = subtotal
            .checked_add(line_total)
            .ok_or(PricingError::Overflow)?;
        total_quantity += u64::from(line.quantity);
        warnings.extend(line_warnings(line, product, wanted[&line.sku], currency));
        priced.push(PricedLine {
            line: line.clone(),
            product: product.clone(),
            unit_price: product.price,
            line_total,
        });
    }
    Ok(PricedCart {
        lines: priced,
        total_quantity,
        subtotal,
        warnings,
    })
}

#[cfg(test)]
mod tests;
