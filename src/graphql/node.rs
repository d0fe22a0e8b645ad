//! The `Node` interface over the global ids ([`ids`](super::ids)), and
//! `node(id)` / `nodes(ids)`: they answer a cart only to the viewer whose
//! owner tag it carries, an order only to its buyer or an admin, a discount
//! only to an admin, catalog entities as `product`/`variant` do; anything
//! else is `null`, never someone else's.

use super::access::viewer;
use super::cart_view::{CartLineView, CartView};
use super::catalog::{ProductView, VariantView};
use super::complexity;
use super::discount_view::DiscountView;
use super::error::ApiResult;
use super::ids::{GlobalId, owner_tag};
use super::orders::{OrderLineView, OrderView, admin_view, view};
use crate::app::catalog::Sight;
use crate::app::{carts, catalog, discounts, orders};
use crate::auth::Viewer;
use crate::domain::names::OrderId;
use crate::services::Services;
use async_graphql::{Context, ID, Interface, Object};
use std::sync::Arc;

/// The most ids one `nodes` call takes (a page's worth).
pub const MAX_NODES: usize = 100;

/// An entity a client may cache, by its global id.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Unique across the whole shop and stable for the entity's life (`gid://cartql/<Type>/…`)."
))]
#[allow(clippy::large_enum_variant)]
pub enum Node {
    /// A viewer's named cart.
    Cart(CartView),
    /// One line of a cart.
    CartLine(CartLineView),
    /// A product.
    Product(ProductView),
    /// A variant.
    ProductVariant(VariantView),
    /// An order.
    Order(OrderView),
    /// One line of an order.
    OrderLine(OrderLineView),
    /// A discount (admins only).
    Discount(DiscountView),
}

/// `node` and `nodes`.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The entity with this global id, if the viewer may see it: their own
    /// carts and lines, their own orders (any order and any discount for an
    /// admin), and the catalog as `product` and `variant` show it. `null`
    /// otherwise, and for an id this shop never made.
    #[graphql(complexity = "complexity::NODE_READ + child_complexity")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        resolve(ctx, &id).await
    }

    /// `node` for each id, in the order given (at most 100); `null` where
    /// `node` would be.
    #[graphql(
        complexity = "complexity::list(ids.len().min(MAX_NODES), complexity::NODE_READ + child_complexity)"
    )]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(validator(max_items = 100))] ids: Vec<ID>,
    ) -> ApiResult<Vec<Option<Node>>> {
        let mut found = Vec::with_capacity(ids.len());
        for id in &ids {
            found.push(resolve(ctx, id).await?);
        }
        Ok(found)
    }
}

/// What `node(id)` answers.
async fn resolve(ctx: &Context<'_>, id: &str) -> ApiResult<Option<Node>> {
    let Some(id) = GlobalId::parse(id) else {
        return Ok(None);
    };
    let services = Services::of(ctx);
    let seer = viewer(ctx).filter(|v| !v.is_expired(services.clock.now()));
    let sight = Sight::of(seer);
    let currency = services.shop.currency;
    Ok(match id {
        GlobalId::Product(handle) => {
            catalog::product(services, sight, &handle)
                .await?
                .map(|record| {
                    Node::Product(ProductView {
                        record: Arc::new(record),
                        currency,
                    })
                })
        }
        GlobalId::ProductVariant(sku) => {
            catalog::variant(services, sight, &sku)
                .await?
                .map(|product| {
                    Node::ProductVariant(VariantView {
                        product,
                        currency,
                        parent: None,
                    })
                })
        }
        GlobalId::Cart { owner, cart } => match own(seer, &owner) {
            None => None,
            Some(viewer) => {
                let shown = carts::show(services, viewer, &cart).await?;
                Some(Node::Cart(CartView::new(services, viewer, shown)))
            }
        },
        GlobalId::CartLine { owner, cart, line } => match own(seer, &owner) {
            None => None,
            Some(viewer) => {
                let shown = carts::show(services, viewer, &cart).await?;
                CartView::new(services, viewer, shown)
                    .into_line(&line)
                    .map(Node::CartLine)
            }
        },
        GlobalId::Order(id) => order_for(services, seer, &id).await?.map(Node::Order),
        GlobalId::OrderLine(id, n) => order_for(services, seer, &id)
            .await?
            .and_then(|order| order.into_line(n))
            .map(Node::OrderLine),
        GlobalId::Discount(id) => match seer.filter(|v| v.is_admin()) {
            None => None,
            Some(_) => discounts::get(services, &id)
                .await?
                .map(|d| Node::Discount(super::discounts::view(services, d))),
        },
    })
}

/// The viewer, when the owner tag is theirs.
fn own<'a>(seer: Option<&'a Viewer>, owner: &str) -> Option<&'a Viewer> {
    seer.filter(|v| owner_tag(&v.owner_key()) == owner)
}

/// The order `id` as `seer` may see it: an admin any order, a buyer theirs.
async fn order_for(
    services: &Services,
    seer: Option<&Viewer>,
    id: &OrderId,
) -> ApiResult<Option<OrderView>> {
    let Some(seer) = seer else {
        return Ok(None);
    };
    if seer.is_admin() {
        let found = orders::any_order(services, id.as_str()).await?;
        return Ok(found.map(|o| admin_view(services, o)));
    }
    let found = orders::order(services, seer, id.as_str()).await?;
    Ok(found.map(|o| view(services, o)))
}
