//! The schema's roots: every query, mutation and subscription field,
//! merged from the area files, and the SDL they make.

use super::{
    admin_orders, backups, cart, catalog, discounts, identity, merge, node, orders, preview,
    pricing, shipping, subscription, viewer, webhooks,
};
use async_graphql::{MergedObject, Schema};

/// The schema type.
pub type CartSchema = Schema<QueryRoot, MutationRoot, subscription::SubscriptionRoot>;

/// Every query field, merged from the area files.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    catalog::CatalogQuery,
    cart::CartQuery,
    orders::OrderQuery,
    admin_orders::AdminOrderQuery,
    viewer::ViewerQuery,
    node::NodeQuery,
    pricing::PricingQuery,
    discounts::DiscountQuery,
    shipping::ShippingQuery,
    preview::PreviewQuery,
    webhooks::WebhookQuery,
);

/// Every mutation field, merged from the area files.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    catalog::CatalogMutation,
    cart::CartMutation,
    orders::OrderMutation,
    admin_orders::AdminOrderMutation,
    identity::IdentityMutation,
    merge::MergeMutation,
    pricing::PricingMutation,
    discounts::DiscountMutation,
    shipping::ShippingMutation,
    webhooks::WebhookMutation,
    backups::BackupMutation,
);

/// The SDL clients and `schema.graphql` rely on.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        subscription::SubscriptionRoot,
    )
    .finish()
    .sdl()
}
