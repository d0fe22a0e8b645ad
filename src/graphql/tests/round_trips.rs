//! How often an operation goes to the store: counted from the store's own
//! spans (`store.*`, one per call), not timed.

use super::*;
use crate::store::traced::StoreCalls;

const CHECKOUT_LINES: &str = "mutation($key: String!) { checkoutLines(input: {lines: [{sku: \"MUG-LOGO\", quantity: 1}, {sku: \"STICKER-PACK\", quantity: 2}], idempotencyKey: $key, buyerIdentity: {email: \"ann@example.com\"}}) { order { id total { amount } lines { sku } } userErrors { code } } }";

#[tokio::test(start_paused = true)]
async fn checkout_lines_goes_to_the_store_once_and_a_retry_once_too() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    let (calls, _guard) = StoreCalls::install();
    let placed = shop
        .data(Some(&ann), CHECKOUT_LINES, serde_json::json!({"key": "k1"}))
        .await;
    assert_eq!(placed["checkoutLines"]["userErrors"], serde_json::json!([]));
    // The key looked up, the variants read, checked and taken, the order
    // and the key written: one transaction.
    assert_eq!(calls.take(), ["store.checkout"]);
    let again = shop
        .data(Some(&ann), CHECKOUT_LINES, serde_json::json!({"key": "k1"}))
        .await;
    assert_eq!(again, placed);
    assert_eq!(calls.take(), ["store.checkout"], "the replay too");
}

#[tokio::test(start_paused = true)]
async fn an_add_reads_each_variant_once_its_check_and_its_answer_share_the_read() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    let (calls, _guard) = StoreCalls::install();
    let add = |sku: &str| serde_json::json!({"sku": sku, "q": 1});
    shop.data(Some(&ann), ADD, add("MUG-LOGO")).await;
    assert_eq!(
        calls.take(),
        ["store.variants_by_sku", "store.update_cart"],
        "one catalog read checks the line and prices the answer"
    );
    shop.data(Some(&ann), ADD, add("STICKER-PACK")).await;
    // The answer also shows the mug, which this add did not name: the
    // catalog is read again for it alone.
    assert_eq!(
        calls.take(),
        [
            "store.variants_by_sku",
            "store.update_cart",
            "store.variants_by_sku"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cart_read_goes_to_the_store_once_for_the_cart_and_its_variants() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    let add = |sku: &str| serde_json::json!({"sku": sku, "q": 1});
    shop.data(Some(&ann), ADD, add("MUG-LOGO")).await;
    shop.data(Some(&ann), ADD, add("STICKER-PACK")).await;
    let (calls, _guard) = StoreCalls::install();
    let read = shop
        .data(
            Some(&ann),
            "{ cart { lines { sku cost { total { amount } } } cost { subtotal { amount } total { amount } } } }",
            serde_json::json!({}),
        )
        .await;
    let lines = read["cart"]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{read}");
    assert!(
        read["cart"]["cost"]["total"]["amount"].is_string(),
        "{read}"
    );
    // PostgreSQL answers the first in one statement; the pricing is each
    // backend's copy, read again only after a pricing change.
    assert_eq!(
        calls.take(),
        ["store.cart_and_variants", "store.shop_pricing"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_subscription_push_checks_the_token_and_reads_the_cart_with_its_variants_in_one_call() {
    use futures_util::StreamExt;
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    shop.data(
        Some(&ann),
        ADD,
        serde_json::json!({"sku": "MUG-LOGO", "q": 1}),
    )
    .await;
    let request =
        Request::new("subscription { cartUpdated { version lines { sku unitPrice { amount } } } }")
            .data(ann.clone());
    let mut stream = shop.engine.execute_stream(request, None);
    let first = stream.next().await.unwrap();
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let (calls, _guard) = StoreCalls::install();
    shop.data(
        Some(&ann),
        ADD,
        serde_json::json!({"sku": "STICKER-PACK", "q": 1}),
    )
    .await;
    calls.take();
    let pushed = serde_json::to_value(stream.next().await.unwrap().data).unwrap();
    assert_eq!(pushed["cartUpdated"]["lines"].as_array().unwrap().len(), 2);
    // The token checked against log-outs, the cart and the variants its
    // lines name, together (PostgreSQL: one statement).
    assert_eq!(calls.take(), ["store.valid_after_cart_and_variants"]);
}
