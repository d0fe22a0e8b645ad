//! Products, the shop, and the admin-only catalog mutations.

use super::error::{ApiError, ApiResult};
use super::pagination::PageRequest;
use super::require_admin;
use super::types::{Decimal, MoneyView, ShopView, UserErrorView, user_errors};
use crate::domain::catalog::adjust_stock;
use crate::domain::{
    Currency, ErrorCode, Patch, Product, ProductPatch, Rejection, Sku, UserError as DomainError,
};
use crate::services::Services;
use crate::store::UpdateError;
use async_graphql::connection::Connection;
use async_graphql::{Context, InputObject, MaybeUndefined, Object, SimpleObject};

/// A product with its price in the shop currency.
pub struct ProductView {
    pub(crate) product: Product,
    pub(crate) currency: Currency,
}

#[Object(name = "Product")]
impl ProductView {
    /// Stock-keeping unit, the product's key.
    async fn sku(&self) -> &str {
        self.product.sku.as_str()
    }
    /// Display title.
    async fn title(&self) -> &str {
        &self.product.title
    }
    /// Unit price.
    async fn price(&self) -> MoneyView {
        MoneyView::new(self.product.price, &self.currency)
    }
    /// Units in stock; `null` when stock is not tracked.
    async fn stock(&self) -> Option<i64> {
        self.product.stock
    }
    /// Whether it can be added to carts and bought.
    async fn active(&self) -> bool {
        self.product.active
    }
}

/// Catalog queries, open to everyone.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// One product by SKU, or `null`.
    async fn product(&self, ctx: &Context<'_>, sku: String) -> ApiResult<Option<ProductView>> {
        let Ok(sku) = Sku::parse(&sku) else {
            return Ok(None);
        };
        let product = Services::of(ctx).store.product(&sku).await?;
        Ok(product.map(|product| view(ctx, product)))
    }

    /// Products in SKU order, as a cursor connection (`first` at most 100).
    #[graphql(
        complexity = "super::complexity::list(super::complexity::page(first), child_complexity)"
    )]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> ApiResult<Connection<String, ProductView>> {
        let page = PageRequest::parse(first, after, |cursor| Sku::parse(cursor).ok())?;
        let products = Services::of(ctx)
            .store
            .products(page.after.as_ref(), page.fetch())
            .await?;
        Ok(page.connection(products, |p| (p.sku.to_string(), view(ctx, p))))
    }

    /// The shop's currency and limits.
    async fn shop(&self, ctx: &Context<'_>) -> ShopView {
        let settings = &Services::of(ctx).shop;
        ShopView {
            currency: settings.currency,
            limits: settings.limits,
            attribute_limits: settings.attribute_limits,
        }
    }
}

fn view(ctx: &Context<'_>, product: Product) -> ProductView {
    ProductView {
        product,
        currency: Services::of(ctx).shop.currency,
    }
}

/// Creates a product or changes the fields given.
#[derive(InputObject)]
pub struct UpsertProductInput {
    /// The product's SKU.
    pub sku: String,
    /// Title; required for a new product.
    pub title: Option<String>,
    /// Unit price as a decimal string; required for a new product.
    pub price: Option<Decimal>,
    /// Units in stock; `null` stops tracking stock; omit to leave as is.
    pub stock: MaybeUndefined<i64>,
    /// Whether it is for sale (new products default to `true`).
    pub active: Option<bool>,
}

/// Adds `delta` (negative to remove) to a product's tracked stock.
#[derive(InputObject)]
pub struct AdjustStockInput {
    /// The product's SKU.
    pub sku: String,
    /// Units to add; negative removes. Stock never goes below zero.
    pub delta: i64,
}

/// The product after an admin change.
#[derive(SimpleObject)]
pub struct ProductPayload {
    /// The product as stored now (`null` if the change was refused and it does not exist).
    pub product: Option<ProductView>,
    /// Why the change was refused, if it was.
    pub user_errors: Vec<UserErrorView>,
}

/// Admin-only catalog mutations.
#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Creates or changes a product. Needs the `admin` role.
    async fn upsert_product(
        &self,
        ctx: &Context<'_>,
        input: UpsertProductInput,
    ) -> ApiResult<ProductPayload> {
        require_admin(ctx)?;
        let sku = match Sku::parse(&input.sku) {
            Ok(sku) => sku,
            Err(why) => {
                return Ok(refused(vec![DomainError::new(
                    ErrorCode::InvalidProduct,
                    &["sku"],
                    why,
                )]));
            }
        };
        let patch = ProductPatch {
            title: input.title.map_or(Patch::Keep, Patch::Set),
            price: input.price.map_or(Patch::Keep, |d| Patch::Set(d.0)),
            stock: match input.stock {
                MaybeUndefined::Undefined => Patch::Keep,
                MaybeUndefined::Null => Patch::Set(None),
                MaybeUndefined::Value(n) => Patch::Set(Some(n)),
            },
            active: input.active.map_or(Patch::Keep, Patch::Set),
        };
        let currency = Services::of(ctx).shop.currency;
        let result = Services::of(ctx)
            .store
            .update_product(&sku, &mut |existing| patch.apply(&sku, existing, &currency))
            .await;
        product_payload(ctx, &sku, result).await
    }

    /// Adds to or removes from a product's tracked stock. Needs the `admin` role.
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        input: AdjustStockInput,
    ) -> ApiResult<ProductPayload> {
        require_admin(ctx)?;
        let unknown =
            |why: String| refused(vec![DomainError::new(ErrorCode::UnknownSku, &["sku"], why)]);
        let Ok(sku) = Sku::parse(&input.sku) else {
            return Ok(unknown(format!(
                "no product has SKU '{}'",
                input.sku.chars().take(64).collect::<String>()
            )));
        };
        let result = Services::of(ctx)
            .store
            .update_product(&sku, &mut |existing| match existing {
                Some(product) => adjust_stock(&product, input.delta),
                None => Err(Rejection::one(DomainError::new(
                    ErrorCode::UnknownSku,
                    &["sku"],
                    format!("no product has SKU {sku}"),
                ))),
            })
            .await;
        product_payload(ctx, &sku, result).await
    }
}

fn refused(errors: Vec<DomainError>) -> ProductPayload {
    ProductPayload {
        product: None,
        user_errors: user_errors(errors),
    }
}

async fn product_payload(
    ctx: &Context<'_>,
    sku: &Sku,
    result: Result<Product, UpdateError>,
) -> ApiResult<ProductPayload> {
    match result {
        Ok(product) => Ok(ProductPayload {
            product: Some(view(ctx, product)),
            user_errors: Vec::new(),
        }),
        Err(UpdateError::Rejected(rejection)) => {
            let current = Services::of(ctx).store.product(sku).await?;
            Ok(ProductPayload {
                product: current.map(|p| view(ctx, p)),
                user_errors: user_errors(rejection.into_user_errors()),
            })
        }
        Err(UpdateError::Store(e)) => Err(ApiError::from(e)),
    }
}
