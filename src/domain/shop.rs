//! The shop's settings that rules need: its currency, cart limits and
//! lifetimes. Plain data, built from the configuration at start.

use super::cart::Limits;
use super::money::Currency;
use super::owner::ViewerKind;
use chrono::Duration;

/// Shop settings.
#[derive(Clone, Debug)]
pub struct ShopSettings {
    /// The one currency every price is in.
    pub currency: Currency,
    /// Cart limits.
    pub limits: Limits,
    /// How long a guest's untouched cart lives.
    pub guest_cart_lifetime: Duration,
    /// How long a customer's untouched cart lives.
    pub customer_cart_lifetime: Duration,
    /// Idempotency records one viewer may have at once.
    pub max_idempotency_keys_per_viewer: usize,
}

impl ShopSettings {
    /// How long an untouched cart of this kind of viewer lives.
    pub fn cart_lifetime(&self, kind: ViewerKind) -> Duration {
        match kind {
            ViewerKind::Guest => self.guest_cart_lifetime,
            ViewerKind::Customer => self.customer_cart_lifetime,
        }
    }
}
