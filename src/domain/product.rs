//! Products with options and variants, and the rules for writing one.
//!
//! A product (by handle) offers options (`Size`, `Colour`) and variants (by
//! SKU), each variant one combination of option values. A SKU belongs to at
//! most one product; one that its product stops listing is detached (still
//! readable, not for sale) and may be listed by another. [`upsert`] checks a
//! whole product as an admin sends it and turns it into the records to
//! store: the product and every variant it touches. All problems are
//! reported at once, each naming its field.

use super::catalog::{MAX_STOCK, Product, ProductOption, SelectedOption, Variant};
use super::error::{ErrorCode, Rejection, UserError};
use super::image::{Image, ImageInput, checked_images};
use super::money::{Currency, Money};
use super::names::{Handle, Sku};
use super::shipping::ShippingInput;
use std::collections::{HashMap, HashSet};

/// Options one product may have.
pub const MAX_OPTIONS: usize = 3;
/// Values one option may offer.
pub const MAX_OPTION_VALUES: usize = 100;
/// Variants one product may have.
pub const MAX_VARIANTS: usize = 100;
/// UTF-8 bytes in an option name or value (64 characters of any script).
pub const MAX_OPTION_BYTES: usize = 256;
/// UTF-8 bytes in a description (5,000 characters of any script).
pub const MAX_DESCRIPTION_BYTES: usize = 20_000;

/// A product as an admin sends it (text, unchecked; the handle is checked).
#[derive(Clone, Debug, Default)]
pub struct ProductInput {
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Options with their values.
    pub options: Vec<(String, Vec<String>)>,
    /// The variants, in display order.
    pub variants: Vec<VariantInput>,
    /// Whether the product is for sale.
    pub active: bool,
    /// Its images in display order: `None` keeps what a stored product has
    /// (none for a new one), so a client that predates images cannot wipe
    /// them; an empty list removes them.
    pub images: Option<Vec<ImageInput>>,
}

/// A variant as an admin sends it.
#[derive(Clone, Debug, Default)]
pub struct VariantInput {
    /// Its SKU.
    pub sku: String,
    /// Its title; by default its option values (`M / Black`), or the product's title.
    pub title: Option<String>,
    /// Its value of each option.
    pub selected_options: Vec<(String, String)>,
    /// Unit price, a decimal string.
    pub price: String,
    /// The price before a reduction.
    pub compare_at_price: Option<String>,
    /// Stock: `None` keeps what an existing variant has (untracked for a new
    /// one); `Some(None)` stops tracking.
    pub stock: Option<Option<i64>>,
    /// Whether this variant is for sale.
    pub active: bool,
    /// Its own picture; `None` means none (like `compare_at_price`: the
    /// variants are sent whole).
    pub image: Option<ImageInput>,
    /// Weight, shipping flag, tax class: each `None` keeps what the variant
    /// has (like `stock`), the defaults for a new one.
    pub shipping: ShippingInput,
}

/// Checks `input` as the product `handle`, given what is stored: the
/// product (if any) and the variants of every SKU involved (the input's and
/// the stored product's). Returns the product and the variants to write:
/// the input's, and those the product no longer lists (kept, so carts and
/// orders still find them, but no longer for sale).
pub fn upsert(
    handle: &Handle,
    input: &ProductInput,
    existing: Option<&Product>,
    stored: &HashMap<Sku, Variant>,
    currency: &Currency,
) -> Result<(Product, Vec<Variant>), Rejection> {
    let mut errors = Vec::new();
    let title = checked_title(&input.title, &["title"], &mut errors);
    let description = input
        .description
        .as_deref()
        .unwrap_or("")
        .trim()
        .to_string();
    if description.len() > MAX_DESCRIPTION_BYTES
        || description
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(invalid_product(
            &["description"],
            format!("a description has at most {MAX_DESCRIPTION_BYTES} bytes (UTF-8), no control characters but line breaks"),
        ));
    }
    let options = checked_options(&input.options, &mut errors);
    let images = match &input.images {
        Some(given) => checked_images(given, &mut errors),
        None => Some(existing.map(|p| p.images.clone()).unwrap_or_default()),
    };
    if input.variants.is_empty() || input.variants.len() > MAX_VARIANTS {
        errors.push(variant_error(
            &["variants"],
            format!("a product has 1 to {MAX_VARIANTS} variants"),
        ));
    }
    let mut variants = Vec::with_capacity(input.variants.len());
    let mut skus = HashSet::new();
    let mut combinations = HashSet::new();
    for (index, given) in input.variants.iter().take(MAX_VARIANTS).enumerate() {
        let i = index.to_string();
        let field = |name: &str| vec!["variants".to_string(), i.clone(), name.to_string()];
        let at = |name: &str| field(name);
        let sku = match Sku::parse(&given.sku) {
            Ok(sku) => sku,
            Err(why) => {
                errors.push(UserError::new(
                    ErrorCode::InvalidProduct,
                    &refs(&at("sku")),
                    why,
                ));
                continue;
            }
        };
        if !skus.insert(sku.clone()) {
            errors.push(UserError::new(
                ErrorCode::DuplicateSku,
                &refs(&at("sku")),
                format!("{sku} appears more than once"),
            ));
            continue;
        }
        let current = stored.get(&sku);
        if let Some(other) = current.and_then(|v| v.handle.as_ref())
            && other != handle
        {
            errors.push(UserError::new(
                ErrorCode::DuplicateSku,
                &refs(&at("sku")),
                format!("{sku} is a variant of the product {other}"),
            ));
            continue;
        }
        let selected = match &options {
            Some(options) => checked_selection(options, &given.selected_options, &i, &mut errors),
            None => None,
        };
        if let Some(selected) = &selected {
            let key: Vec<&str> = selected.iter().map(|s| s.value.as_str()).collect();
            if !combinations.insert(key.join("\u{0}")) {
                let message = if selected.is_empty() {
                    "a product without options has one variant; give it options to offer more"
                        .into()
                } else {
                    format!("another variant already has {}", describe(selected))
                };
                errors.push(variant_error(&refs(&at("selectedOptions")), message));
            }
        }
        let price = checked_price(&given.price, &at("price"), currency, &mut errors);
        let compare_at_price = match &given.compare_at_price {
            None => Some(None),
            Some(text) if text.trim().is_empty() => Some(None),
            Some(text) => {
                checked_price(text, &at("compareAtPrice"), currency, &mut errors).map(Some)
            }
        };
        let stock = match given.stock {
            None => Some(current.and_then(|v| v.stock)),
            Some(Some(n)) if !(0..=MAX_STOCK).contains(&n) => {
                errors.push(UserError::new(
                    ErrorCode::InvalidProduct,
                    &refs(&at("stock")),
                    format!("stock is 0 to {MAX_STOCK}, or null for untracked"),
                ));
                None
            }
            Some(stock) => Some(stock),
        };
        let shipping = given
            .shipping
            .apply(
                &current.map(|v| v.shipping.clone()).unwrap_or_default(),
                &["variants", &i],
            )
            .map_err(|bad| errors.extend(bad))
            .ok();
        let image = match &given.image {
            None => Some(None),
            Some(image) => Image::parse(image, &refs(&at("image")))
                .map_err(|bad| errors.extend(bad))
                .ok()
                .map(Some),
        };
        let variant_title = match &given.title {
            Some(text) => checked_title(text, &refs(&at("title")), &mut errors),
            None => match (&selected, &title) {
                (Some(selected), _) if !selected.is_empty() => Some(
                    selected
                        .iter()
                        .map(|s| s.value.as_str())
                        .collect::<Vec<_>>()
                        .join(" / "),
                ),
                (_, Some(title)) => Some(title.clone()),
                _ => None,
            },
        };
        if let (
            Some(selected),
            Some(price),
            Some(compare_at_price),
            Some(stock),
            Some(variant_title),
            Some(title),
            Some(image),
            Some(shipping),
        ) = (
            selected,
            price,
            compare_at_price,
            stock,
            variant_title,
            &title,
            image,
            shipping,
        ) {
            variants.push(Variant {
                sku,
                title: variant_title,
                price,
                stock,
                active: given.active,
                handle: Some(handle.clone()),
                product_title: Some(title.clone()),
                product_active: input.active,
                selected_options: selected,
                compare_at_price,
                image,
                shipping,
            });
        }
    }
    let (Some(title), Some(options), Some(images)) = (title, options, images) else {
        return Err(Rejection::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    let record = Product {
        handle: handle.clone(),
        title,
        description,
        options,
        variants: variants.iter().map(|v| v.sku.clone()).collect(),
        active: input.active,
        images,
    };
    // Variants the product no longer lists are detached: still readable by
    // SKU (carts and orders name them), not for sale, free for any product.
    if let Some(existing) = existing {
        for sku in &existing.variants {
            if !skus.contains(sku)
                && let Some(old) = stored.get(sku)
            {
                variants.push(detached(old));
            }
        }
    }
    Ok((record, variants))
}

/// A variant no product lists any more.
pub fn detached(variant: &Variant) -> Variant {
    Variant {
        handle: None,
        product_active: false,
        ..variant.clone()
    }
}

/// The variant of `record` with exactly these option values, among `variants`.
pub fn variant_with<'a>(
    variants: &'a [Variant],
    selected: &[SelectedOption],
) -> Option<&'a Variant> {
    let want: HashSet<&SelectedOption> = selected.iter().collect();
    variants.iter().find(|v| {
        v.selected_options.len() == want.len()
            && v.selected_options.iter().all(|s| want.contains(s))
    })
}

fn refs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

fn describe(selected: &[SelectedOption]) -> String {
    selected
        .iter()
        .map(|s| format!("{}: {}", s.name, s.value))
        .collect::<Vec<_>>()
        .join(", ")
}

fn checked_title(text: &str, field: &[&str], errors: &mut Vec<UserError>) -> Option<String> {
    match super::names::Title::parse(text) {
        Ok(title) => Some(title.into_string()),
        Err(why) => {
            errors.push(invalid_product(field, why));
            None
        }
    }
}

fn checked_name(text: &str, field: &[&str], errors: &mut Vec<UserError>) -> Option<String> {
    let trimmed = text.trim();
    if trimmed.is_empty()
        || trimmed.len() > MAX_OPTION_BYTES
        || trimmed.chars().any(char::is_control)
    {
        errors.push(variant_error(
            field,
            format!("option names and values have 1 to {MAX_OPTION_BYTES} bytes (UTF-8), no control characters"),
        ));
        return None;
    }
    Some(trimmed.to_string())
}

fn checked_options(
    input: &[(String, Vec<String>)],
    errors: &mut Vec<UserError>,
) -> Option<Vec<ProductOption>> {
    if input.len() > MAX_OPTIONS {
        errors.push(variant_error(
            &["options"],
            format!("a product has at most {MAX_OPTIONS} options"),
        ));
        return None;
    }
    let before = errors.len();
    let mut options: Vec<ProductOption> = Vec::with_capacity(input.len());
    for (index, (name, values)) in input.iter().enumerate() {
        let i = index.to_string();
        let Some(name) = checked_name(name, &["options", &i, "name"], errors) else {
            continue;
        };
        if options.iter().any(|o| o.name == name) {
            errors.push(variant_error(
                &["options", &i, "name"],
                format!("the option {name} appears more than once"),
            ));
            continue;
        }
        if values.is_empty() || values.len() > MAX_OPTION_VALUES {
            errors.push(variant_error(
                &["options", &i, "values"],
                format!("an option has 1 to {MAX_OPTION_VALUES} values"),
            ));
            continue;
        }
        let mut checked: Vec<String> = Vec::with_capacity(values.len());
        for (v, value) in values.iter().enumerate() {
            let v = v.to_string();
            if let Some(value) = checked_name(value, &["options", &i, "values", &v], errors) {
                if checked.contains(&value) {
                    errors.push(variant_error(
                        &["options", &i, "values", &v],
                        format!("{name} offers {value} more than once"),
                    ));
                } else {
                    checked.push(value);
                }
            }
        }
        options.push(ProductOption {
            name,
            values: checked,
        });
    }
    (errors.len() == before).then_some(options)
}

/// A variant's option values: exactly one value of each option, in the
/// product's option order.
fn checked_selection(
    options: &[ProductOption],
    given: &[(String, String)],
    index: &str,
    errors: &mut Vec<UserError>,
) -> Option<Vec<SelectedOption>> {
    let field = ["variants", index, "selectedOptions"];
    let mut selected = Vec::with_capacity(options.len());
    for option in options {
        let values: Vec<&str> = given
            .iter()
            .filter(|(name, _)| name.trim() == option.name)
            .map(|(_, value)| value.trim())
            .collect();
        match values.as_slice() {
            [value] if option.values.iter().any(|v| v == value) => selected.push(SelectedOption {
                name: option.name.clone(),
                value: value.to_string(),
            }),
            [value] => {
                errors.push(variant_error(
                    &field,
                    format!(
                        "{} is not a value of {} (it offers {})",
                        value.chars().take(64).collect::<String>(),
                        option.name,
                        option.values.join(", ")
                    ),
                ));
                return None;
            }
            [] => {
                errors.push(variant_error(
                    &field,
                    format!("give a value of {}", option.name),
                ));
                return None;
            }
            _ => {
                errors.push(variant_error(
                    &field,
                    format!("{} is given more than once", option.name),
                ));
                return None;
            }
        }
    }
    if let Some((name, _)) = given
        .iter()
        .find(|(name, _)| !options.iter().any(|o| o.name == name.trim()))
    {
        errors.push(variant_error(
            &field,
            format!(
                "the product has no option {}",
                name.chars().take(64).collect::<String>()
            ),
        ));
        return None;
    }
    Some(selected)
}

fn checked_price(
    text: &str,
    field: &[String],
    currency: &Currency,
    errors: &mut Vec<UserError>,
) -> Option<Money> {
    match currency.parse_amount(text) {
        Ok(money) => Some(money),
        Err(e) => {
            let shown: String = text.chars().take(40).collect();
            errors.push(UserError::new(
                ErrorCode::InvalidProduct,
                &refs(field),
                format!("price '{shown}' {e}"),
            ));
            None
        }
    }
}

fn invalid_product(field: &[&str], message: impl Into<String>) -> UserError {
    UserError::new(ErrorCode::InvalidProduct, field, message)
}

fn variant_error(field: &[&str], message: impl Into<String>) -> UserError {
    UserError::new(ErrorCode::InvalidVariant, field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn handle() -> Handle {
        Handle::parse("tee").unwrap()
    }

    fn variant(sku: &str, size: &str, colour: &str) -> VariantInput {
        VariantInput {
            sku: sku.into(),
            selected_options: vec![
                ("Size".into(), size.into()),
                ("Colour".into(), colour.into()),
            ],
            price: "19.99".into(),
            active: true,
            ..Default::default()
        }
    }

    fn tee(variants: Vec<VariantInput>) -> ProductInput {
        ProductInput {
            title: "Tee".into(),
            description: None,
            options: vec![
                ("Size".into(), vec!["M".into(), "L".into()]),
                ("Colour".into(), vec!["Black".into(), "White".into()]),
            ],
            variants,
            active: true,
            images: None,
        }
    }

    fn codes_and_fields(rejection: Rejection) -> Vec<(ErrorCode, String)> {
        rejection
            .into_user_errors()
            .into_iter()
            .map(|e| (e.code, e.field.join(".")))
            .collect()
    }

    #[test]
    fn a_product_with_options_makes_one_record_per_variant() {
        let input = tee(vec![
            variant("TEE-M-B", "M", "Black"),
            variant("TEE-L-B", " L ", "Black"),
        ]);
        let (record, variants) = upsert(&handle(), &input, None, &HashMap::new(), &usd()).unwrap();
        assert_eq!(record.variants.len(), 2);
        assert_eq!(variants[1].title, "L / Black");
        assert_eq!(variants[1].product_title.as_deref(), Some("Tee"));
        assert_eq!(variants[1].selected_options[0].value, "L");
        assert_eq!(variants[0].stock, None);
        let found = variant_with(
            &variants,
            &[
                SelectedOption {
                    name: "Colour".into(),
                    value: "Black".into(),
                },
                SelectedOption {
                    name: "Size".into(),
                    value: "L".into(),
                },
            ],
        );
        assert_eq!(found.unwrap().sku.as_str(), "TEE-L-B");
    }

    #[test]
    fn every_inconsistency_is_named() {
        let mut missing = variant("D", "M", "Black");
        missing.selected_options.pop();
        let mut extra = variant("E", "L", "White");
        extra.selected_options.push(("Fit".into(), "Slim".into()));
        let input = tee(vec![
            variant("A", "M", "Black"),
            variant("A", "L", "Black"),
            variant("B", "M", "Black"),
            variant("C", "XL", "Black"),
            missing,
            extra,
        ]);
        let got =
            codes_and_fields(upsert(&handle(), &input, None, &HashMap::new(), &usd()).unwrap_err());
        assert_eq!(
            got,
            [
                (ErrorCode::DuplicateSku, "variants.1.sku".into()),
                (
                    ErrorCode::InvalidVariant,
                    "variants.2.selectedOptions".into()
                ),
                (
                    ErrorCode::InvalidVariant,
                    "variants.3.selectedOptions".into()
                ),
                (
                    ErrorCode::InvalidVariant,
                    "variants.4.selectedOptions".into()
                ),
                (
                    ErrorCode::InvalidVariant,
                    "variants.5.selectedOptions".into()
                ),
            ]
        );
    }

    #[test]
    fn bad_options_and_fields_are_refused() {
        let mut input = tee(vec![variant("A", "M", "Black")]);
        input.options.push(("Size".into(), vec!["S".into()]));
        input.options.push(("Fit".into(), vec![]));
        input.title = " ".into();
        let mut bad = variant("B", "L", "Black");
        bad.price = "-1".into();
        bad.stock = Some(Some(-1));
        input.variants.push(bad);
        let got =
            codes_and_fields(upsert(&handle(), &input, None, &HashMap::new(), &usd()).unwrap_err());
        assert!(
            got.contains(&(ErrorCode::InvalidProduct, "title".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&(ErrorCode::InvalidVariant, "options".into())),
            "{got:?}"
        );
        let input = ProductInput {
            variants: vec![],
            ..tee(vec![])
        };
        let got =
            codes_and_fields(upsert(&handle(), &input, None, &HashMap::new(), &usd()).unwrap_err());
        assert_eq!(got, [(ErrorCode::InvalidVariant, "variants".into())]);
    }

    #[test]
    fn a_sku_of_another_product_is_refused_and_dropped_variants_stop_selling() {
        let (record, variants) = upsert(
            &handle(),
            &tee(vec![variant("A", "M", "Black"), variant("B", "L", "Black")]),
            None,
            &HashMap::new(),
            &usd(),
        )
        .unwrap();
        let mut stored: HashMap<Sku, Variant> =
            variants.into_iter().map(|v| (v.sku.clone(), v)).collect();
        stored.get_mut(&Sku::parse("A").unwrap()).unwrap().stock = Some(7);
        let other = Handle::parse("other").unwrap();
        let got = codes_and_fields(
            upsert(
                &other,
                &tee(vec![variant("A", "M", "Black")]),
                None,
                &stored,
                &usd(),
            )
            .unwrap_err(),
        );
        assert_eq!(got, [(ErrorCode::DuplicateSku, "variants.0.sku".into())]);
        let (_, written) = upsert(
            &handle(),
            &tee(vec![variant("A", "M", "White")]),
            Some(&record),
            &stored,
            &usd(),
        )
        .unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(written[0].stock, Some(7), "stock is kept when not given");
        assert!(written[0].for_sale());
        assert_eq!(written[1].sku.as_str(), "B");
        assert!(!written[1].for_sale());
        assert_eq!(written[1].handle, None);
        // A detached SKU may be listed by another product.
        stored.insert(written[1].sku.clone(), written[1].clone());
        let (_, moved) = upsert(
            &other,
            &tee(vec![variant("B", "M", "Black")]),
            None,
            &stored,
            &usd(),
        )
        .unwrap();
        assert_eq!(moved[0].handle.as_ref(), Some(&other));
        assert!(moved[0].for_sale());
    }

    #[test]
    fn a_product_without_options_has_one_plain_variant() {
        let input = ProductInput {
            title: "Mug".into(),
            variants: vec![VariantInput {
                sku: "MUG".into(),
                price: "9.50".into(),
                active: true,
                ..Default::default()
            }],
            active: true,
            ..Default::default()
        };
        let (record, variants) = upsert(&handle(), &input, None, &HashMap::new(), &usd()).unwrap();
        assert!(record.options.is_empty());
        assert_eq!(variants[0].title, "Mug");
    }

    fn picture(url: &str) -> ImageInput {
        ImageInput {
            url: url.into(),
            ..Default::default()
        }
    }

    #[test]
    fn images_left_out_are_kept_an_empty_list_clears_them_and_variant_images_are_written_whole() {
        let mut with_images = tee(vec![VariantInput {
            image: Some(picture("https://images.example.com/tee-m.jpg")),
            ..variant("A", "M", "Black")
        }]);
        with_images.images = Some(vec![
            picture("https://images.example.com/tee.jpg"),
            picture("https://images.example.com/tee-back.jpg"),
        ]);
        let (record, variants) =
            upsert(&handle(), &with_images, None, &HashMap::new(), &usd()).unwrap();
        let urls: Vec<&str> = record.images.iter().map(|i| i.url()).collect();
        assert_eq!(
            urls,
            [
                "https://images.example.com/tee.jpg",
                "https://images.example.com/tee-back.jpg"
            ]
        );
        assert_eq!(
            variants[0].image.as_ref().map(|i| i.url()),
            Some("https://images.example.com/tee-m.jpg")
        );
        let stored: HashMap<Sku, Variant> =
            variants.into_iter().map(|v| (v.sku.clone(), v)).collect();

        let left_out = tee(vec![variant("A", "M", "Black")]);
        let (kept, variants) =
            upsert(&handle(), &left_out, Some(&record), &stored, &usd()).unwrap();
        assert_eq!(
            kept.images, record.images,
            "no `images`: the stored ones stay"
        );
        assert_eq!(variants[0].image, None, "no `image`: the variant has none");

        let (new, _) = upsert(&handle(), &left_out, None, &HashMap::new(), &usd()).unwrap();
        assert!(new.images.is_empty());

        let cleared = ProductInput {
            images: Some(vec![]),
            ..left_out
        };
        let (cleared, _) = upsert(&handle(), &cleared, Some(&record), &stored, &usd()).unwrap();
        assert!(cleared.images.is_empty());
    }

    #[test]
    fn bad_images_are_refused_by_their_field_with_everything_else() {
        let mut input = tee(vec![
            variant("A", "M", "Black"),
            VariantInput {
                image: Some(picture("javascript:alert(1)")),
                ..variant("B", "L", "Black")
            },
        ]);
        input.images = Some(vec![
            picture("https://images.example.com/a.jpg"),
            picture("http://images.example.com/b.jpg"),
        ]);
        input.title = String::new();
        let got =
            codes_and_fields(upsert(&handle(), &input, None, &HashMap::new(), &usd()).unwrap_err());
        assert_eq!(
            got,
            [
                (ErrorCode::InvalidProduct, "title".into()),
                (ErrorCode::InvalidImage, "images.1.url".into()),
                (ErrorCode::InvalidImage, "variants.1.image.url".into()),
            ]
        );
        input.title = "Tee".into();
        input.images = Some(vec![picture("https://images.example.com/a.jpg"); 11]);
        input.variants.truncate(1);
        let got =
            codes_and_fields(upsert(&handle(), &input, None, &HashMap::new(), &usd()).unwrap_err());
        assert_eq!(got, [(ErrorCode::InvalidImage, "images".into())]);
    }
}
