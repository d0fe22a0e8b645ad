//! Global ids: every entity a client caches
//! (`Cart`, `CartLine`, `Product`, `ProductVariant`, `Order`, `OrderLine`,
//! and the admin's `Discount`)
//! has an id unique across the whole shop, so a normalized cache (Apollo
//! Client, urql graphcache, Relay) that keys entities by `__typename` + `id`
//! never merges two of them. [`node`](super::node) reads them back.
//!
//! The format is Shopify's: `gid://cartql/<Type>/<key>`, the key made of the
//! entity's own names, which are all URL-safe (cart names, line ids,
//! handles, SKUs, ULIDs):
//!
//! | type | key |
//! |---|---|
//! | `Cart` | `<owner tag>/<cart name>` |
//! | `CartLine` | `<owner tag>/<cart name>/<line id in the cart>` |
//! | `Product` | `<handle>` |
//! | `ProductVariant` | `<sku>` |
//! | `Order` | `<order ULID>` |
//! | `OrderLine` | `<order ULID>/<line number from 1>` |
//! | `Discount` | `<discount ULID>` |
//!
//! The owner tag is the first 96 bits of the SHA-256 of the owner key, in
//! hex: it keeps the carts of two viewers apart without showing who the
//! viewer is.
//!
//! Ids of older versions still work where a client may hold one: a cart
//! line's id within its cart (`3-0`) in `updateCartLines`/`removeCartLines`,
//! and an order's bare ULID wherever an order id is taken. A discount's
//! bare ULID is taken wherever a discount id is, too.

use crate::app::{discounts, orders};
use crate::auth::Viewer;
use crate::domain::names::OrderId;
use crate::domain::{CartName, Handle, OwnerKey, Sku};
use async_graphql::ID;
use std::sync::OnceLock;

/// What every global id starts with.
const PREFIX: &str = "gid://cartql/";

/// The longest line id within a cart (`<version>-<n>`: two u64s and a dash).
const MAX_LINE_ID: usize = 41;

/// A global id, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobalId {
    /// A cart: whose (the owner tag) and which.
    Cart { owner: String, cart: CartName },
    /// A cart line: its cart, and its id within it.
    CartLine {
        owner: String,
        cart: CartName,
        line: String,
    },
    /// A product by handle.
    Product(Handle),
    /// A variant by SKU.
    ProductVariant(Sku),
    /// An order by id.
    Order(OrderId),
    /// An order's line, numbered from 1.
    OrderLine(OrderId, usize),
    /// A discount by id (a ULID, canonical).
    Discount(String),
}

impl GlobalId {
    /// Reads `text`; `None` for anything that is not a global id this shop
    /// makes (the wrong prefix or type, a malformed key, extra parts).
    pub fn parse(text: &str) -> Option<GlobalId> {
        let rest = text.strip_prefix(PREFIX)?;
        let (kind, key) = rest.split_once('/')?;
        let parts: Vec<&str> = key.split('/').collect();
        match (kind, parts.as_slice()) {
            ("Cart", [owner, cart]) => Some(GlobalId::Cart {
                owner: tag(owner)?,
                cart: CartName::parse(cart).ok()?,
            }),
            ("CartLine", [owner, cart, line]) => Some(GlobalId::CartLine {
                owner: tag(owner)?,
                cart: CartName::parse(cart).ok()?,
                line: line_id(line)?,
            }),
            ("Product", [handle]) => Handle::parse(handle).ok().map(GlobalId::Product),
            ("ProductVariant", [sku]) => Sku::parse(sku).ok().map(GlobalId::ProductVariant),
            ("Order", [id]) => order(id).map(GlobalId::Order),
            ("OrderLine", [id, number]) => {
                let n: usize = number.parse().ok()?;
                // Canonical numbers only ("01" or "+1" would be a second id for line 1).
                (n >= 1 && n.to_string() == *number).then_some(())?;
                Some(GlobalId::OrderLine(order(id)?, n))
            }
            ("Discount", [id]) => discounts::discount_id(id)
                .filter(|canonical| canonical == id)
                .map(GlobalId::Discount),
            _ => None,
        }
    }

    /// The id as clients see it.
    pub fn to_id(&self) -> ID {
        ID(match self {
            GlobalId::Cart { owner, cart } => format!("{PREFIX}Cart/{owner}/{}", cart.as_str()),
            GlobalId::CartLine { owner, cart, line } => {
                format!("{PREFIX}CartLine/{owner}/{}/{line}", cart.as_str())
            }
            GlobalId::Product(handle) => format!("{PREFIX}Product/{}", handle.as_str()),
            GlobalId::ProductVariant(sku) => format!("{PREFIX}ProductVariant/{}", sku.as_str()),
            GlobalId::Order(id) => return order_id(id.as_str()),
            GlobalId::OrderLine(id, n) => return order_line_id(id.as_str(), *n),
            GlobalId::Discount(id) => return discount_id(id),
        })
    }
}

/// An owner tag as written in ids: 24 lowercase hex digits.
fn tag(text: &str) -> Option<String> {
    let ok = text.len() == 24 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then(|| text.to_string())
}

/// A line id within a cart as the domain makes them: `<digits>-<digits>`.
fn line_id(text: &str) -> Option<String> {
    let (version, n) = text.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (text.len() <= MAX_LINE_ID && digits(version) && digits(n)).then(|| text.to_string())
}

/// An order id in its canonical spelling.
fn order(text: &str) -> Option<OrderId> {
    OrderId::parse(text).filter(|id| id.as_str() == text)
}

/// The tag that keeps `owner`'s carts apart from everyone else's in ids.
pub fn owner_tag(owner: &OwnerKey) -> String {
    owner.tag()
}

/// The global id of the cart `name` of the owner tagged `owner`.
pub fn cart_id(owner: &str, name: &CartName) -> ID {
    GlobalId::Cart {
        owner: owner.to_string(),
        cart: name.clone(),
    }
    .to_id()
}

/// The global id of line `line` of that cart.
pub fn cart_line_id(owner: &str, name: &CartName, line: &str) -> ID {
    GlobalId::CartLine {
        owner: owner.to_string(),
        cart: name.clone(),
        line: line.to_string(),
    }
    .to_id()
}

/// The global id of the order `ulid`.
pub fn order_id(ulid: &str) -> ID {
    ID(format!("{PREFIX}Order/{ulid}"))
}

/// The global id of line `n` (from 1) of the order `ulid`.
pub fn order_line_id(ulid: &str, n: usize) -> ID {
    ID(format!("{PREFIX}OrderLine/{ulid}/{n}"))
}

/// The global id of the discount `ulid`.
pub fn discount_id(ulid: &str) -> ID {
    ID(format!("{PREFIX}Discount/{ulid}"))
}

/// The discount id inside `given`: the ULID of a global `Discount` id, or
/// `given` itself (a bare ULID).
pub fn discount_ref(given: &str) -> &str {
    given
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_prefix("Discount/"))
        .unwrap_or(given)
}

/// A discount cursor (a discount's ULID, as `edges.cursor` gives), also
/// taken as the discount's global id, in the canonical spelling.
pub fn discount_cursor(given: &str) -> Option<String> {
    discounts::discount_id(discount_ref(given))
}

/// A line id as a client gave it to a mutation on cart `cart` of `viewer`,
/// turned into the id within the cart: a global id of one of this cart's
/// lines, or an id within the cart as older versions showed them. A global
/// id of another cart (or another viewer's) comes back as given, which no
/// line of this cart has.
pub fn line_in_cart(viewer: &Viewer, cart: &str, given: &str) -> String {
    match GlobalId::parse(given) {
        Some(GlobalId::CartLine {
            owner,
            cart: name,
            line,
        }) if name.as_str() == cart && owner == owner_tag(&viewer.owner_key()) => line,
        _ => given.to_string(),
    }
}

/// The order id inside `given`: the ULID of a global `Order` id, or `given`
/// itself (a bare ULID, as older versions showed order ids).
pub fn order_ref(given: &str) -> &str {
    given
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_prefix("Order/"))
        .unwrap_or(given)
}

/// An order cursor (an order's ULID, as `edges.cursor` gives), also taken
/// as the order's global id, in the canonical spelling the store compares.
pub fn order_cursor(given: &str) -> Option<String> {
    orders::order_id(order_ref(given))
}

/// The ids of one viewer's cart and its lines.
#[derive(Clone, Debug)]
pub struct CartIds {
    owner: OwnerKey,
    /// The owner's tag (a SHA-256 of its key), made when an id is first
    /// asked for: a query that selects no id makes none.
    tag: OnceLock<String>,
    cart: CartName,
    /// The ids (within the cart) of the lines it holds.
    lines: Vec<String>,
}

impl CartIds {
    /// The ids of `owner`'s cart `cart`, which holds the lines `lines`.
    pub fn new(owner: &OwnerKey, cart: &CartName, lines: Vec<String>) -> CartIds {
        CartIds {
            owner: owner.clone(),
            tag: OnceLock::new(),
            cart: cart.clone(),
            lines,
        }
    }

    fn tag(&self) -> &str {
        self.tag.get_or_init(|| owner_tag(&self.owner))
    }

    /// The global id of the line `line` if the cart holds it.
    pub fn held_line(&self, line: &str) -> Option<ID> {
        self.lines
            .iter()
            .any(|l| l == line)
            .then(|| self.line(line))
    }

    /// The cart's global id.
    pub fn cart(&self) -> ID {
        cart_id(self.tag(), &self.cart)
    }

    /// The global id of its line `line` (the id within the cart).
    pub fn line(&self, line: &str) -> ID {
        cart_line_id(self.tag(), &self.cart, line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(id: GlobalId) {
        let text = id.to_id().to_string();
        assert_eq!(GlobalId::parse(&text), Some(id), "{text}");
    }

    #[test]
    fn every_kind_reads_back() {
        let owner = owner_tag(&OwnerKey::parse("guest:abc").unwrap());
        let cart = CartName::parse("wish_list-2").unwrap();
        let order = OrderId::parse("01JABCDEFGHJKMNPQRSTVWXYZ0").unwrap();
        round_trip(GlobalId::Cart {
            owner: owner.clone(),
            cart: cart.clone(),
        });
        round_trip(GlobalId::CartLine {
            owner,
            cart,
            line: "12-3".into(),
        });
        round_trip(GlobalId::Product(Handle::parse("black-tee").unwrap()));
        round_trip(GlobalId::ProductVariant(Sku::parse("TEE.BLK_M-1").unwrap()));
        round_trip(GlobalId::Order(order.clone()));
        round_trip(GlobalId::OrderLine(order, 7));
        round_trip(GlobalId::Discount("01JABCDEFGHJKMNPQRSTVWXYZ0".into()));
    }

    #[test]
    fn owners_get_different_tags_that_hide_them() {
        let a = owner_tag(&OwnerKey::parse("guest:a").unwrap());
        let b = owner_tag(&OwnerKey::parse("customer:a").unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(tag(&a).is_some(), "a tag reads back as one");
    }

    #[test]
    fn an_abandoned_carts_resource_id_is_the_carts_global_id() {
        let owner = OwnerKey::parse("guest:a").unwrap();
        let cart = CartName::parse("default").unwrap();
        let ids = CartIds::new(&owner, &cart, Vec::new());
        assert_eq!(
            crate::domain::webhook::cart_resource_id(&owner, &cart),
            ids.cart().to_string()
        );
    }

    #[test]
    fn malformed_ids_read_as_none() {
        let owner = "0123456789abcdef01234567";
        for bad in [
            "",
            "gid://cartql/",
            "gid://shopify/Product/black-tee",
            "gid://cartql/Product/",
            "gid://cartql/Product/Black Tee",
            "gid://cartql/Product/black-tee/extra",
            "gid://cartql/Nope/x",
            "gid://cartql/Cart/short/default",
            &format!("gid://cartql/Cart/{}/default", owner.to_uppercase()),
            &format!("gid://cartql/Cart/{owner}/Default"),
            &format!("gid://cartql/CartLine/{owner}/default/1"),
            &format!("gid://cartql/CartLine/{owner}/default/1-x"),
            &format!("gid://cartql/CartLine/{owner}/default/-1"),
            &format!("gid://cartql/CartLine/{owner}/default/{}-1", "9".repeat(50)),
            "gid://cartql/Order/01jabcdefghjkmnpqrstvwxyz0",
            "gid://cartql/Discount/01jabcdefghjkmnpqrstvwxyz0",
            "gid://cartql/Discount/01JABCDEFGHJKMNPQRSTVWXYZ0/1",
            "gid://cartql/Discount/SUMMER",
            "gid://cartql/Order/81JABCDEFGHJKMNPQRSTVWXYZ0",
            "gid://cartql/OrderLine/01JABCDEFGHJKMNPQRSTVWXYZ0/0",
            "gid://cartql/OrderLine/01JABCDEFGHJKMNPQRSTVWXYZ0/01",
            "gid://cartql/OrderLine/01JABCDEFGHJKMNPQRSTVWXYZ0/+1",
            "gid://cartql/OrderLine/01JABCDEFGHJKMNPQRSTVWXYZ0/99999999999999999999999",
            "1-0",
        ] {
            assert_eq!(GlobalId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn order_refs_take_both_spellings() {
        assert_eq!(order_ref("gid://cartql/Order/01J"), "01J");
        assert_eq!(order_ref("01J"), "01J");
        assert_eq!(order_ref("gid://cartql/Cart/x"), "gid://cartql/Cart/x");
        assert_eq!(discount_ref("gid://cartql/Discount/01J"), "01J");
        assert_eq!(discount_ref("01J"), "01J");
        let ulid = "01JABCDEFGHJKMNPQRSTVWXYZ0";
        let lower = ulid.to_lowercase();
        assert_eq!(discount_cursor(&lower).as_deref(), Some(ulid));
        assert_eq!(
            discount_cursor(&format!("gid://cartql/Discount/{ulid}")).as_deref(),
            Some(ulid)
        );
        assert_eq!(
            discount_cursor("gid://cartql/Order/01JABCDEFGHJKMNPQRSTVWXYZ0"),
            None
        );
    }
}
