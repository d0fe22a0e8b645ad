//! A failure is logged once, at the edge, naming the request, the operation and the step.

use super::*;
use std::sync::Mutex;

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// What the server logs by default (`info`), captured here while the
    /// guard lives.
    fn logs() -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Runs `query` (as an admin, or anonymously) on a shop whose variant
/// `BROKEN` is unreadable, checks that it fails as `INTERNAL` and that the
/// failure is logged once, at the edge, with the request's id, and returns
/// that line.
async fn logged_once(as_admin: bool, query: &str) -> String {
    let (captured, _guard) = Captured::logs();
    let shop = Shop::open().await;
    shop.store.put_raw_product("BROKEN", b"\x01{\"sku\":");
    let admin = shop.viewer("ops", ViewerKind::Customer, &["admin"]);
    let response = shop
        .run(as_admin.then_some(&admin), query, Value::Null)
        .await;
    assert_eq!(error_code(&response), "INTERNAL");
    let request_id = response["errors"][0]["extensions"]["requestId"]
        .as_str()
        .unwrap();
    let log = captured.text();
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
    assert_eq!(failures.len(), 1, "logged once, at the edge: {log}");
    assert!(
        failures[0].contains(request_id),
        "{request_id} missing from {log}"
    );
    failures[0].to_string()
}

#[tokio::test(start_paused = true)]
async fn a_store_failure_is_logged_with_the_request_the_operation_and_the_step() {
    let line = logged_once(
        false,
        "query Catalogue { variant(sku: \"BROKEN\") { sku } }",
    )
    .await;
    for expected in [
        "operation=\"Catalogue\"",
        "store.variant: stored value under BROKEN is unreadable",
    ] {
        assert!(line.contains(expected), "{expected} missing from {line}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_logged_with_its_step_though_store_spans_are_debug() {
    let line = logged_once(
        true,
        "mutation Restock { adjustStock(input: {sku: \"BROKEN\", delta: 1}) { userErrors { code } } }",
    )
    .await;
    for expected in [
        "operation=\"Restock\"",
        "store.update_variant: stored value under BROKEN is unreadable",
    ] {
        assert!(line.contains(expected), "{expected} missing from {line}");
    }
}
