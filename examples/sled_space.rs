//! What sled gives back: one owner's carts rewritten again and again through
//! the store's own API (strict durability), printing the data directory's
//! size as it goes, after a clean close and after a reopen.
//!
//!     cargo run --release --example sled_space -- DIR [WRITES] [CARTS]
//!
//! Each write replaces a whole cart of 22 lines of nine 250-byte attributes
//! (about 55 KB, near the 64 KiB budget): the worst a viewer can make each
//! of its writes cost. Numbers, not assertions: see BENCHMARKS.md.

use cartql::domain::attributes::Attribute;
use cartql::domain::{CartChange, CartName, Limits, NewLine, OwnerKey, Sku};
use cartql::store::sled::{Durability, SledStore};
use cartql::store::{CartStore, Store};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: sled_space DIR [WRITES] [CARTS]")?,
    );
    let writes: usize = args
        .next()
        .map_or(Ok(20_000), |a| a.parse())
        .map_err(|e| format!("WRITES: {e}"))?;
    let carts: usize = args
        .next()
        .map_or(Ok(4), |a| a.parse())
        .map_err(|e| format!("CARTS: {e}"))?;
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let store = SledStore::open(&dir, Durability::Strict).map_err(|e| e.to_string())?;
    let owner = OwnerKey::parse("guest:churn").ok_or("owner")?;
    for cart in 0..carts {
        rewrite(&store, &owner, cart, 0).await?;
    }
    println!("{carts} carts filled: {}", describe(&dir));
    let started = Instant::now();
    let every = (writes / 10).max(1);
    for write in 0..writes {
        rewrite(&store, &owner, write % carts, write).await?;
        if (write + 1) % every == 0 {
            println!(
                "{:>7} writes, {:>5} MiB of carts written, {:>5.1} s: {}",
                write + 1,
                (write + 1) * 55 / 1024,
                started.elapsed().as_secs_f64(),
                describe(&dir)
            );
        }
    }
    store.close().await.map_err(|e| e.to_string())?;
    drop(store);
    println!("after a clean close: {}", describe(&dir));
    let store = SledStore::open(&dir, Durability::Strict).map_err(|e| e.to_string())?;
    store.close().await.map_err(|e| e.to_string())?;
    println!("after a reopen: {}", describe(&dir));
    Ok(())
}

/// Replaces cart `cart` with 22 heavy lines that differ with `salt`.
async fn rewrite(
    store: &SledStore,
    owner: &OwnerKey,
    cart: usize,
    salt: usize,
) -> Result<(), String> {
    let name = CartName::parse(&format!("c{cart}"))?;
    let lines = (0..22)
        .map(|i| NewLine {
            sku: Sku::parse("A").expect("a SKU"),
            quantity: 1,
            attributes: (0..9)
                .map(|k| Attribute {
                    key: format!("k{k}"),
                    value: format!("{}{}", i + salt, "é".repeat(120)),
                })
                .collect(),
            unit_price: None,
        })
        .collect();
    let change = CartChange::Replace(lines);
    let now = chrono::Utc::now();
    let life = chrono::Duration::days(30);
    store
        .update_cart(owner, &name, &|index, stored| {
            index.apply(stored, &name, &change, None, &Limits::DEFAULT, now, life)
        })
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(())
}

/// The directory's size: bytes in its files, and blocks allocated.
fn describe(dir: &Path) -> String {
    let (bytes, blocks) = size(dir);
    format!(
        "{:.1} MiB in files, {:.1} MiB allocated",
        bytes as f64 / 1048576.0,
        blocks as f64 * 512.0 / 1048576.0
    )
}

fn size(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let (bytes, blocks) = if meta.is_dir() {
            size(&entry.path())
        } else {
            (meta.len(), meta.blocks())
        };
        total = (total.0 + bytes, total.1 + blocks);
    }
    total
}
