//! Product and variant images as clients see and send them. The URLs are
//! passed through, never loaded: cartql serves no image.

use crate::domain::image::{Image, ImageInput as DomainImageInput};
use async_graphql::{InputObject, Object};

/// A picture of a product or a variant, hosted elsewhere.
pub struct ImageView(pub(crate) Image);

#[Object(name = "Image")]
impl ImageView {
    /// Where the picture is: an absolute `https://` URL, as the WHATWG URL
    /// parser writes it (ASCII, percent-encoded).
    async fn url(&self) -> &str {
        self.0.url()
    }
    /// What it shows, for people who cannot see it; `null` if not given.
    async fn alt_text(&self) -> Option<&str> {
        self.0.alt_text()
    }
    /// Width in pixels; `null` when unknown.
    async fn width(&self) -> Option<i32> {
        self.0.width().and_then(|w| i32::try_from(w).ok())
    }
    /// Height in pixels; `null` when unknown.
    async fn height(&self) -> Option<i32> {
        self.0.height().and_then(|h| i32::try_from(h).ok())
    }
}

impl ImageView {
    /// The view of a stored image.
    pub fn of(image: &Image) -> ImageView {
        ImageView(image.clone())
    }
}

/// An image as an admin gives it: an absolute `https://` URL with a host
/// (at most 2048 bytes, no spaces), alt text of at most 512 bytes (UTF-8),
/// width and height 1 to 20000 pixels when given.
#[derive(InputObject)]
pub struct ImageInput {
    /// Where the picture is (`https://images.example.com/tee.jpg`).
    pub url: String,
    /// What it shows, for people who cannot see it.
    pub alt_text: Option<String>,
    /// Width in pixels.
    pub width: Option<i32>,
    /// Height in pixels.
    pub height: Option<i32>,
}

impl From<ImageInput> for DomainImageInput {
    fn from(input: ImageInput) -> Self {
        DomainImageInput {
            url: input.url,
            alt_text: input.alt_text,
            width: input.width.map(i64::from),
            height: input.height.map(i64::from),
        }
    }
}
