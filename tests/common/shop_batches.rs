//! What every backend's [`ShopStore::write_shop_records`] must do: write a
//! batch whole or not at all, and let one of several racers for the same
//! records take them. Run by the sled and the PostgreSQL test targets.

use cartql::store::ShopStore;
use cartql::store::shop::{ShopWrite, WEBHOOK_EVENTS, WEBHOOK_OUTBOX, WEBHOOK_QUEUE};
use serde_json::json;
use std::sync::Arc;

fn take(key: &str) -> ShopWrite {
    ShopWrite::Take {
        kind: WEBHOOK_OUTBOX,
        key: key.into(),
    }
}

/// The checks, on `stores` (one or more handles on one store; racers
/// take turns among them, as instances would).
pub async fn a_batch_is_written_whole_or_not_at_all_and_one_racer_takes_it(
    stores: Vec<Arc<dyn ShopStore>>,
) {
    let store = stores[0].clone();
    for key in ["b", "a", "c"] {
        store
            .put_shop_record(WEBHOOK_OUTBOX, key, &json!(key))
            .await
            .unwrap();
    }
    let first = store.first_shop_records(WEBHOOK_OUTBOX, 2).await.unwrap();
    assert_eq!(
        first,
        vec![("a".into(), json!("a")), ("b".into(), json!("b"))]
    );
    // The next page starts after a page's last key; past the last, none.
    let next = store
        .shop_records_after(WEBHOOK_OUTBOX, Some("b"), 2)
        .await
        .unwrap();
    assert_eq!(next, vec![("c".into(), json!("c"))]);
    for after in ["c", "zz"] {
        let none = store
            .shop_records_after(WEBHOOK_OUTBOX, Some(after), 2)
            .await
            .unwrap();
        assert_eq!(none, vec![], "after {after}");
    }
    let between = store
        .shop_records_after(WEBHOOK_OUTBOX, Some("a0"), 5)
        .await
        .unwrap();
    assert_eq!(between.len(), 2, "b and c: a key need not exist");
    assert_eq!(store.count_shop_records(WEBHOOK_OUTBOX).await.unwrap(), 3);
    let batch = [
        take("a"),
        take("b"),
        ShopWrite::Put {
            kind: WEBHOOK_EVENTS,
            key: "a".into(),
            value: json!(1),
        },
        ShopWrite::PutIfAbsent {
            kind: WEBHOOK_QUEUE,
            key: "x".into(),
            value: json!(1),
        },
    ];
    assert!(store.write_shop_records(&batch).await.unwrap());
    assert_eq!(store.count_shop_records(WEBHOOK_OUTBOX).await.unwrap(), 1);
    // `a` is gone: nothing of this one is written.
    let late = [
        take("c"),
        take("a"),
        ShopWrite::Put {
            kind: WEBHOOK_EVENTS,
            key: "z".into(),
            value: json!(2),
        },
    ];
    assert!(!store.write_shop_records(&late).await.unwrap());
    assert_eq!(store.count_shop_records(WEBHOOK_OUTBOX).await.unwrap(), 1);
    assert_eq!(store.count_shop_records(WEBHOOK_EVENTS).await.unwrap(), 1);
    // An existing record stays; a delete of nothing is no failure.
    let again = [
        ShopWrite::PutIfAbsent {
            kind: WEBHOOK_QUEUE,
            key: "x".into(),
            value: json!(2),
        },
        ShopWrite::Delete {
            kind: WEBHOOK_EVENTS,
            key: "none".into(),
        },
        ShopWrite::Delete {
            kind: WEBHOOK_EVENTS,
            key: "a".into(),
        },
    ];
    assert!(store.write_shop_records(&again).await.unwrap());
    let queue = store.shop_records(WEBHOOK_QUEUE).await.unwrap();
    assert_eq!(queue, vec![("x".into(), json!(1))]);
    assert_eq!(store.count_shop_records(WEBHOOK_EVENTS).await.unwrap(), 0);
    // A key written twice in one batch is refused, and nothing written.
    let twice = [
        ShopWrite::Put {
            kind: WEBHOOK_EVENTS,
            key: "t".into(),
            value: json!(1),
        },
        take("c"),
        ShopWrite::Delete {
            kind: WEBHOOK_EVENTS,
            key: "t".into(),
        },
    ];
    assert!(store.write_shop_records(&twice).await.is_err());
    assert_eq!(store.count_shop_records(WEBHOOK_OUTBOX).await.unwrap(), 1);
    // Eight racers for the same 50 records: one takes them.
    let keys: Vec<String> = (0..50).map(|i| format!("k{i:02}")).collect();
    for key in &keys {
        store
            .put_shop_record(WEBHOOK_OUTBOX, key, &json!(0))
            .await
            .unwrap();
    }
    let racers: Vec<_> = (0..8)
        .map(|racer| {
            let store = stores[racer % stores.len()].clone();
            let mut batch: Vec<ShopWrite> = keys.iter().map(|k| take(k)).collect();
            batch.push(ShopWrite::Put {
                kind: WEBHOOK_EVENTS,
                key: format!("racer{racer}"),
                value: json!(racer),
            });
            tokio::spawn(async move { store.write_shop_records(&batch).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap());
    }
    assert_eq!(won, 1);
    assert_eq!(store.count_shop_records(WEBHOOK_EVENTS).await.unwrap(), 1);
    assert_eq!(store.count_shop_records(WEBHOOK_OUTBOX).await.unwrap(), 1);
}
