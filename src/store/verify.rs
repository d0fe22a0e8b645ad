//! `cartql verify`: a store's invariants, checked over its export records
//! (the same stream for both backends, and for a backup file), with what it
//! counted. A broken invariant is a problem (the command exits non-zero); a
//! cart line of a SKU the catalog no longer has is only flagged: carts keep
//! such lines on purpose and show them unavailable.

use super::shop::{WEBHOOK_EVENTS, WEBHOOK_OUTBOX, WEBHOOK_QUEUE};
use super::snapshot::Record;
use crate::domain::cart::MAX_VERSION;
use crate::domain::idempotency::Outcome;
use crate::domain::order::Order;
use std::collections::{BTreeMap, HashSet};

/// The most problems listed one by one (all are counted).
const MAX_LISTED: usize = 50;

/// What a verification counted and found.
#[derive(Debug, Default)]
pub struct Verification {
    /// Records by type.
    pub counts: BTreeMap<&'static str, u64>,
    /// Cart lines whose SKU the catalog does not have (flagged, not broken).
    pub unknown_sku_lines: u64,
    /// Broken invariants, the first [`MAX_LISTED`] in words.
    pub problems: Vec<String>,
    /// How many problems in all.
    pub problem_count: u64,
    skus: HashSet<String>,
    cart_skus: Vec<String>,
    orders: HashSet<(String, String)>,
    claimed_orders: Vec<(String, String, String)>,
    kept_events: HashSet<String>,
    queued_events: Vec<(String, String)>,
}

impl Verification {
    /// Verifies `records` (a whole store, in any order).
    pub fn of(records: impl IntoIterator<Item = Record>) -> Verification {
        let mut verification = Verification::default();
        for record in records {
            verification.add(record);
        }
        verification.finish();
        verification
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(text);
        }
    }

    fn count(&mut self, what: &'static str, n: u64) {
        *self.counts.entry(what).or_default() += n;
    }

    /// Takes one record.
    pub fn add(&mut self, record: Record) {
        if let Err(why) = record.check() {
            self.problem(why);
        }
        match record {
            Record::Currency { .. } => self.count("currency", 1),
            Record::VersionFloor { version } => {
                self.count("version floor", 1);
                if version > MAX_VERSION {
                    self.problem(format!(
                        "the version floor {version} is above {MAX_VERSION}"
                    ));
                }
            }
            Record::Variant { product } => {
                self.count("variants", 1);
                if let Some(stock) = product.stock
                    && stock < 0
                {
                    self.problem(format!(
                        "variant {} has stock {stock}, below zero",
                        product.sku
                    ));
                }
                self.skus.insert(product.sku.as_str().to_string());
            }
            Record::Product { .. } => self.count("products", 1),
            Record::Carts { owner, carts } => {
                self.count("owners with carts", 1);
                for (name, cart) in &carts.carts {
                    self.count("carts", 1);
                    self.count("cart lines", cart.lines.len() as u64);
                    if cart.version == 0 && !cart.lines.is_empty() {
                        self.problem(format!("cart {owner}/{name} has lines at version 0"));
                    }
                    self.cart_skus
                        .extend(cart.lines.iter().map(|l| l.sku.as_str().to_string()));
                }
            }
            Record::Order { owner, order } => {
                self.count("orders", 1);
                for why in order_problems(&order) {
                    self.problem(format!("order {} of {owner}: {why}", order.id));
                }
                self.orders.insert((owner, order.id.clone()));
            }
            Record::Account { .. } => self.count("accounts", 1),
            Record::ValidAfter { .. } => self.count("revocations", 1),
            Record::Shop { kind, key, data } => {
                self.count("shop records", 1);
                match kind.as_str() {
                    WEBHOOK_EVENTS | WEBHOOK_OUTBOX => {
                        self.kept_events.insert(key);
                    }
                    WEBHOOK_QUEUE => {
                        let event = data
                            .get("event_id")
                            .and_then(|e| e.as_str())
                            .unwrap_or_default()
                            .to_string();
                        self.queued_events.push((key, event));
                    }
                    _ => {}
                }
            }
            Record::Idempotency { owner, key, record } => {
                self.count("idempotency records", 1);
                if let Outcome::Order(id) = record.outcome {
                    self.claimed_orders.push((owner, key, id));
                }
            }
        }
    }

    /// Checks what needs every record seen (call once, after the last [`add`](Self::add)).
    pub fn finish(&mut self) {
        let unknown = self
            .cart_skus
            .iter()
            .filter(|sku| !self.skus.contains(*sku))
            .count();
        self.unknown_sku_lines = unknown as u64;
        let dangling: Vec<String> = self
            .claimed_orders
            .iter()
            .filter(|(owner, _, id)| !self.orders.contains(&(owner.clone(), id.clone())))
            .map(|(owner, key, id)| {
                format!(
                    "idempotency key '{key}' of {owner} points at order {id}, which is not there"
                )
            })
            .collect();
        let lost: Vec<String> = self
            .queued_events
            .iter()
            .filter(|(_, event)| !self.kept_events.contains(event))
            .map(|(delivery, event)| {
                format!("webhook delivery {delivery} is of event '{event}', which is not kept")
            })
            .collect();
        for why in dangling.into_iter().chain(lost) {
            self.problem(why);
        }
    }

    /// A broken invariant of the store's own structures, which no record
    /// shows (e.g. an index the backend keeps beside them).
    pub fn add_problem(&mut self, text: String) {
        self.problem(text);
    }

    /// Whether every invariant holds.
    pub fn holds(&self) -> bool {
        self.problem_count == 0
    }

    /// The report as the command prints it: counts, flags, problems.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for (what, n) in &self.counts {
            out.push_str(&format!("{what}: {n}\n"));
        }
        out.push_str(&format!(
            "cart lines of SKUs not in the catalog (flagged, allowed): {}\n",
            self.unknown_sku_lines
        ));
        if self.holds() {
            out.push_str("every invariant holds\n");
        } else {
            out.push_str(&format!("{} broken invariants:\n", self.problem_count));
            for problem in &self.problems {
                out.push_str(&format!("  {problem}\n"));
            }
            if self.problem_count > self.problems.len() as u64 {
                out.push_str(&format!(
                    "  … and {} more\n",
                    self.problem_count - self.problems.len() as u64
                ));
            }
        }
        out
    }
}

/// What does not add up in an order: each line is its unit price times its
/// quantity, the lines make the subtotal, and the cost's total is
/// subtotal − discounts + (shipping − shipping discount) + tax (unless
/// included), as the order shows it.
pub fn order_problems(order: &Order) -> Vec<String> {
    let mut problems = Vec::new();
    let mut sum: i128 = 0;
    for (n, line) in order.lines.iter().enumerate() {
        let expected = i128::from(line.unit_price.minor()) * i128::from(line.quantity);
        if i128::from(line.line_total.minor()) != expected {
            problems.push(format!(
                "line {n} ({}) totals {} minor units, not {} × {}",
                line.sku,
                line.line_total.minor(),
                line.unit_price.minor(),
                line.quantity
            ));
        }
        sum += i128::from(line.line_total.minor());
    }
    if sum != i128::from(order.subtotal.minor()) {
        problems.push(format!(
            "the lines add up to {sum} minor units, the subtotal says {}",
            order.subtotal.minor()
        ));
    }
    let cost = order.cost().cost;
    let m = |money: crate::domain::Money| i128::from(money.minor());
    let shipping = cost.shipping.map_or(0, m);
    let tax = if cost.taxes_included {
        0
    } else {
        m(cost.tax_total)
    };
    let expected =
        m(cost.subtotal) - m(cost.discount_total) + shipping - m(cost.shipping_discount) + tax;
    if expected != m(cost.total) {
        problems.push(format!(
            "its cost's total is {} minor units; subtotal − discounts + shipping − shipping discount + tax is {expected}",
            m(cost.total)
        ));
    }
    if m(cost.subtotal) != m(order.subtotal) || m(cost.total) != m(order.total) {
        problems.push(format!(
            "its cost ({} / {}) and its subtotal and total ({} / {}) differ",
            m(cost.subtotal),
            m(cost.total),
            m(order.subtotal),
            m(order.total)
        ));
    }
    if cost.discount_total.minor() < 0 || m(cost.total) < 0 {
        problems.push("a negative discount or total".to_string());
    }
    problems
}
