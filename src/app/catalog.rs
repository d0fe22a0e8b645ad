//! The catalog: browsing it as a shopper or an admin sees it, and the admin
//! changes to products and variants.
//!
//! **Who sees what.** A product not for sale (`active: false`) is hidden
//! from shoppers, as Shopify hides an unpublished one, and shown to admins;
//! a variant of such a product likewise. A variant no product lists any
//! more has no handle and stays readable by SKU, for the carts and orders
//! that name it. Cart lines show their variants whatever they are (they do
//! not come through here).

use super::AppError;
use crate::auth::Viewer;
use crate::domain::catalog::{Product, SelectedOption, adjust_stock};
use crate::domain::product::{ProductInput, upsert, variant_with};
use crate::domain::shipping::ShippingInput;
use crate::domain::{
    ErrorCode, Handle, Patch, Rejection, Sku, UserError as DomainError, Variant, VariantPatch,
};
use crate::services::Services;
use crate::store::UpdateError;

/// How much of the catalog a viewer sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sight {
    /// Products for sale only (anyone).
    Shopper,
    /// Every product (viewers with the `admin` role).
    Admin,
}

impl Sight {
    /// What `viewer` sees.
    pub fn of(viewer: Option<&Viewer>) -> Sight {
        match viewer {
            Some(viewer) if viewer.is_admin() => Sight::Admin,
            _ => Sight::Shopper,
        }
    }

    fn sees(self, record: &Product) -> bool {
        self == Sight::Admin || record.active
    }

    fn sees_variant(self, variant: &Variant) -> bool {
        self == Sight::Admin || variant.handle.is_none() || variant.product_active
    }
}

/// The product `handle`, if the viewer may see it.
pub async fn product(
    services: &Services,
    sight: Sight,
    handle: &Handle,
) -> Result<Option<Product>, AppError> {
    let record = services.store.product(handle).await?;
    Ok(record.filter(|record| sight.sees(record)))
}

/// The product a variant belongs to (whoever asks: the variant was shown).
pub async fn parent(services: &Services, handle: &Handle) -> Result<Option<Product>, AppError> {
    Ok(services.store.product(handle).await?)
}

/// The first `first` variants of `record`, in its order.
pub async fn variants_of(
    services: &Services,
    record: &Product,
    first: usize,
) -> Result<Vec<Variant>, AppError> {
    let skus = &record.variants[..first.min(record.variants.len())];
    let found = services.store.variants_by_sku(skus).await?;
    Ok(skus
        .iter()
        .filter_map(|sku| found.get(sku).cloned())
        .collect())
}

/// Up to `fetch` products after `after`, in handle order, as the viewer may
/// see them. For shoppers the store is read on past products not for sale
/// until the page is full or the catalog ends, so a page is never short
/// while more follow; the cost grows with the hidden products skipped,
/// which only admins create.
pub async fn products(
    services: &Services,
    sight: Sight,
    after: Option<&Handle>,
    fetch: usize,
    largest_page: usize,
) -> Result<Vec<Product>, AppError> {
    let store = &services.store;
    if sight == Sight::Admin {
        return Ok(store.products(after, fetch).await?);
    }
    let mut shown = Vec::new();
    let mut after = after.cloned();
    let mut batch = fetch;
    loop {
        let records = store.products(after.as_ref(), batch).await?;
        let more = records.len() == batch;
        after = records.last().map(|r| r.handle.clone());
        shown.extend(records.into_iter().filter(|r| sight.sees(r)));
        if shown.len() >= fetch || !more {
            shown.truncate(fetch);
            return Ok(shown);
        }
        // Past the first read, read in the largest pages.
        batch = largest_page;
    }
}

/// The variant `sku`, if the viewer may see it.
pub async fn variant(
    services: &Services,
    sight: Sight,
    sku: &Sku,
) -> Result<Option<Variant>, AppError> {
    let variant = services.store.variant(sku).await?;
    Ok(variant.filter(|variant| sight.sees_variant(variant)))
}

/// The variant of the product `handle` with exactly these option values (an
/// option picker), if the viewer may see it.
pub async fn variant_by_selected_options(
    services: &Services,
    sight: Sight,
    handle: &Handle,
    selected: &[SelectedOption],
) -> Result<Option<Variant>, AppError> {
    let Some(record) = product(services, sight, handle).await? else {
        return Ok(None);
    };
    let variants: Vec<Variant> = variants_of(services, &record, usize::MAX)
        .await?
        .into_iter()
        .filter(|v| v.handle.as_ref() == Some(handle) && sight.sees_variant(v))
        .collect();
    Ok(variant_with(&variants, selected).cloned())
}

/// What an admin change did: the record as stored now (`None` if there is
/// none) and, if the change was refused, why.
#[derive(Clone, Debug)]
pub struct Changed<T> {
    /// As stored now.
    pub now: Option<T>,
    /// Why nothing changed.
    pub refused: Option<Rejection>,
}

/// Creates or replaces the product `handle` with its variants, in one
/// transaction, by the rule [`upsert`]. The caller is an admin.
pub async fn upsert_product(
    services: &Services,
    handle: &Handle,
    product: &ProductInput,
) -> Result<Changed<Product>, AppError> {
    let skus: Vec<Sku> = product
        .variants
        .iter()
        .take(crate::domain::product::MAX_VARIANTS)
        .filter_map(|v| Sku::parse(&v.sku).ok())
        .collect();
    let currency = services.shop.currency;
    let result = services
        .store
        .upsert_product(handle, &skus, &|existing, stored| {
            upsert(handle, product, existing, stored, &currency)
        })
        .await;
    match result {
        Ok((record, _)) => Ok(Changed {
            now: Some(record),
            refused: None,
        }),
        Err(UpdateError::Rejected(rejection)) => Ok(Changed {
            now: services.store.product(handle).await?,
            refused: Some(rejection),
        }),
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}

/// Changes the fields `patch` sets of the variant `sku`. The caller is an admin.
pub async fn update_variant(
    services: &Services,
    sku: &Sku,
    patch: &VariantPatch,
) -> Result<Changed<Variant>, AppError> {
    let currency = services.shop.currency;
    change_variant(services, sku, &mut |existing| match existing {
        Some(existing) => patch.apply(sku, Some(existing), &currency),
        None => Err(unknown_sku(sku)),
    })
    .await
}

/// Adds `delta` to the tracked stock of `sku`. The caller is an admin.
pub async fn adjust_variant_stock(
    services: &Services,
    sku: &Sku,
    delta: i64,
) -> Result<Changed<Variant>, AppError> {
    change_variant(services, sku, &mut |existing| match existing {
        Some(product) => adjust_stock(&product, delta),
        None => Err(unknown_sku(sku)),
    })
    .await
}

async fn change_variant(
    services: &Services,
    sku: &Sku,
    change: &mut crate::store::catalog::ProductUpdate<'_>,
) -> Result<Changed<Variant>, AppError> {
    match services.store.update_variant(sku, change).await {
        Ok(product) => Ok(Changed {
            now: Some(product),
            refused: None,
        }),
        Err(UpdateError::Rejected(rejection)) => Ok(Changed {
            now: services.store.variant(sku).await?,
            refused: Some(rejection),
        }),
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}

/// `UNKNOWN_SKU` on `sku`.
pub fn unknown_sku(sku: &Sku) -> Rejection {
    Rejection::one(DomainError::new(
        ErrorCode::UnknownSku,
        &["sku"],
        format!("no variant has SKU {sku}"),
    ))
}

/// The patch an admin's `updateVariant` asks for (fields left out are kept).
pub fn patch(
    title: Option<String>,
    price: Option<String>,
    stock: Patch<Option<i64>>,
    active: Option<bool>,
    shipping: ShippingInput,
) -> VariantPatch {
    VariantPatch {
        title: title.map_or(Patch::Keep, Patch::Set),
        price: price.map_or(Patch::Keep, Patch::Set),
        stock,
        active: active.map_or(Patch::Keep, Patch::Set),
        shipping,
    }
}

/// Checks client lines against the limits and the catalog (unknown SKUs,
/// variants not for sale, quantities out of range, bad attributes): the
/// lines to store, or every problem at once, by input index; and the
/// variants read for them.
pub async fn checked_lines(
    services: &Services,
    lines: &[crate::domain::LineInput],
) -> Result<
    (
        Result<Vec<crate::domain::NewLine>, crate::domain::Rejection>,
        std::collections::HashMap<crate::domain::Sku, crate::domain::Variant>,
    ),
    AppError,
> {
    // No request needs more lines than a cart holds (checkoutLines
    // included): refused before the catalog is read for them.
    if let Err(refused) = services.shop.limits.check_line_count(lines.len()) {
        return Ok((Err(refused), Default::default()));
    }
    let skus: Vec<crate::domain::Sku> = lines
        .iter()
        .filter_map(|l| crate::domain::Sku::parse(&l.sku).ok())
        .collect();
    let catalog = services.store.variants_by_sku(&skus).await?;
    let checked = crate::domain::cart::check_lines(
        lines,
        &services.shop.limits,
        &services.shop.attribute_limits,
        &catalog,
    );
    Ok((checked, catalog))
}
