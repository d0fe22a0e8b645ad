//! What lists cost in a query's complexity: a field inside a list is
//! resolved once per item, so a list field costs its largest size times what
//! is selected in it. Without this, `orders(first: 100) { nodes { lines {
//! title } } }` counted as 3 and 250 aliases of it cost 20 s and 1.5 GB.
//!
//! Sizes are the defaults' worst cases: lines per cart and per order
//! ([`LINES`], the default `--max-lines-per-cart`), carts one viewer may have
//! stored ([`CARTS`]: filled plus emptied ones kept), and a page's `first`
//! (at most 100; larger values are refused by the resolver).

/// Lines a cart or an order holds at most (default `--max-lines-per-cart`).
pub const LINES: usize = 100;

/// Carts one viewer may have stored: `--max-carts-per-viewer` filled ones
/// (default 10) and as many emptied ones kept for their versions.
pub const CARTS: usize = 20;

/// Variants of one product, and values of one option, at most.
pub const VARIANTS: usize = crate::domain::product::MAX_VARIANTS;

/// Images of one product, at most.
pub const IMAGES: usize = crate::domain::image::MAX_IMAGES;

/// Attributes on one line or cart (the default `--max-attributes` is 10;
/// counted at the largest allowed).
pub const ATTRIBUTES: usize = 50;

/// What a field that reads another record from the store costs (a
/// variant's product), besides what is selected in it.
pub const RECORD_READ: usize = 5;

/// What reading one cart costs besides what is selected in it (`cart`, each
/// of `carts`, a `node`): a record read and the pricing of the whole cart (a
/// variant read per line), whatever the selection asks of it. Without it,
/// 990 aliases of `carts { id }` over ten 100-line carts counted 19,800 and
/// took 2 s of a release build.
pub const NODE_READ: usize = RECORD_READ + LINES;

/// What a long text (a product description, up to 5,000 characters) costs.
pub const LONG_TEXT: usize = 5;

/// What an option's values (up to 100 short strings) cost.
pub const OPTION_VALUES: usize = 10;

/// The size a page of `first` items counts as.
pub fn page(first: i32) -> usize {
    first.clamp(0, 100) as usize
}

/// How many variants `Product.variants(first:)` gives at most: all
/// ([`VARIANTS`]) without `first`.
pub fn variants(first: Option<i32>) -> usize {
    first.map_or(VARIANTS, |n| n.clamp(0, VARIANTS as i32) as usize)
}

/// `size` items of `each`, saturating.
pub fn list(size: usize, each: usize) -> usize {
    size.saturating_mul(each.max(1))
}
