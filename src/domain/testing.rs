//! What the domain's unit tests share: small limits and a fixed time.

use super::cart::Limits;
use chrono::{DateTime, Utc};

/// Limits small enough to reach in a test.
pub const LIMITS: Limits = Limits {
    max_lines_per_cart: 3,
    max_quantity_per_line: 10,
    max_carts_per_viewer: 2,
    ..Limits::DEFAULT
};

/// A fixed "now".
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}
