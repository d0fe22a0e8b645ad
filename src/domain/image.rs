//! Product and variant images: where a picture is, what it shows and how
//! big it is, checked before it is stored.
//!
//! cartql never loads an image: it keeps the address and hands it to the
//! storefront, which shows it to every shopper. So the rule is strict about
//! what a browser will be told to load: an absolute `https://` URL with a
//! host, no user name or password in it, no whitespace or control
//! characters, kept as the WHATWG URL parser writes it (ASCII only,
//! percent-encoded: no quote or angle bracket survives into an HTML
//! attribute). Every limit counts UTF-8 bytes, as all catalog text does.

use super::error::{ErrorCode, UserError};
use serde::{Deserialize, Serialize};

/// Images one product may have.
pub const MAX_IMAGES: usize = 10;
/// UTF-8 bytes in an image URL, as given and as kept.
pub const MAX_URL_BYTES: usize = 2048;
/// UTF-8 bytes in an image's alternative text (128 characters of any script).
pub const MAX_ALT_TEXT_BYTES: usize = 512;
/// The largest width or height, in pixels.
pub const MAX_SIDE: u32 = 20_000;

/// An image as an admin sends it (unchecked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageInput {
    /// Where the picture is.
    pub url: String,
    /// What it shows, for people who cannot see it.
    pub alt_text: Option<String>,
    /// Width in pixels, if known.
    pub width: Option<i64>,
    /// Height in pixels, if known.
    pub height: Option<i64>,
}

/// A checked image: it can only hold values [`Image::parse`] accepts, and
/// is checked again when a stored one is read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredImage", into = "StoredImage")]
pub struct Image {
    url: String,
    alt_text: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
}

impl Image {
    /// Checks `input`; each problem is a user error on the field under `at`
    /// (`["images", "2"]` → `["images", "2", "url"]`). The URL is kept
    /// normalised, the alt text trimmed (blank is none).
    pub fn parse(input: &ImageInput, at: &[&str]) -> Result<Image, Vec<UserError>> {
        let mut errors = Vec::new();
        let mut fail = |name: &str, message: String| {
            let mut field = at.to_vec();
            field.push(name);
            errors.push(UserError::new(ErrorCode::InvalidImage, &field, message));
        };
        let url = checked_url(&input.url).map_err(|why| fail("url", why)).ok();
        let alt_text = checked_alt_text(input.alt_text.as_deref())
            .map_err(|why| fail("altText", why))
            .ok();
        let width = checked_side(input.width, "width")
            .map_err(|why| fail("width", why))
            .ok();
        let height = checked_side(input.height, "height")
            .map_err(|why| fail("height", why))
            .ok();
        match (url, alt_text, width, height) {
            (Some(url), Some(alt_text), Some(width), Some(height)) => Ok(Image {
                url,
                alt_text,
                width,
                height,
            }),
            _ => Err(errors),
        }
    }

    /// The absolute `https://` URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What the picture shows, if the admin said.
    pub fn alt_text(&self) -> Option<&str> {
        self.alt_text.as_deref()
    }

    /// Width in pixels, if known.
    pub fn width(&self) -> Option<u32> {
        self.width
    }

    /// Height in pixels, if known.
    pub fn height(&self) -> Option<u32> {
        self.height
    }
}

/// A product's images, in display order: at most [`MAX_IMAGES`], each
/// checked, every problem reported (under `images`). `None` if any was bad.
pub fn checked_images(given: &[ImageInput], errors: &mut Vec<UserError>) -> Option<Vec<Image>> {
    let before = errors.len();
    if given.len() > MAX_IMAGES {
        errors.push(UserError::new(
            ErrorCode::InvalidImage,
            &["images"],
            format!(
                "a product has at most {MAX_IMAGES} images, not {}",
                given.len()
            ),
        ));
    }
    let mut images = Vec::with_capacity(given.len().min(MAX_IMAGES));
    for (index, input) in given.iter().take(MAX_IMAGES).enumerate() {
        match Image::parse(input, &["images", &index.to_string()]) {
            Ok(image) => images.push(image),
            Err(bad) => errors.extend(bad),
        }
    }
    (errors.len() == before).then_some(images)
}

fn checked_url(text: &str) -> Result<String, String> {
    let too_long = || format!("an image URL has at most {MAX_URL_BYTES} bytes");
    // Length first: nothing longer is looked at, let alone parsed.
    if text.len() > MAX_URL_BYTES {
        return Err(too_long());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("an image URL has no spaces or control characters".into());
    }
    let is_https = text
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    let parsed = url::Url::parse(text).ok().filter(|_| is_https);
    let Some(url) = parsed.filter(|u| u.scheme() == "https") else {
        return Err("an image URL is absolute and starts with https://".into());
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err("an image URL names a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("an image URL holds no user name or password".into());
    }
    // Percent-encoding may lengthen it; what is kept obeys the limit too.
    let normalised = String::from(url);
    if normalised.len() > MAX_URL_BYTES {
        return Err(too_long());
    }
    Ok(normalised)
}

fn checked_alt_text(text: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.len() > MAX_ALT_TEXT_BYTES || text.chars().any(char::is_control) {
        return Err(format!(
            "alt text has at most {MAX_ALT_TEXT_BYTES} bytes (UTF-8), no control characters"
        ));
    }
    Ok(Some(text.to_string()))
}

fn checked_side(pixels: Option<i64>, name: &str) -> Result<Option<u32>, String> {
    match pixels {
        None => Ok(None),
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_SIDE).contains(n))
            .map(Some)
            .ok_or_else(|| format!("{name} is 1 to {MAX_SIDE} pixels, or null when unknown")),
    }
}

/// An image as it is stored (field names of the records around it; empty
/// fields left out), checked again when read.
#[derive(Serialize, Deserialize)]
struct StoredImage {
    url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alt_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
}

impl TryFrom<StoredImage> for Image {
    type Error = String;
    fn try_from(stored: StoredImage) -> Result<Self, Self::Error> {
        let input = ImageInput {
            url: stored.url,
            alt_text: stored.alt_text,
            width: stored.width.map(i64::from),
            height: stored.height.map(i64::from),
        };
        Image::parse(&input, &["image"]).map_err(|errors| {
            let reasons: Vec<String> = errors.into_iter().map(|e| e.message).collect();
            reasons.join("; ")
        })
    }
}

impl From<Image> for StoredImage {
    fn from(image: Image) -> Self {
        StoredImage {
            url: image.url,
            alt_text: image.alt_text,
            width: image.width,
            height: image.height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(url: &str) -> ImageInput {
        ImageInput {
            url: url.into(),
            ..Default::default()
        }
    }

    fn fields(errors: &[UserError]) -> Vec<String> {
        errors.iter().map(|e| e.field.join(".")).collect()
    }

    fn refused_url(url: &str) -> String {
        let errors = Image::parse(&image(url), &["images", "0"]).unwrap_err();
        assert_eq!(fields(&errors), ["images.0.url"], "{url}");
        assert_eq!(errors[0].code, ErrorCode::InvalidImage);
        errors[0].message.clone()
    }

    #[test]
    fn a_full_image_is_kept_with_its_url_normalised_and_alt_text_trimmed() {
        let input = ImageInput {
            url: "HTTPS://Images.Example.com/tee/black%20front.jpg?w=800".into(),
            alt_text: Some("  Black tee, front ".into()),
            width: Some(800),
            height: Some(1000),
        };
        let kept = Image::parse(&input, &[]).unwrap();
        assert_eq!(
            kept.url(),
            "https://images.example.com/tee/black%20front.jpg?w=800"
        );
        assert_eq!(kept.alt_text(), Some("Black tee, front"));
        assert_eq!((kept.width(), kept.height()), (Some(800), Some(1000)));
        let bare = Image::parse(&image("https://cdn.example.com"), &[]).unwrap();
        assert_eq!(bare.url(), "https://cdn.example.com/");
        assert_eq!(bare.alt_text(), None);
    }

    #[test]
    fn only_absolute_https_urls_with_a_host_are_accepted() {
        for url in [
            "http://images.example.com/a.jpg",
            "javascript:alert(1)",
            "JaVaScRiPt://images.example.com/%0aalert(1)",
            "data:image/png;base64,AAAA",
            "/images/a.jpg",
            "images.example.com/a.jpg",
            "//images.example.com/a.jpg",
            "https:images.example.com/a.jpg",
            "ftp://images.example.com/a.jpg",
            "https://",
            "https://[::1/a.jpg",
            "",
        ] {
            let why = refused_url(url);
            assert!(
                why.contains("https://") || why.contains("host"),
                "{url}: {why}"
            );
        }
    }

    #[test]
    fn urls_with_whitespace_control_characters_or_credentials_are_refused() {
        for url in [
            "https://images.example.com/a b.jpg",
            " https://images.example.com/a.jpg",
            "https://images.example.com/a.jpg\n",
            "https://images.example.com/\ta.jpg",
            "https://images.example.com/a\u{7}.jpg",
            "https://images.example.com/a\u{a0}.jpg",
        ] {
            assert!(refused_url(url).contains("no spaces"), "{url:?}");
        }
        for url in [
            "https://user@images.example.com/a.jpg",
            "https://user:secret@images.example.com/a.jpg",
        ] {
            assert!(refused_url(url).contains("user name"), "{url}");
        }
    }

    #[test]
    fn a_url_is_at_most_2048_bytes_as_given_and_as_kept() {
        let base = "https://images.example.com/";
        let fits = format!("{base}{}", "a".repeat(MAX_URL_BYTES - base.len()));
        assert_eq!(Image::parse(&image(&fits), &[]).unwrap().url(), fits);
        let over = format!("{fits}a");
        assert!(refused_url(&over).contains("2048 bytes"));
        assert!(refused_url(&"https://a.example/".repeat(200)).contains("2048 bytes"));
        // 1,000 bytes given, 3,000 once percent-encoded.
        let wide = format!("{base}{}", "é".repeat(500));
        assert!(wide.len() < MAX_URL_BYTES);
        assert!(refused_url(&wide).contains("2048 bytes"));
    }

    #[test]
    fn alt_text_is_at_most_512_bytes_not_characters() {
        let with_alt = |text: String| ImageInput {
            alt_text: Some(text),
            ..image("https://images.example.com/a.jpg")
        };
        let fits = "𝄞".repeat(128);
        assert_eq!(fits.len(), 512);
        assert!(Image::parse(&with_alt(fits.clone()), &[]).is_ok());
        let over = format!("{fits}a");
        let errors = Image::parse(&with_alt(over), &["variants", "0", "image"]).unwrap_err();
        assert_eq!(fields(&errors), ["variants.0.image.altText"]);
        assert!(errors[0].message.contains("512 bytes"));
        let bell = Image::parse(&with_alt("a\u{7}b".into()), &[]).unwrap_err();
        assert_eq!(fields(&bell), ["altText"]);
        let blank = Image::parse(&with_alt("   ".into()), &[]).unwrap();
        assert_eq!(blank.alt_text(), None);
    }

    #[test]
    fn sides_are_1_to_20000_pixels_and_every_bad_field_is_named() {
        let sized = |width, height| ImageInput {
            width,
            height,
            ..image("https://images.example.com/a.jpg")
        };
        assert!(Image::parse(&sized(Some(1), Some(20_000)), &[]).is_ok());
        assert!(Image::parse(&sized(None, None), &[]).is_ok());
        for (width, height, bad) in [
            (Some(0), None, vec!["width"]),
            (None, Some(20_001), vec!["height"]),
            (Some(-1), Some(i64::MAX), vec!["width", "height"]),
        ] {
            let errors = Image::parse(&sized(width, height), &[]).unwrap_err();
            assert_eq!(fields(&errors), bad);
        }
        let all = ImageInput {
            url: "http://x".into(),
            alt_text: Some("\u{0}".into()),
            width: Some(0),
            height: Some(0),
        };
        let errors = Image::parse(&all, &["images", "3"]).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "images.3.url",
                "images.3.altText",
                "images.3.width",
                "images.3.height"
            ]
        );
    }

    #[test]
    fn a_product_has_at_most_ten_images_and_each_is_checked() {
        let ok = image("https://images.example.com/a.jpg");
        let mut errors = Vec::new();
        let ten = checked_images(&vec![ok.clone(); MAX_IMAGES], &mut errors).unwrap();
        assert_eq!((ten.len(), errors.len()), (MAX_IMAGES, 0));
        assert_eq!(checked_images(&[], &mut errors), Some(vec![]));
        assert_eq!(checked_images(&vec![ok.clone(); 11], &mut errors), None);
        assert_eq!(fields(&errors), ["images"]);
        assert!(errors[0].message.contains("at most 10 images"));
        let mut errors = Vec::new();
        let given = [ok.clone(), image("http://x"), ok, image("/a.jpg")];
        assert_eq!(checked_images(&given, &mut errors), None);
        assert_eq!(fields(&errors), ["images.1.url", "images.3.url"]);
    }

    #[test]
    fn images_are_stored_without_empty_fields_and_checked_again_when_read() {
        let kept = Image::parse(&image("https://images.example.com/a.jpg"), &[]).unwrap();
        let json = serde_json::to_value(&kept).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"url": "https://images.example.com/a.jpg"})
        );
        assert_eq!(serde_json::from_value::<Image>(json).unwrap(), kept);
        let packed = rmp_serde::to_vec_named(&kept).unwrap();
        assert_eq!(rmp_serde::from_slice::<Image>(&packed).unwrap(), kept);
        let forged = serde_json::json!({"url": "javascript:alert(1)", "width": 0});
        let err = serde_json::from_value::<Image>(forged).unwrap_err();
        assert!(err.to_string().contains("https://"), "{err}");
    }
}
