//! Business failures: what a mutation refuses, with a stable code, the input
//! field it concerns and a sentence for a person.

use std::fmt;

/// Stable codes for business failures (`userErrors[].code` in GraphQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `expectedVersion` differs from the stored version.
    VersionConflict,
    /// No product has this SKU, or the SKU is malformed.
    UnknownSku,
    /// The product exists but is not for sale.
    ProductInactive,
    /// A quantity outside 1..=maxQuantityPerLine (0 allowed where it removes).
    InvalidQuantity,
    /// Not enough stock.
    OutOfStock,
    /// Checkout of a cart with no lines.
    CartEmpty,
    /// Too many lines in a cart or too many carts for one viewer.
    CartLimitExceeded,
    /// A cart name that breaks the naming rule.
    InvalidCartName,
    /// The same SKU twice in an input that sets quantities.
    DuplicateSku,
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
    /// Too many failed attempts; try again later.
    Throttled,
    /// An email address of the wrong shape.
    InvalidEmail,
}

impl ErrorCode {
    /// The code as clients see it, e.g. `VERSION_CONFLICT`.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            VersionConflict => "VERSION_CONFLICT",
            UnknownSku => "UNKNOWN_SKU",
            ProductInactive => "PRODUCT_INACTIVE",
            InvalidQuantity => "INVALID_QUANTITY",
            OutOfStock => "OUT_OF_STOCK",
            CartEmpty => "CART_EMPTY",
            CartLimitExceeded => "CART_LIMIT_EXCEEDED",
            InvalidCartName => "INVALID_CART_NAME",
            DuplicateSku => "DUPLICATE_SKU",
            InvalidProduct => "INVALID_PRODUCT",
            StockNotTracked => "STOCK_NOT_TRACKED",
            EmailTaken => "EMAIL_TAKEN",
            InvalidCredentials => "INVALID_CREDENTIALS",
            WeakPassword => "WEAK_PASSWORD",
            InvalidGuestToken => "INVALID_GUEST_TOKEN",
            IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            Throttled => "THROTTLED",
            InvalidEmail => "INVALID_EMAIL",
        }
    }
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
}

impl UserError {
    /// A failure about the input field at `field`.
    pub fn new(code: ErrorCode, field: &[&str], message: impl Into<String>) -> Self {
        UserError {
            code,
            field: field.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
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
        write!(f, "{}: {}", self.code.as_str(), self.message)
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
