//! Shared GraphQL types: money, user errors, the shop, the viewer.

use crate::auth::Viewer;
use crate::domain::{self, Currency};
use async_graphql::{
    Enum, InputValueError, InputValueResult, Object, Scalar, ScalarType, SimpleObject, Value,
};
use chrono::{DateTime, Utc};

/// A decimal amount as a string (`"19.99"`), exact: never a float.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Decimal(s)),
            other => Err(InputValueError::custom(format!(
                "a Decimal is a string like \"19.99\", got {other}"
            ))),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// An amount of money in the shop's currency.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Money")]
pub struct MoneyView {
    /// The amount as an exact decimal string.
    pub amount: Decimal,
    /// ISO 4217 code of the shop currency.
    pub currency_code: String,
}

impl MoneyView {
    /// Formats minor units in `currency`.
    pub fn new(amount: domain::Money, currency: &Currency) -> Self {
        MoneyView {
            amount: Decimal(currency.format(amount)),
            currency_code: currency.code().to_string(),
        }
    }
}

macro_rules! graphql_error_codes {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Codes of business failures (`userErrors`).
        #[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
        #[graphql(
            remote = "crate::domain::ErrorCode",
            rename_items = "SCREAMING_SNAKE_CASE"
        )]
        pub enum UserErrorCode {
            $($(#[$doc])* $name,)*
        }
    };
}

crate::with_error_codes!(graphql_error_codes);

/// A business failure: what, which input field, and why.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "UserError")]
pub struct UserErrorView {
    /// Stable code to switch on.
    pub code: UserErrorCode,
    /// Path to the input field, e.g. `["lines", "0", "quantity"]`.
    pub field: Vec<String>,
    /// A sentence for a person.
    pub message: String,
}

impl From<domain::UserError> for UserErrorView {
    fn from(e: domain::UserError) -> Self {
        UserErrorView {
            code: e.code.into(),
            field: e.field,
            message: e.message,
        }
    }
}

/// Converts domain user errors for a payload.
pub fn user_errors(errors: Vec<domain::UserError>) -> Vec<UserErrorView> {
    errors.into_iter().map(UserErrorView::from).collect()
}

/// Guest or customer.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::ViewerKind", name = "ViewerKind")]
pub enum ViewerKindView {
    /// An anonymous visitor with a guest token.
    Guest,
    /// A signed-up or externally authenticated customer.
    Customer,
}

/// Who the request's token speaks for.
pub struct ViewerView(pub Viewer);

#[Object(name = "Viewer")]
impl ViewerView {
    /// The token's subject.
    async fn id(&self) -> async_graphql::ID {
        self.0.id.clone().into()
    }
    /// Guest or customer.
    async fn kind(&self) -> ViewerKindView {
        self.0.kind.into()
    }
    /// Roles the token grants.
    async fn roles(&self) -> &[String] {
        &self.0.roles
    }
    /// When the token expires; get a new one before then.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
}

/// The shop's configuration, readable by anyone.
pub struct ShopView {
    /// The shop currency.
    pub currency: Currency,
    /// Cart limits.
    pub limits: domain::Limits,
}

#[Object(name = "Shop")]
impl ShopView {
    /// ISO 4217 code every price is in.
    async fn currency_code(&self) -> &str {
        self.currency.code()
    }
    /// Limits on carts.
    async fn limits(&self) -> ShopLimits {
        ShopLimits {
            max_lines_per_cart: self.limits.max_lines_per_cart as i32,
            max_quantity_per_line: self.limits.max_quantity_per_line as i32,
            max_carts_per_viewer: self.limits.max_carts_per_viewer as i32,
        }
    }
}

/// Limits on carts.
#[derive(SimpleObject)]
pub struct ShopLimits {
    /// Distinct SKUs in one cart.
    pub max_lines_per_cart: i32,
    /// Units of one SKU in one cart.
    pub max_quantity_per_line: i32,
    /// Carts holding lines at once, per viewer.
    pub max_carts_per_viewer: i32,
}
