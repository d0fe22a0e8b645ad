//! Business failures: what a mutation refuses, with a stable code, the input
//! field it concerns and a sentence for a person.

use std::fmt;

/// Calls `$callback!` with the list of business failure codes, each with its
/// documentation: the one list both the domain's [`ErrorCode`] and the
/// GraphQL enum clients see are made from. A code's spelling on the wire
/// (`VERSION_CONFLICT`) is derived from its name here and nowhere else.
#[macro_export]
macro_rules! with_error_codes {
    ($callback:ident) => {
        $callback! {
            /// `expectedVersion` differs from the stored version; the payload has the current cart.
            VersionConflict,
            /// No product has this SKU, or the SKU is malformed.
            UnknownSku,
            /// The product exists but is not for sale.
            ProductInactive,
            /// A quantity outside the allowed range (0 allowed where it removes).
            InvalidQuantity,
            /// None left in stock (the same code as the cart warning).
            OutOfStock,
            /// Fewer left in stock than wanted, but some (the same code as the cart warning).
            InsufficientStock,
            /// Checkout of a cart with no lines.
            CartEmpty,
            /// Too many lines in a cart, or too many carts for one viewer.
            CartLimitExceeded,
            /// A cart name that breaks the naming rule.
            InvalidCartName,
            /// The same SKU twice where each must be unique (variants of products).
            DuplicateSku,
            /// The same line id twice in one input.
            DuplicateLine,
            /// A product field (title, price, stock) that is not acceptable.
            InvalidProduct,
            /// Stock adjustment on a product whose stock is not tracked.
            StockNotTracked,
            /// Sign-up with an email that has an account.
            EmailTaken,
            /// Unknown email or wrong password (deliberately the same).
            InvalidCredentials,
            /// A password that breaks the password rule.
            WeakPassword,
            /// A guest token that is expired, forged or not a guest's.
            InvalidGuestToken,
            /// An idempotency key reused with a different request.
            IdempotencyKeyReused,
            /// An idempotency key that is empty, too long or not printable ASCII.
            InvalidIdempotencyKey,
            /// Too many attempts (or too busy); try again later.
            Throttled,
            /// An email address of the wrong shape.
            InvalidEmail,
            /// A phone number not in E.164 form.
            InvalidPhone,
            /// Not an ISO 3166-1 alpha-2 country code.
            InvalidCountryCode,
            /// An address field that is too long or holds control characters.
            InvalidAddress,
            /// An attribute or a note that breaks a limit.
            InvalidAttribute,
            /// Checkout needs the buyer's e-mail (see `--checkout-email`).
            EmailRequired,
            /// No line of the cart has this id.
            LineNotFound,
            /// The order cannot move to that status from the one it is in.
            InvalidOrderTransition,
            /// No order has this id.
            OrderNotFound,
            /// A payment reference, tracking number or URL, or a reason that is not acceptable.
            InvalidOrderInput,
            /// The product options or variants are not consistent.
            InvalidVariant,
            /// A tax rate that is not acceptable (country, province, class, rate or title).
            InvalidTaxRate,
            /// An image URL, alt text or size that is not acceptable, or too many images.
            InvalidImage,
            /// Checkout with a discount code that no longer applies; the cart shows the reason.
            DiscountNotApplicable,
            /// More discount codes than a cart may hold.
            TooManyDiscountCodes,
            /// Lines need shipping and the shop has active shipping rates: choose a delivery option.
            DeliveryOptionRequired,
            /// The delivery option does not exist or does not serve this cart.
            DeliveryOptionUnavailable,
            /// The recomputed total differs from `expectedTotal`; nothing was written.
            TotalChanged,
            /// A discount definition that is not acceptable.
            InvalidDiscount,
            /// A discount code another discount already has.
            DuplicateDiscountCode,
            /// A shipping rate that is not acceptable.
            InvalidShippingRate,
            /// A webhook URL that is not https, names an internal address or is malformed.
            InvalidWebhookUrl,
            /// A webhook endpoint's events or description that are not acceptable, or one endpoint too many.
            InvalidWebhookEndpoint,
            /// Nothing has this id.
            NotFound,
            /// No backup could be made: no `--backup-dir`, or writing it failed (the message says why).
            BackupUnavailable,
        }
    };
}

macro_rules! domain_error_codes {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Stable codes for business failures (`userErrors[].code` in GraphQL).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code as clients see it (`INVALID_QUANTITY`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => {
                        static NAME: std::sync::LazyLock<String> =
                            std::sync::LazyLock::new(|| screaming_snake(stringify!($name)));
                        NAME.as_str()
                    })*
                }
            }
        }
    };
}

with_error_codes!(domain_error_codes);

/// `InvalidQuantity` → `INVALID_QUANTITY`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// One business failure: code, the path of the input field, and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserError {
    /// What went wrong, as a stable code.
    pub code: ErrorCode,
    /// Path to the input field, e.g. `["lines", "2", "quantity"]`; empty when
    /// the failure is not about one field.
    pub field: Vec<String>,
    /// A sentence for a person.
    pub message: String,
    /// The cart line it is about (its id within the cart), when it is about
    /// one of a stored cart's lines.
    pub line: Option<String>,
}

impl UserError {
    /// A failure about the input field at `field`.
    pub fn new(code: ErrorCode, field: &[&str], message: impl Into<String>) -> Self {
        UserError {
            code,
            field: field.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
            line: None,
        }
    }

    /// The same failure, about the cart line `id` (none for an empty id:
    /// lines a client holds itself have no id).
    pub fn on_line(mut self, id: &str) -> Self {
        self.line = (!id.is_empty()).then(|| id.to_string());
        self
    }

    /// A failure about the `index`th element of the list input `list`, field `name`.
    pub fn at(
        code: ErrorCode,
        list: &str,
        index: usize,
        name: &str,
        message: impl Into<String>,
    ) -> Self {
        UserError::new(code, &[list, &index.to_string(), name], message)
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

/// Why a change to a cart (or product) was refused. The store aborts the write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// `expectedVersion` did not match; `current` is the stored version.
    VersionConflict {
        /// The version the caller expected.
        expected: u64,
        /// The version that is stored.
        current: u64,
    },
    /// One or more input problems.
    Invalid(Vec<UserError>),
}

impl Rejection {
    /// A rejection with a single user error.
    pub fn one(error: UserError) -> Self {
        Rejection::Invalid(vec![error])
    }

    /// The rejection as the list of user errors a payload carries.
    pub fn into_user_errors(self) -> Vec<UserError> {
        match self {
            Rejection::VersionConflict { expected, current } => vec![UserError::new(
                ErrorCode::VersionConflict,
                &["expectedVersion"],
                format!("the cart is at version {current}, not {expected}; reload it and retry"),
            )],
            Rejection::Invalid(errors) => errors,
        }
    }
}

#[cfg(test)]
mod code_names {
    use super::*;

    #[test]
    fn codes_read_as_clients_see_them() {
        assert_eq!(ErrorCode::InvalidQuantity.as_str(), "INVALID_QUANTITY");
        assert_eq!(ErrorCode::EmailRequired.as_str(), "EMAIL_REQUIRED");
        let sdl = crate::graphql::sdl();
        for code in ErrorCode::ALL {
            let line = format!("\t{}\n", code.as_str());
            assert!(
                sdl.contains(&line),
                "{} is not in the schema",
                code.as_str()
            );
        }
    }
}
