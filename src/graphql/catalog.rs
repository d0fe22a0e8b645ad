//! Products (by handle) with their options and variants (by SKU), the shop,
//! and the admin-only catalog mutations.
//!
//! A product that is not for sale (`active: false`) is hidden from the
//! storefront, as Shopify hides an unpublished one: `product`, `products`,
//! `variant` and `variantBySelectedOptions` answer it (or its variants) only
//! to admins. Carts and orders that hold one of its SKUs still show their
//! lines, each with its variant and that variant's product: those are reached
//! from the line, not from the catalog.

use super::access::require_admin;
use super::error::ApiResult;
use super::ids::GlobalId;
use super::image::{ImageInput, ImageView};
use super::pagination::MAX_PAGE;
use super::pagination::PageRequest;
use super::types::{Decimal, MoneyView, ShopView, UserErrorView, user_errors};
use crate::app::catalog::{self, Sight};
use crate::domain::catalog::{Product, SelectedOption};
use crate::domain::product::{ProductInput, VariantInput as DomainVariantInput};
use crate::domain::shipping::ShippingInput;
use crate::domain::{
    Currency, ErrorCode, Handle, Patch, Rejection, Sku, UserError as DomainError, Variant,
};
use crate::services::Services;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use std::sync::Arc;

/// A variant (the unit carts and orders deal in) with prices in the shop currency.
pub struct VariantView {
    pub(crate) product: Variant,
    pub(crate) currency: Currency,
    /// Its product when it was reached from that product (no second read).
    pub(crate) parent: Option<Arc<Product>>,
}

#[Object(name = "ProductVariant")]
impl VariantView {
    /// Global id (`gid://cartql/ProductVariant/<sku>`).
    pub(crate) async fn id(&self) -> ID {
        GlobalId::ProductVariant(self.product.sku.clone()).to_id()
    }
    /// Stock-keeping unit: the variant's key, what cart lines and orders name.
    async fn sku(&self) -> &str {
        self.product.sku.as_str()
    }
    /// The variant's title (`M / Black`).
    async fn title(&self) -> &str {
        &self.product.title
    }
    /// Its value of each of the product's options.
    async fn selected_options(&self) -> Vec<SelectedOptionView> {
        self.product
            .selected_options
            .iter()
            .map(|s| SelectedOptionView {
                name: s.name.clone(),
                value: s.value.clone(),
            })
            .collect()
    }
    /// Unit price.
    async fn price(&self) -> MoneyView {
        MoneyView::new(self.product.price, &self.currency)
    }
    /// The price before a reduction, to show struck through; `null` if none.
    async fn compare_at_price(&self) -> Option<MoneyView> {
        self.product
            .compare_at_price
            .map(|m| MoneyView::new(m, &self.currency))
    }
    /// Units in stock; `null` when stock is not tracked.
    async fn stock(&self) -> Option<i64> {
        self.product.stock
    }
    /// Weight of one unit in grams (0 when not given): shipping rates may
    /// depend on a cart's weight.
    async fn weight_grams(&self) -> u32 {
        self.product.shipping.weight_grams
    }
    /// Whether it is shipped (false for a gift card or a download).
    async fn requires_shipping(&self) -> bool {
        self.product.shipping.requires_shipping
    }
    /// Which tax rates apply to it (`standard` unless the shop set another).
    async fn tax_class(&self) -> &str {
        self.product.shipping.tax_class.as_str()
    }
    /// Whether a buyer can buy it now: it and its product are for sale and it is not out of stock.
    async fn available_for_sale(&self) -> bool {
        self.product.available()
    }
    /// The product it belongs to; `null` for a variant no product lists any
    /// more (still readable by SKU for the carts and orders that name it).
    #[graphql(complexity = "super::complexity::RECORD_READ + child_complexity")]
    async fn product(&self, ctx: &Context<'_>) -> ApiResult<Option<ProductView>> {
        let Some(handle) = &self.product.handle else {
            return Ok(None);
        };
        if let Some(parent) = &self.parent
            && &parent.handle == handle
        {
            return Ok(Some(ProductView {
                record: parent.clone(),
                currency: self.currency,
            }));
        }
        let record = catalog::parent(Services::of(ctx), handle).await?;
        Ok(record.map(|record| ProductView {
            record: Arc::new(record),
            currency: self.currency,
        }))
    }
    /// The variant's own picture (a colour's); `null` when it has none
    /// (show its product's `featuredImage` then).
    async fn image(&self) -> Option<ImageView> {
        self.product.image.as_ref().map(ImageView::of)
    }
}

/// A product as a shopper browses it: options and the variants they pick.
pub struct ProductView {
    pub(crate) record: Arc<Product>,
    pub(crate) currency: Currency,
}

#[Object(name = "Product")]
impl ProductView {
    /// Global id (`gid://cartql/Product/<handle>`).
    pub(crate) async fn id(&self) -> ID {
        GlobalId::Product(self.record.handle.clone()).to_id()
    }
    /// The product's key, for URLs (`black-tee`).
    async fn handle(&self) -> &str {
        self.record.handle.as_str()
    }
    /// Display title.
    async fn title(&self) -> &str {
        &self.record.title
    }
    /// Description (plain text, up to 5,000 characters).
    #[graphql(complexity = "super::complexity::LONG_TEXT")]
    async fn description(&self) -> &str {
        &self.record.description
    }
    /// Its options and the values each offers, in display order.
    #[graphql(
        complexity = "super::complexity::list(crate::domain::product::MAX_OPTIONS, child_complexity)"
    )]
    async fn options(&self) -> Vec<ProductOptionView> {
        self.record
            .options
            .iter()
            .map(|o| ProductOptionView {
                name: o.name.clone(),
                values: o.values.clone(),
            })
            .collect()
    }
    /// Its variants, in display order: all of them (at most 100), or the
    /// first `first` (a product grid that shows a few swatches asks for
    /// fewer, and its query costs less).
    #[graphql(
        complexity = "super::complexity::list(super::complexity::variants(first), child_complexity)"
    )]
    async fn variants(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(minimum = 0, maximum = 100))] first: Option<i32>,
    ) -> ApiResult<Vec<VariantView>> {
        let first = super::complexity::variants(first);
        let variants = catalog::variants_of(Services::of(ctx), &self.record, first).await?;
        Ok(variants
            .into_iter()
            .map(|product| VariantView {
                product,
                currency: self.currency,
                parent: Some(self.record.clone()),
            })
            .collect())
    }
    /// Whether it is for sale (each variant may also be withdrawn on its own).
    async fn active(&self) -> bool {
        self.record.active
    }
    /// Its images, in display order (at most 10).
    #[graphql(complexity = "super::complexity::list(super::complexity::IMAGES, child_complexity)")]
    async fn images(&self) -> Vec<ImageView> {
        self.record.images.iter().map(ImageView::of).collect()
    }
    /// The first of its images; `null` when it has none.
    async fn featured_image(&self) -> Option<ImageView> {
        self.record.images.first().map(ImageView::of)
    }
}

/// One of a product's options and its values (`Size`: `S`, `M`, `L`).
pub struct ProductOptionView {
    name: String,
    values: Vec<String>,
}

#[Object(name = "ProductOption")]
impl ProductOptionView {
    /// The option's name.
    async fn name(&self) -> &str {
        &self.name
    }
    /// Its values, in display order (up to 100).
    #[graphql(complexity = "super::complexity::OPTION_VALUES")]
    async fn values(&self) -> &[String] {
        &self.values
    }
}

/// A variant's value of one option.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(name = "SelectedOption", input_name = "SelectedOptionInput")]
pub struct SelectedOptionView {
    /// The option's name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// Catalog queries, open to everyone.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// One product by handle, or `null`. A product not for sale
    /// (`active: false`) is `null` but to admins.
    async fn product(&self, ctx: &Context<'_>, handle: String) -> ApiResult<Option<ProductView>> {
        let Ok(handle) = Handle::parse(&handle) else {
            return Ok(None);
        };
        let record = catalog::product(Services::of(ctx), sight(ctx), &handle).await?;
        Ok(record.map(|record| product_view(ctx, record)))
    }

    /// Products in handle order, as a cursor connection (`first` at most
    /// 100). Products not for sale are left out but for admins.
    #[graphql(
        complexity = "super::complexity::list(super::complexity::page(first), child_complexity)"
    )]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, ProductView>> {
        let page = PageRequest::parse(first, after, |cursor| Handle::parse(cursor).ok())?;
        let records = catalog::products(
            Services::of(ctx),
            sight(ctx),
            page.after.as_ref(),
            page.fetch(),
            MAX_PAGE as usize + 1,
        )
        .await?;
        Ok(page.connection(records, |r| (r.handle.to_string(), product_view(ctx, r))))
    }

    /// One variant by SKU, or `null`. A variant of a product not for sale is
    /// `null` but to admins (a cart line that holds it still shows it); one
    /// that no product lists any more is shown, not for sale, `product: null`.
    async fn variant(&self, ctx: &Context<'_>, sku: String) -> ApiResult<Option<VariantView>> {
        let Ok(sku) = Sku::parse(&sku) else {
            return Ok(None);
        };
        let variant = catalog::variant(Services::of(ctx), sight(ctx), &sku).await?;
        Ok(variant.map(|product| view(ctx, product)))
    }

    /// The variant of the product `handle` with exactly these option values
    /// (an option picker), or `null` when no variant has them or (but to
    /// admins) the product is not for sale.
    async fn variant_by_selected_options(
        &self,
        ctx: &Context<'_>,
        handle: String,
        #[graphql(validator(max_items = 3))] selected_options: Vec<SelectedOptionView>,
    ) -> ApiResult<Option<VariantView>> {
        let Ok(handle) = Handle::parse(&handle) else {
            return Ok(None);
        };
        let selected: Vec<SelectedOption> = selected_options
            .iter()
            .map(|s| SelectedOption {
                name: s.name.trim().to_string(),
                value: s.value.trim().to_string(),
            })
            .collect();
        let variant =
            catalog::variant_by_selected_options(Services::of(ctx), sight(ctx), &handle, &selected)
                .await?;
        Ok(variant.map(|v| view(ctx, v)))
    }

    /// The shop's currency and limits.
    async fn shop(&self, ctx: &Context<'_>) -> ShopView {
        let settings = &Services::of(ctx).shop;
        ShopView {
            currency: settings.currency,
            limits: settings.limits,
            attribute_limits: settings.attribute_limits,
            write_rates: settings.write_rates,
        }
    }
}

/// How much of the catalog the request's viewer sees.
fn sight(ctx: &Context<'_>) -> Sight {
    Sight::of(super::access::viewer(ctx))
}

fn view(ctx: &Context<'_>, product: Variant) -> VariantView {
    VariantView {
        product,
        currency: Services::of(ctx).shop.currency,
        parent: None,
    }
}

fn product_view(ctx: &Context<'_>, record: Product) -> ProductView {
    ProductView {
        record: Arc::new(record),
        currency: Services::of(ctx).shop.currency,
    }
}

/// A product with its variants, written whole: options, then one variant per
/// combination of option values.
#[derive(InputObject)]
pub struct UpsertProductInput {
    /// The product's handle (`black-tee`): lowercase letters, digits and `-`.
    pub handle: String,
    /// Title.
    pub title: String,
    /// Description (plain text).
    pub description: Option<String>,
    /// Options and their values (at most 3 options); none for a product of one variant.
    #[graphql(default)]
    pub options: Vec<ProductOptionInput>,
    /// Every variant (1 to 100). Variants the product had and this list
    /// leaves out stay readable by SKU but are no longer for sale.
    pub variants: Vec<VariantInput>,
    /// Whether the product is for sale.
    #[graphql(default = true)]
    pub active: bool,
    /// Its images in display order (at most 10; the first is featured).
    /// Omit (or `null`) to keep what the product has; `[]` removes them.
    pub images: Option<Vec<ImageInput>>,
}

/// An option and its values.
#[derive(InputObject)]
pub struct ProductOptionInput {
    /// The option's name (`Size`).
    pub name: String,
    /// Its values, in display order.
    pub values: Vec<String>,
}

/// One variant of a product.
#[derive(InputObject)]
pub struct VariantInput {
    /// Its SKU, unique across all products.
    pub sku: String,
    /// Its title; by default its option values (`M / Black`).
    pub title: Option<String>,
    /// Its value of each of the product's options.
    #[graphql(default)]
    pub selected_options: Vec<SelectedOptionView>,
    /// Unit price as a decimal string.
    pub price: Decimal,
    /// The price before a reduction.
    pub compare_at_price: Option<Decimal>,
    /// Units in stock; `null` stops tracking; omit to keep what it has.
    pub stock: MaybeUndefined<i64>,
    /// Whether this variant is for sale.
    #[graphql(default = true)]
    pub active: bool,
    /// The variant's own picture; omit (or `null`) for none, like
    /// `compareAtPrice`: the variants are written whole.
    pub image: Option<ImageInput>,
    /// Weight of one unit in grams (0 to 1,000,000); omit to keep what it
    /// has (0 for a new variant).
    pub weight_grams: Option<i64>,
    /// Whether it is shipped; omit to keep (`true` for a new variant).
    pub requires_shipping: Option<bool>,
    /// Its tax class (`standard`, `reduced`, …); omit to keep (`standard`
    /// for a new variant).
    pub tax_class: Option<String>,
}

/// Changes one variant's fields (those given).
#[derive(InputObject)]
pub struct UpdateVariantInput {
    /// The variant's SKU.
    pub sku: String,
    /// Title.
    pub title: Option<String>,
    /// Unit price as a decimal string.
    pub price: Option<Decimal>,
    /// Units in stock; `null` stops tracking stock; omit to leave as is.
    pub stock: MaybeUndefined<i64>,
    /// Whether the variant is for sale.
    pub active: Option<bool>,
    /// Weight of one unit in grams (0 to 1,000,000).
    pub weight_grams: Option<i64>,
    /// Whether it is shipped.
    pub requires_shipping: Option<bool>,
    /// Its tax class.
    pub tax_class: Option<String>,
}

/// Adds `delta` (negative to remove) to a product's tracked stock.
#[derive(InputObject)]
pub struct AdjustStockInput {
    /// The product's SKU.
    pub sku: String,
    /// Units to add; negative removes. Stock never goes below zero.
    pub delta: i64,
}

/// A variant after an admin change.
#[derive(SimpleObject)]
pub struct VariantPayload {
    /// The variant as stored now (`null` if there is no such SKU).
    pub variant: Option<VariantView>,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserErrorView>,
}

/// A product after `upsertProduct`.
#[derive(SimpleObject)]
pub struct ProductPayload {
    /// The product as stored now (`null` if it was refused and does not exist).
    pub product: Option<ProductView>,
    /// Why it was refused, each error naming its field.
    pub user_errors: Vec<UserErrorView>,
}

/// Admin-only catalog mutations.
#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Creates or replaces a product with its options and variants, in one
    /// transaction. Each variant's options must be values of the product's
    /// options, no two variants may have the same combination, and a SKU
    /// belongs to one product. Needs the `admin` role.
    async fn upsert_product(
        &self,
        ctx: &Context<'_>,
        input: UpsertProductInput,
    ) -> ApiResult<ProductPayload> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let handle = match Handle::parse(&input.handle) {
            Ok(handle) => handle,
            Err(why) => {
                return Ok(ProductPayload {
                    product: None,
                    user_errors: user_errors(vec![DomainError::new(
                        ErrorCode::InvalidProduct,
                        &["handle"],
                        why,
                    )]),
                });
            }
        };
        let product = ProductInput {
            title: input.title,
            description: input.description,
            options: input
                .options
                .into_iter()
                .map(|o| (o.name, o.values))
                .collect(),
            variants: input
                .variants
                .into_iter()
                .map(|v| DomainVariantInput {
                    sku: v.sku,
                    title: v.title,
                    selected_options: v
                        .selected_options
                        .into_iter()
                        .map(|s| (s.name, s.value))
                        .collect(),
                    price: v.price.0,
                    compare_at_price: v.compare_at_price.map(|d| d.0),
                    stock: match v.stock {
                        MaybeUndefined::Undefined => None,
                        MaybeUndefined::Null => Some(None),
                        MaybeUndefined::Value(n) => Some(Some(n)),
                    },
                    active: v.active,
                    image: v.image.map(Into::into),
                    shipping: ShippingInput {
                        weight_grams: v.weight_grams,
                        requires_shipping: v.requires_shipping,
                        tax_class: v.tax_class,
                    },
                })
                .collect(),
            active: input.active,
            images: input
                .images
                .map(|images| images.into_iter().map(Into::into).collect()),
        };
        let changed = catalog::upsert_product(services, &handle, &product).await?;
        Ok(ProductPayload {
            product: changed.now.map(|r| product_view(ctx, r)),
            user_errors: user_errors(
                changed
                    .refused
                    .map(Rejection::into_user_errors)
                    .unwrap_or_default(),
            ),
        })
    }

    /// Changes the fields given of one variant (price, stock, title, whether
    /// it is for sale). Create variants with `upsertProduct`. Needs the `admin` role.
    async fn update_variant(
        &self,
        ctx: &Context<'_>,
        input: UpdateVariantInput,
    ) -> ApiResult<VariantPayload> {
        require_admin(ctx)?;
        let Ok(sku) = Sku::parse(&input.sku) else {
            return Ok(unknown(&input.sku));
        };
        let stock = match input.stock {
            MaybeUndefined::Undefined => Patch::Keep,
            MaybeUndefined::Null => Patch::Set(None),
            MaybeUndefined::Value(n) => Patch::Set(Some(n)),
        };
        let shipping = ShippingInput {
            weight_grams: input.weight_grams,
            requires_shipping: input.requires_shipping,
            tax_class: input.tax_class,
        };
        let price = input.price.map(|d| d.0);
        let patch = catalog::patch(input.title, price, stock, input.active, shipping);
        let changed = catalog::update_variant(Services::of(ctx), &sku, &patch).await?;
        Ok(variant_payload(ctx, changed))
    }

    /// Adds to or removes from a variant's tracked stock. Needs the `admin` role.
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        input: AdjustStockInput,
    ) -> ApiResult<VariantPayload> {
        require_admin(ctx)?;
        let Ok(sku) = Sku::parse(&input.sku) else {
            return Ok(unknown(&input.sku));
        };
        let changed = catalog::adjust_variant_stock(Services::of(ctx), &sku, input.delta).await?;
        Ok(variant_payload(ctx, changed))
    }
}

fn unknown(text: &str) -> VariantPayload {
    VariantPayload {
        variant: None,
        user_errors: user_errors(vec![DomainError::new(
            ErrorCode::UnknownSku,
            &["sku"],
            format!(
                "no variant has SKU '{}'",
                text.chars().take(64).collect::<String>()
            ),
        )]),
    }
}

fn variant_payload(ctx: &Context<'_>, changed: catalog::Changed<Variant>) -> VariantPayload {
    VariantPayload {
        variant: changed.now.map(|p| view(ctx, p)),
        user_errors: user_errors(
            changed
                .refused
                .map(Rejection::into_user_errors)
                .unwrap_or_default(),
        ),
    }
}
