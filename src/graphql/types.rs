//! Shared GraphQL types: money, user errors, the shop, the viewer.

use super::ids::CartIds;
use crate::auth::Viewer;
use crate::domain::{self, Currency};
use crate::services::Services;
use async_graphql::{
    Context, Enum, ID, InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType,
    SimpleObject, Value,
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
///
/// Kept as minor units and formatted only when a field asks for it: a cart
/// answer holds a few of these per line, and most queries select one field.
#[derive(Clone, Copy, Debug)]
pub struct MoneyView {
    amount: domain::Money,
    currency: Currency,
}

impl MoneyView {
    /// `amount` (minor units) in `currency`.
    pub fn new(amount: domain::Money, currency: &Currency) -> Self {
        MoneyView {
            amount,
            currency: *currency,
        }
    }
}

/// An amount of money in the shop's currency.
#[Object(name = "Money")]
impl MoneyView {
    /// The amount as an exact decimal string.
    async fn amount(&self) -> Decimal {
        Decimal(self.currency.format(self.amount))
    }

    /// ISO 4217 code of the shop currency.
    async fn currency_code(&self) -> &str {
        self.currency.code()
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
    /// The cart line it is about (`CartLine.id`), when it is about a line
    /// of a stored cart: a checkout refused for a line's stock, a change to
    /// a line refused. `null` otherwise (lines a client holds itself are
    /// named by their index in `field`).
    pub line_id: Option<ID>,
}

/// Converts domain user errors for a payload.
/// Each one is counted (`cartql_user_errors_total{code}`).
pub fn user_errors(errors: Vec<domain::UserError>) -> Vec<UserErrorView> {
    user_errors_in(errors, None)
}

/// [`user_errors`] for a payload about `cart`: errors about one of its
/// lines name the line by its global id.
pub fn user_errors_in(
    errors: Vec<domain::UserError>,
    cart: Option<&CartIds>,
) -> Vec<UserErrorView> {
    errors
        .into_iter()
        .map(|e| {
            metrics::counter!("cartql_user_errors_total", "code" => e.code.as_str()).increment(1);
            UserErrorView {
                code: e.code.into(),
                line_id: cart
                    .zip(e.line.as_deref())
                    .and_then(|(c, l)| c.held_line(l)),
                field: e.field,
                message: e.message,
            }
        })
        .collect()
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
    /// When the token expires; get a new one before then (`renewToken`).
    /// After it (and a few seconds' leeway for clock skew) every request
    /// with it answers HTTP 401 and a WebSocket bound to it closes with 4403.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }
    /// When to renew: halfway through the token's life. `null` when renewing
    /// does not lengthen it (a token with roles keeps its expiry) or is done
    /// elsewhere (the external identity provider's tokens).
    async fn renew_after(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        Services::of(ctx).lifetimes.renew_after(&self.0)
    }
    /// The last moment `renewToken` accepts this token: for a guest, the
    /// guest cart lifetime after `expiresAt` (give the expired token as
    /// `renewToken(input: {token})`, without the header), so a guest who
    /// returns while its cart lives reaches it; for a customer, `expiresAt`
    /// or the session's maximum age, whichever is first. `null` where
    /// `renewAfter` is.
    async fn renewable_until(&self, ctx: &Context<'_>) -> Option<DateTime<Utc>> {
        Services::of(ctx).lifetimes.renewable_until(&self.0)
    }
}

/// How a half of a minor unit is rounded, at every rounding point.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(
    remote = "crate::domain::pricing::RoundingMode",
    rename_items = "SCREAMING_SNAKE_CASE"
)]
pub enum RoundingMode {
    /// To the even neighbour (banker's rounding; the default).
    HalfEven,
    /// Away from zero.
    HalfUp,
    /// Towards zero.
    HalfDown,
}

/// Where tax is rounded.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(
    remote = "crate::domain::pricing::TaxRounding",
    rename_items = "SCREAMING_SNAKE_CASE"
)]
pub enum TaxRounding {
    /// Each line's tax on its own (the default).
    Line,
    /// Once per rate on the whole cart, then split back over the lines.
    Total,
}

/// The shop's pricing settings.
#[derive(SimpleObject)]
#[graphql(name = "PricingSettings")]
pub struct PricingSettingsView {
    /// Whether catalog prices include tax (gross) or not (net).
    pub prices_include_tax: bool,
    /// How halves round.
    pub rounding_mode: RoundingMode,
    /// Where tax is rounded.
    pub tax_rounding: TaxRounding,
}

impl From<crate::domain::pricing::PricingSettings> for PricingSettingsView {
    fn from(s: crate::domain::pricing::PricingSettings) -> Self {
        PricingSettingsView {
            prices_include_tax: s.prices_include_tax,
            rounding_mode: s.rounding_mode.into(),
            tax_rounding: s.tax_rounding.into(),
        }
    }
}

/// The shop's configuration, readable by anyone.
pub struct ShopView {
    /// The shop currency.
    pub currency: Currency,
    /// Cart limits.
    pub limits: domain::Limits,
    /// Attribute and note limits.
    pub attribute_limits: domain::attributes::AttributeLimits,
    /// Write rates.
    pub write_rates: domain::rate::WriteRates,
}

#[Object(name = "Shop")]
impl ShopView {
    /// How prices are read and rounded (`updatePricingSettings`).
    async fn pricing(&self, ctx: &Context<'_>) -> super::error::ApiResult<PricingSettingsView> {
        let settings = crate::app::pricing::settings(Services::of(ctx)).await?;
        Ok(settings.into())
    }
    /// ISO 4217 code every price is in.
    async fn currency_code(&self) -> &str {
        self.currency.code()
    }
    /// Limits on carts.
    async fn limits(&self) -> ShopLimits {
        let int = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let (attributes, rates) = (&self.attribute_limits, &self.write_rates);
        ShopLimits {
            max_lines_per_cart: int(self.limits.max_lines_per_cart),
            max_quantity_per_line: int(self.limits.max_quantity_per_line as usize),
            max_carts_per_viewer: int(self.limits.max_carts_per_viewer),
            max_attributes: int(attributes.max_attributes),
            max_attribute_key_bytes: int(attributes.max_key_bytes),
            max_attribute_value_bytes: int(attributes.max_value_bytes),
            max_note_bytes: int(attributes.max_note_bytes),
            max_attribute_key_chars: int(attributes.max_key_bytes),
            max_attribute_value_chars: int(attributes.max_value_bytes),
            max_note_chars: int(attributes.max_note_bytes),
            max_cart_bytes: int(self.limits.max_cart_bytes),
            max_owner_bytes: int(self.limits.max_owner_bytes),
            max_order_bytes: int(self.limits.max_order_bytes),
            viewer_writes_per_minute: int(rates.viewer.per_minute as usize),
            viewer_write_burst: int(rates.viewer.burst as usize),
            client_writes_per_minute: int(rates.client.per_minute as usize),
            client_write_burst: int(rates.client.burst as usize),
        }
    }
}

/// Limits on carts.
#[derive(SimpleObject)]
pub struct ShopLimits {
    /// Lines in one cart.
    pub max_lines_per_cart: i32,
    /// Units on one line.
    pub max_quantity_per_line: i32,
    /// Carts holding anything at once, per viewer.
    pub max_carts_per_viewer: i32,
    /// Attributes on one line, and on one cart.
    pub max_attributes: i32,
    /// UTF-8 bytes in an attribute key.
    pub max_attribute_key_bytes: i32,
    /// UTF-8 bytes in an attribute value.
    pub max_attribute_value_bytes: i32,
    /// UTF-8 bytes in a cart note.
    pub max_note_bytes: i32,
    /// The same as `maxAttributeKeyBytes`: lengths are counted in UTF-8 bytes.
    #[graphql(deprecation = "lengths are counted in UTF-8 bytes: use maxAttributeKeyBytes")]
    pub max_attribute_key_chars: i32,
    /// The same as `maxAttributeValueBytes`.
    #[graphql(deprecation = "lengths are counted in UTF-8 bytes: use maxAttributeValueBytes")]
    pub max_attribute_value_chars: i32,
    /// The same as `maxNoteBytes`.
    #[graphql(deprecation = "lengths are counted in UTF-8 bytes: use maxNoteBytes")]
    pub max_note_chars: i32,
    /// Bytes one cart may take as stored (UTF-8 text plus a few bytes of
    /// framing per field); a change that would exceed it is refused with
    /// `CART_LIMIT_EXCEEDED`.
    pub max_cart_bytes: i32,
    /// Bytes all of a viewer's carts may take together.
    pub max_owner_bytes: i32,
    /// Bytes one order may take when it is placed.
    pub max_order_bytes: i32,
    /// Writes (cart mutations, checkouts, merges) one viewer may make per
    /// minute on average; more are refused with `THROTTLED`.
    pub viewer_writes_per_minute: i32,
    /// Writes one viewer may make at once, above the rate.
    pub viewer_write_burst: i32,
    /// Writes one client address may make per minute, whatever its tokens.
    pub client_writes_per_minute: i32,
    /// Writes one client address may make at once, above the rate.
    pub client_write_burst: i32,
}

/// A key–value pair on a line or a cart (an engraving, a gift message).
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "AttributeInput")]
pub struct AttributeView {
    /// The name, unique within its set.
    pub key: String,
    /// The value.
    pub value: String,
}

impl AttributeView {
    /// Views of stored attributes.
    pub fn list(attributes: &[domain::attributes::Attribute]) -> Vec<AttributeView> {
        attributes
            .iter()
            .map(|a| AttributeView {
                key: a.key.clone(),
                value: a.value.clone(),
            })
            .collect()
    }

    /// Input as key–value pairs, for the domain checks.
    pub fn pairs(input: &[AttributeView]) -> Vec<(String, String)> {
        input
            .iter()
            .map(|a| (a.key.clone(), a.value.clone()))
            .collect()
    }
}

/// A postal address (the view of a stored one).
#[derive(Default)]
pub struct AddressView(domain::buyer::Address);

/// A postal address.
#[Object(name = "Address")]
impl AddressView {
    /// The recipient.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// Their company.
    async fn company(&self) -> Option<&str> {
        self.0.company.as_deref()
    }
    /// Street and number.
    async fn address1(&self) -> Option<&str> {
        self.0.address1.as_deref()
    }
    /// More of it.
    async fn address2(&self) -> Option<&str> {
        self.0.address2.as_deref()
    }
    /// City.
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    /// State, province or region.
    async fn province(&self) -> Option<&str> {
        self.0.province.as_deref()
    }
    /// Postal code.
    async fn postal_code(&self) -> Option<&str> {
        self.0.postal_code.as_deref()
    }
    /// ISO 3166-1 alpha-2 country code.
    async fn country_code(&self) -> Option<&str> {
        self.0.country_code.as_ref().map(|c| c.as_str())
    }
    /// Phone at the address, E.164.
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_ref().map(|p| p.as_str())
    }
}

/// Who buys (the view of a stored buyer identity).
#[derive(Default)]
pub struct BuyerIdentityView(domain::buyer::BuyerIdentity);

/// Who buys: where the receipt goes and where the order goes.
#[Object(name = "BuyerIdentity")]
impl BuyerIdentityView {
    /// E-mail for the receipt.
    async fn email(&self) -> Option<&str> {
        self.0.email.as_ref().map(|e| e.as_str())
    }
    /// Phone, E.164 (`+4915112345678`).
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_ref().map(|p| p.as_str())
    }
    /// ISO 3166-1 alpha-2 country code.
    async fn country_code(&self) -> Option<&str> {
        self.0.country_code.as_ref().map(|c| c.as_str())
    }
    /// Where to ship.
    async fn shipping_address(&self) -> Option<AddressView> {
        self.0.shipping_address.clone().map(AddressView)
    }
}

impl BuyerIdentityView {
    /// The view of a stored identity.
    pub fn new(buyer: &domain::buyer::BuyerIdentity) -> BuyerIdentityView {
        BuyerIdentityView(buyer.clone())
    }
}

/// A postal address as the client sends it; every field is optional.
#[derive(InputObject, Default)]
pub struct AddressInput {
    /// The recipient.
    pub name: Option<String>,
    /// Their company.
    pub company: Option<String>,
    /// Street and number.
    pub address1: Option<String>,
    /// More of it.
    pub address2: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State, province or region.
    pub province: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code (`DE`, `US`).
    pub country_code: Option<String>,
    /// Phone at the address, E.164.
    pub phone: Option<String>,
}

/// Who buys, as the client sends it; every field is optional and checked.
#[derive(InputObject, Default)]
pub struct BuyerIdentityInput {
    /// E-mail for the receipt.
    pub email: Option<String>,
    /// Phone, E.164 (`+4915112345678`).
    pub phone: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country_code: Option<String>,
    /// Where to ship.
    pub shipping_address: Option<AddressInput>,
}

impl BuyerIdentityInput {
    /// The domain's unchecked input.
    pub fn to_domain(&self) -> domain::buyer::BuyerIdentityInput {
        domain::buyer::BuyerIdentityInput {
            email: self.email.clone(),
            phone: self.phone.clone(),
            country_code: self.country_code.clone(),
            shipping_address: self
                .shipping_address
                .as_ref()
                .map(|a| domain::buyer::AddressInput {
                    name: a.name.clone(),
                    company: a.company.clone(),
                    address1: a.address1.clone(),
                    address2: a.address2.clone(),
                    city: a.city.clone(),
                    province: a.province.clone(),
                    postal_code: a.postal_code.clone(),
                    country_code: a.country_code.clone(),
                    phone: a.phone.clone(),
                }),
        }
    }
}
