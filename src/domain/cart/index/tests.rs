use super::*;
use crate::domain::attributes::Attribute;
use crate::domain::cart::{CartSet, NewLine};
use crate::domain::money::Money;
use crate::domain::names::Sku;
use crate::domain::testing::now;

fn life() -> Duration {
    Duration::days(30)
}

fn name(s: &str) -> CartName {
    CartName::parse(s).unwrap()
}

/// A line whose one attribute holds `bytes` bytes.
fn line(tag: &str, bytes: usize) -> NewLine {
    NewLine {
        sku: Sku::parse("A").unwrap(),
        quantity: 1,
        attributes: vec![Attribute {
            key: tag.into(),
            value: "x".repeat(bytes),
        }],
        unit_price: Some(Money::from_minor(100)),
    }
}

fn limits(cart: usize, owner: usize) -> Limits {
    Limits {
        max_lines_per_cart: 50,
        max_quantity_per_line: 10,
        max_carts_per_viewer: 3,
        max_cart_bytes: cart,
        max_owner_bytes: owner,
        max_order_bytes: 1 << 20,
    }
}

/// Applies `change` to `cart` of `set` through the index, as a store does,
/// checking that the index written matches the carts written.
fn apply_at(
    set: &mut CartSet,
    cart: &str,
    change: CartChange,
    limits: &Limits,
    at: DateTime<Utc>,
) -> Result<bool, Rejection> {
    let mut index = set.index();
    let stored = set.carts.get(&name(cart)).cloned();
    let Some(write) = index.apply(
        stored.as_ref(),
        &name(cart),
        &change,
        None,
        limits,
        at,
        life(),
    )?
    else {
        return Ok(false);
    };
    for dropped in &write.dropped {
        assert!(set.carts.remove(dropped).is_some(), "drops a stored cart");
    }
    set.carts.insert(write.cart.name.clone(), write.cart);
    set.retired_version = index.retired_version;
    assert_eq!(index, set.index(), "the index describes the carts");
    Ok(true)
}

fn apply(
    set: &mut CartSet,
    cart: &str,
    change: CartChange,
    limits: &Limits,
) -> Result<bool, Rejection> {
    apply_at(set, cart, change, limits, now())
}

fn refusal(result: Result<bool, Rejection>) -> UserError {
    let errors = result.unwrap_err().into_user_errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn a_cart_may_not_grow_past_its_byte_budget_but_may_always_shrink() {
    let roomy = limits(4096, 1 << 20);
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("a", 3000)]),
        &roomy,
    )
    .unwrap();
    let error = refusal(apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("b", 1500)]),
        &roomy,
    ));
    assert_eq!(error.code, ErrorCode::CartLimitExceeded);
    assert_eq!(error.field, ["cart"]);
    assert!(
        error.message.contains("--max-cart-bytes"),
        "{}",
        error.message
    );
    assert_eq!(
        set.carts[&name("default")].lines.len(),
        1,
        "nothing changed"
    );
    // A budget lowered below what is stored: growing is refused, shrinking is not.
    let tight = limits(1024, 1 << 20);
    let error = refusal(apply(
        &mut set,
        "default",
        CartChange::Note(Some("hi".into())),
        &tight,
    ));
    assert_eq!(error.code, ErrorCode::CartLimitExceeded);
    assert!(apply(&mut set, "default", CartChange::Clear, &tight).unwrap());
}

#[test]
fn bytes_are_counted_as_stored_so_wide_characters_cost_more() {
    let mut ascii = CartSet::default();
    let mut wide = CartSet::default();
    let narrow = limits(1 << 20, 1 << 20);
    let mut four = line("a", 0);
    four.attributes[0].value = "𝄞".repeat(100);
    let mut one = line("a", 0);
    one.attributes[0].value = "x".repeat(100);
    apply(&mut wide, "default", CartChange::Add(vec![four]), &narrow).unwrap();
    apply(&mut ascii, "default", CartChange::Add(vec![one]), &narrow).unwrap();
    // 300 more bytes of text, and a longer length prefix (str16, not str8).
    assert_eq!(
        wide.index().total_bytes() - ascii.index().total_bytes(),
        301
    );
}

#[test]
fn all_of_an_owner_s_carts_share_one_budget() {
    let owner = limits(4096, 7000);
    let mut set = CartSet::default();
    apply(
        &mut set,
        "a",
        CartChange::Add(vec![line("a", 3000)]),
        &owner,
    )
    .unwrap();
    apply(
        &mut set,
        "b",
        CartChange::Add(vec![line("b", 3000)]),
        &owner,
    )
    .unwrap();
    let error = refusal(apply(
        &mut set,
        "c",
        CartChange::Add(vec![line("c", 1500)]),
        &owner,
    ));
    assert!(
        error.message.contains("--max-owner-bytes"),
        "{}",
        error.message
    );
    assert!(!set.carts.contains_key(&name("c")));
    // Emptying one cart makes room for another.
    apply(&mut set, "a", CartChange::Clear, &owner).unwrap();
    apply(
        &mut set,
        "c",
        CartChange::Add(vec![line("c", 1500)]),
        &owner,
    )
    .unwrap();
}

#[test]
fn a_write_drops_the_owner_s_expired_carts_and_retires_their_versions() {
    let roomy = limits(1 << 20, 1 << 20);
    let mut set = CartSet::default();
    for _ in 0..4 {
        apply(
            &mut set,
            "old",
            CartChange::Add(vec![line("a", 10)]),
            &roomy,
        )
        .unwrap();
    }
    let later = now() + life() + Duration::seconds(1);
    apply_at(
        &mut set,
        "new",
        CartChange::Add(vec![line("b", 10)]),
        &roomy,
        later,
    )
    .unwrap();
    assert!(
        !set.carts.contains_key(&name("old")),
        "the expired cart is gone"
    );
    assert_eq!(set.retired_version, 4);
    // Its name starts above every version it had.
    apply_at(
        &mut set,
        "old",
        CartChange::Add(vec![line("c", 10)]),
        &roomy,
        later,
    )
    .unwrap();
    assert_eq!(set.carts[&name("old")].version, 5);
}

#[test]
fn expired_carts_do_not_count_against_the_filled_cart_limit() {
    let roomy = limits(1 << 20, 1 << 20);
    let mut set = CartSet::default();
    for cart in ["a", "b", "c"] {
        apply(
            &mut set,
            cart,
            CartChange::Add(vec![line(cart, 10)]),
            &roomy,
        )
        .unwrap();
    }
    let error = refusal(apply(
        &mut set,
        "d",
        CartChange::Add(vec![line("d", 10)]),
        &roomy,
    ));
    assert!(
        error.message.contains("at most 3 carts"),
        "{}",
        error.message
    );
    let later = now() + life() + Duration::seconds(1);
    apply_at(
        &mut set,
        "d",
        CartChange::Add(vec![line("d", 10)]),
        &roomy,
        later,
    )
    .unwrap();
    assert_eq!(set.carts.len(), 1);
}

#[test]
fn emptied_carts_beyond_the_limit_are_dropped_so_the_index_stays_small() {
    let roomy = limits(1 << 20, 1 << 20);
    let mut set = CartSet::default();
    for i in 0..20 {
        let cart = format!("c{i}");
        apply(
            &mut set,
            &cart,
            CartChange::Add(vec![line("a", 10)]),
            &roomy,
        )
        .unwrap();
        apply(&mut set, &cart, CartChange::Clear, &roomy).unwrap();
    }
    assert!(set.carts.len() <= 4, "{} carts kept", set.carts.len());
    let highest = set.carts.values().map(|c| c.version).max().unwrap();
    assert!(set.retired_version < highest);
}

#[test]
fn a_cart_at_the_highest_version_is_refused_instead_of_wrapping() {
    let roomy = limits(1 << 20, 1 << 20);
    for stored_version in [MAX_VERSION, u64::MAX] {
        let mut set = CartSet::default();
        apply(
            &mut set,
            "default",
            CartChange::Add(vec![line("a", 10)]),
            &roomy,
        )
        .unwrap();
        set.carts.get_mut(&name("default")).unwrap().version = stored_version;
        let error = refusal(apply(&mut set, "default", CartChange::Clear, &roomy));
        assert_eq!(error.code, ErrorCode::CartLimitExceeded);
        assert!(
            error.message.contains("highest version"),
            "{}",
            error.message
        );
        // A change that changes nothing is still answered.
        assert!(
            !apply(
                &mut set,
                "default",
                CartChange::Remove(vec!["x".into()]),
                &roomy
            )
            .unwrap()
        );
    }
}

#[test]
fn the_bytes_an_entry_counts_are_what_sled_stores_for_the_cart() {
    let roomy = limits(1 << 20, 1 << 20);
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("a", 500), line("b", 7)]),
        &roomy,
    )
    .unwrap();
    let cart = &set.carts[&name("default")];
    let encoded = rmp_serde::to_vec_named(cart).unwrap();
    assert_eq!(CartEntry::of(cart).bytes, encoded.len() as u64);
}
