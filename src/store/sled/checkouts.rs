//! Checkouts on sled, committed in batches.
//!
//! A checkout needs a transaction (stock and usage are shared by every
//! owner; the order, its outbox event, the idempotency record and the
//! emptied cart must land together), and every sled transaction seals a
//! log buffer of its own: one write and one `sync_file_range` each, under
//! the process-wide transaction lock. Measured on a 2-core host, that made
//! sled's I/O threads a third of a checkout's time where an add (no
//! transaction) spends 2 % there.
//!
//! So checkouts queue here, each [`Prepared`] with everything read before
//! (the owner's cart and index under the owner's turn, the pricing), and
//! whichever checkout gets to lead commits every queued one (up to
//! [`MAX_BATCH`]) in one transaction, one after the other inside it: each
//! reads the stock and usage the ones before it left (a transaction reads
//! its own writes), so none oversells; one refused writes nothing of its
//! own and leaves the others alone. Each job holds its owner's turn and the
//! store's write gate until it is committed or taken back, so a caller that
//! goes away (a request timeout) takes back a job still queued, and one
//! already in a batch is committed whole before any other write of its
//! owner begins.

use super::SledStore;
use super::carts::Staged;
use super::codec::encode;
use super::due;
use super::tx::{Abort, TxResult, record, scoped, tx_get};
use crate::domain::idempotency::{Outcome, too_many_keys};
use crate::domain::order::Order;
use crate::domain::pricing::{ShopPricing, USAGE_KIND, Usage};
use crate::domain::{Cart, CartIndex, CartLine, Sku, Variant};
use crate::store::orders::{CheckoutRequest, outbox_record};
use crate::store::owner_locks::OwnerGuard;
use crate::store::shop::meta_key;
use crate::store::{StoreError, UpdateError};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most checkouts one transaction commits: a batch holds sled's
/// process-wide lock while it runs, so every other read and write waits
/// for at most this many checkouts' work.
pub(super) const MAX_BATCH: usize = 32;

/// A checkout with what was read for it before its batch.
pub(super) struct Prepared {
    pub request: CheckoutRequest,
    /// The owner's index as read (an emptied cart is written into it).
    pub index: CartIndex,
    /// The stored cart the checkout buys (`None`: lines sent whole).
    pub stored: Option<Cart>,
    /// What it buys.
    pub lines: Vec<CartLine>,
    pub pricing: ShopPricing,
    /// `meta` keys of the usage records the order may count against.
    pub usage_keys: Vec<Vec<u8>>,
    /// Held until the job is committed or taken back.
    pub _turn: OwnerGuard,
    pub _writing: tokio::sync::OwnedRwLockReadGuard<()>,
}

/// The order placed and whether a stored cart was emptied, or why not.
type Placed = Result<(Order, bool), UpdateError>;

struct Job {
    id: u64,
    prepared: Prepared,
    reply: tokio::sync::oneshot::Sender<Placed>,
}

/// The checkouts waiting for a batch, and who leads the next one.
#[derive(Default)]
pub(super) struct CheckoutQueue {
    pending: std::sync::Mutex<Vec<Job>>,
    leader: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
}

impl CheckoutQueue {
    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oldest queued jobs, at most [`MAX_BATCH`].
    fn take(&self) -> Vec<Job> {
        let mut pending = self.pending();
        let count = pending.len().min(MAX_BATCH);
        pending.drain(..count).collect()
    }
}

/// Takes a job back from the queue when its caller goes away before a
/// batch took it (dropping its turn and hold); a job already taken is
/// committed by its batch.
struct Withdraw<'a> {
    queue: &'a CheckoutQueue,
    id: u64,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        // Dropped (its turn and hold with it) after the queue's lock.
        let taken_back = {
            let mut pending = self.queue.pending();
            let mine = pending.iter().position(|job| job.id == self.id);
            mine.map(|at| pending.remove(at))
        };
        drop(taken_back);
    }
}

impl SledStore {
    /// Commits `prepared` in the next batch: queues it, then either hears
    /// its outcome or leads a batch itself (which may hold it).
    pub(super) async fn checkout_in_batch(&self, prepared: Prepared) -> Placed {
        let queue = &self.checkouts;
        let id = queue.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        queue.pending().push(Job {
            id,
            prepared,
            reply,
        });
        let _withdraw = Withdraw { queue, id };
        loop {
            tokio::select! {
                biased;
                placed = &mut answer => {
                    return placed.unwrap_or_else(|_| {
                        Err(UpdateError::Store(StoreError::backend(
                            "the checkout's batch ended without an answer",
                        )))
                    });
                }
                _leading = queue.leader.lock() => {
                    let jobs = queue.take();
                    if !jobs.is_empty() {
                        self.commit_batch(jobs);
                    }
                }
            }
        }
    }

    /// One transaction for `jobs`, each answered.
    fn commit_batch(&self, jobs: Vec<Job>) {
        let trees = (
            &self.carts,
            &self.cart_index,
            &self.cart_due,
            &self.products,
            &self.orders,
            &self.idempotency,
            &self.idempotency_counts,
            &self.order_owners,
            &self.meta,
        );
        let result = trees.transaction(|trees| {
            let mut outcomes = Vec::with_capacity(jobs.len());
            for job in &jobs {
                outcomes.push(place(&job.prepared, trees)?);
            }
            Ok(outcomes)
        });
        match result {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    // A caller that went away meanwhile hears nothing.
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) => {
                let why = match e {
                    TransactionError::Abort(Abort::Store(e)) => e.to_string(),
                    TransactionError::Abort(Abort::Rejected(r)) => format!("{r:?}"),
                    TransactionError::Storage(e) => e.to_string(),
                };
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(UpdateError::Store(StoreError::backend(format!(
                            "checkout batch: {why}"
                        )))));
                }
            }
        }
    }
}

/// The trees a checkout writes, as its transaction sees them.
type Trees = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

/// What one checkout reads inside its batch's transaction.
struct Read {
    keys: u64,
    catalog: HashMap<Sku, Variant>,
    usage: Usage,
}

/// Reads what `job` needs (seeing the batch's earlier writes).
fn read(job: &Prepared, trees: &Trees) -> TxResult<Read> {
    let (_, _, _, products, _, _, counts, _, meta) = trees;
    let keys: u64 = tx_get(counts, job.request.owner.as_str().as_bytes())?.unwrap_or(0);
    let mut catalog: HashMap<Sku, Variant> = HashMap::with_capacity(job.lines.len());
    for line in &job.lines {
        if let Some(product) = tx_get::<Variant>(products, line.sku.as_str().as_bytes())? {
            catalog.insert(line.sku.clone(), product);
        }
    }
    let usage = read_usage(meta, &job.usage_keys)?;
    Ok(Read {
        keys,
        catalog,
        usage,
    })
}

/// One checkout inside its batch's transaction: reads, decides, and writes
/// only when it places the order. A record it cannot read fails it alone
/// (the batch's others go on); a storage failure fails the batch.
fn place(job: &Prepared, trees: &Trees) -> TxResult<Placed> {
    let (carts, cart_index, cart_due, products, orders, idempotency, counts, owners, meta) = trees;
    let request = &job.request;
    let owner = &request.owner;
    let owner_key = owner.as_str().as_bytes();
    let Read {
        keys,
        catalog,
        usage,
    } = match read(job, trees) {
        Ok(read) => read,
        Err(ConflictableTransactionError::Abort(Abort::Store(e))) => {
            return Ok(Err(UpdateError::Store(e)));
        }
        Err(other) => return Err(other),
    };
    if keys >= request.max_keys_per_owner as u64 {
        return Ok(Err(UpdateError::Rejected(too_many_keys(
            request.max_keys_per_owner,
        ))));
    }
    let mut index = job.index.clone();
    let (placement, emptied) = match request.place(
        &mut index,
        job.stored.as_ref(),
        &job.lines,
        &catalog,
        &job.pricing,
        &usage,
    ) {
        Ok(placed) => placed,
        Err(rejection) => return Ok(Err(UpdateError::Rejected(rejection))),
    };
    counts.insert(owner_key, encode(&(keys + 1)))?;
    for (key, count) in &placement.usage_taken {
        meta.insert(meta_key(USAGE_KIND, key).as_bytes(), encode(count))?;
    }
    for product in &placement.stock_taken {
        products.insert(product.sku.as_str().as_bytes(), encode(product))?;
    }
    if let Some(emptied) = &emptied {
        Staged::write(owner, Some(due::slot_of(&job.index)), &index, emptied)
            .apply(carts, cart_index, cart_due)?;
    }
    let order = placement.order;
    let (event_key, event) = outbox_record(&order);
    meta.insert(event_key.as_bytes(), encode(&event))?;
    orders.insert(scoped(owner, &order.id), encode(&order))?;
    owners.insert(order.id.as_bytes(), owner_key)?;
    idempotency.insert(
        scoped(owner, request.key.as_str()),
        record(
            &request.fingerprint,
            request.now,
            Outcome::Order(order.id.clone()),
        ),
    )?;
    Ok(Ok((order, emptied.is_some())))
}

/// The usage counts at `keys` (`meta` keys of [`USAGE_KIND`] records),
/// read in the batch's transaction: sled runs it under its write lock, so
/// no other checkout takes usage between this read and the commit.
fn read_usage(meta: &TransactionalTree, keys: &[Vec<u8>]) -> TxResult<Usage> {
    let prefix = meta_key(USAGE_KIND, "").len();
    let mut counts = HashMap::with_capacity(keys.len());
    for key in keys {
        if let Some(count) = tx_get::<u64>(meta, key)? {
            let record = String::from_utf8_lossy(&key[prefix..]).into_owned();
            counts.insert(record, count);
        }
    }
    Ok(Usage(counts))
}
