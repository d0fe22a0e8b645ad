//! Fills a store with many carts for `scripts/bench --million`: N customers
//! (`load-0` …), each with a default cart of three lines from the demo
//! catalog, written through the store's own API (the same encoding and keys
//! the server writes). The script then starts the server on it and measures
//! time to ready, memory and disk.
//!
//! ```sh
//! cargo run --release --example load_carts -- DATA_DIR 1000000 [relaxed]
//! ```

use cartql::domain::{CartChange, CartName, Limits, NewLine, OwnerKey, Sku};
use cartql::store::sled::{Durability, SledStore};
use cartql::store::{CartStore, CatalogStore, Store};
use chrono::Utc;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(count)) = (args.get(1), args.get(2)) else {
        return Err("usage: load_carts DATA_DIR COUNT".into());
    };
    let count: usize = count.parse().map_err(|_| "COUNT is a number".to_string())?;
    let dir = PathBuf::from(dir);
    cartql::store::data_dir::prepare(&dir).map_err(|e| e.to_string())?;
    // Written as the server writes by default: each write on disk before the
    // next of its task (group commit), so memory holds no backlog of
    // unflushed pages. `relaxed` as a third argument loads faster.
    let durability = match args.get(3).map(String::as_str) {
        Some("relaxed") => Durability::Relaxed,
        _ => Durability::Strict,
    };
    let store = Arc::new(SledStore::open(&dir, durability).map_err(|e| e.to_string())?);
    store.pin_currency("USD").await.map_err(|e| e.to_string())?;
    let currency = cartql::domain::Currency::parse("USD")?;
    let catalog = cartql::catalog_file::parse(cartql::catalog_file::DEMO, &currency)?;
    store
        .import_catalog(&catalog.records, &catalog.variants)
        .await
        .map_err(|e| e.to_string())?;
    let limits = Limits::DEFAULT;
    let skus: Vec<Sku> = ["MUG-LOGO", "TEE-BLK-M", "STICKER-PACK"]
        .iter()
        .map(|s| Sku::parse(s))
        .collect::<Result<_, _>>()?;
    let change = CartChange::Add(
        skus.iter()
            .map(|sku| NewLine {
                sku: sku.clone(),
                quantity: 2,
                attributes: Vec::new(),
                unit_price: None,
            })
            .collect(),
    );
    let started = Instant::now();
    let workers = 8;
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let (store, change) = (store.clone(), change.clone());
        tasks.push(tokio::spawn(async move {
            let name = CartName::default_cart();
            let lifetime = chrono::Duration::days(180);
            for i in (worker..count).step_by(workers) {
                let owner = OwnerKey::parse(&format!("customer:load-{i}"))
                    .ok_or_else(|| format!("bad owner key load-{i}"))?;
                let now = Utc::now();
                store
                    .update_cart(&owner, &name, &|index, stored| {
                        index.apply(stored, &name, &change, None, &limits, now, lifetime)
                    })
                    .await
                    .map_err(|e| format!("{e:?}"))?;
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    store.close().await.map_err(|e| e.to_string())?;
    println!(
        "  loaded {count} carts in {:.1} s, peak RSS of the loader {} MiB",
        started.elapsed().as_secs_f64(),
        peak_rss_kib() / 1024
    );
    Ok(())
}

/// This process's peak resident memory (Linux: `VmHWM`), in KiB; 0 if unknown.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
