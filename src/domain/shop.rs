//! The shop's settings that rules need: its currency, cart limits and
//! lifetimes. Plain data, built from the configuration at start.

use super::attributes::AttributeLimits;
use super::cart::Limits;
use super::money::Currency;
use super::owner::ViewerKind;
use super::rate::WriteRates;
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
    /// Limits on attributes and notes.
    pub attribute_limits: AttributeLimits,
    /// Who must give an e-mail before checkout.
    pub checkout_email: CheckoutEmail,
    /// How often one viewer, and one client address, may write.
    pub write_rates: WriteRates,
}

/// Who must give an e-mail before checkout (`--checkout-email`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckoutEmail {
    /// Guests (a guest has no other contact); customers have their account's.
    #[default]
    Guests,
    /// Everyone.
    All,
    /// No one.
    Optional,
}

impl CheckoutEmail {
    /// Whether a viewer of this kind must have given one.
    pub fn required_for(self, kind: ViewerKind) -> bool {
        match self {
            CheckoutEmail::Guests => kind == ViewerKind::Guest,
            CheckoutEmail::All => true,
            CheckoutEmail::Optional => false,
        }
    }
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
