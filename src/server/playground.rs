//! The playground at `GET /`: GraphiQL with a session bar when its assets were
//! embedded at build time (see `build.rs`), else a basic editor. Either way the
//! page loads nothing from outside the binary, so it works offline.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::sync::LazyLock;

include!(concat!(env!("OUT_DIR"), "/playground_assets.rs"));

/// The example operations offered in the playground, in storefront order.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "01-start-guest-session",
        include_str!("../../playground/01-start-guest-session.graphql"),
    ),
    (
        "02-browse-products",
        include_str!("../../playground/02-browse-products.graphql"),
    ),
    (
        "03-pick-a-variant",
        include_str!("../../playground/03-pick-a-variant.graphql"),
    ),
    (
        "04-add-to-cart",
        include_str!("../../playground/04-add-to-cart.graphql"),
    ),
    (
        "05-update-quantity",
        include_str!("../../playground/05-update-quantity.graphql"),
    ),
    (
        "06-remove-line",
        include_str!("../../playground/06-remove-line.graphql"),
    ),
    (
        "07-my-carts",
        include_str!("../../playground/07-my-carts.graphql"),
    ),
    (
        "08-log-in-keeping-the-guest-cart",
        include_str!("../../playground/08-log-in-keeping-the-guest-cart.graphql"),
    ),
    (
        "09-buyer-details",
        include_str!("../../playground/09-buyer-details.graphql"),
    ),
    (
        "10-checkout",
        include_str!("../../playground/10-checkout.graphql"),
    ),
    (
        "11-orders",
        include_str!("../../playground/11-orders.graphql"),
    ),
    (
        "12-subscribe-to-cart",
        include_str!("../../playground/12-subscribe-to-cart.graphql"),
    ),
    (
        "13-ship-an-order",
        include_str!("../../playground/13-ship-an-order.graphql"),
    ),
    (
        "14-apply-a-discount-code",
        include_str!("../../playground/14-apply-a-discount-code.graphql"),
    ),
    (
        "15-choose-delivery",
        include_str!("../../playground/15-choose-delivery.graphql"),
    ),
    (
        "16-preview-checkout",
        include_str!("../../playground/16-preview-checkout.graphql"),
    ),
];

/// Whether GraphiQL was embedded (else the basic page is served).
pub fn has_graphiql() -> bool {
    !ASSETS.is_empty()
}

/// The page with the examples inlined.
static PAGE: LazyLock<String> = LazyLock::new(|| {
    let examples: Vec<_> = EXAMPLES
        .iter()
        .map(|(name, source)| serde_json::json!({ "name": name, "source": source }))
        .collect();
    // `<` escaped so no example can close the <script> element.
    let json = serde_json::Value::from(examples)
        .to_string()
        .replace('<', "\\u003c");
    let template = if has_graphiql() {
        include_str!("../../playground/index.html")
    } else {
        include_str!("../../playground/basic.html")
    };
    template.replace("/*EXAMPLES*/[]", &json)
});

/// `GET /`.
pub(super) async fn page() -> Html<&'static str> {
    Html(PAGE.as_str())
}

/// `GET /playground/{asset}`: an embedded file, cacheable for a day.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(asset, _, _)| *asset == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such playground asset").into_response(),
    }
}
