//! The use cases called directly, without GraphQL: services assembled as
//! the server assembles them ([`Services::build`]), on sled in a temporary
//! directory, at a time the test moves.

use super::carts::{self, CartEdit};
use super::checkout::{self, CheckoutFrom, LinesInput};
use super::identity::{self, Credentials, RenewRefused};
use super::orders;
use super::{Caller, Once};
use crate::auth::{Issuer, Viewer};
use crate::clock::TokioClock;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey};
use crate::domain::merge::MergeStrategy;
use crate::domain::order::OrderMove;
use crate::domain::{CartName, ErrorCode, LineInput, Rejection, ViewerKind};
use crate::services::Services;
use crate::start::Started;
use crate::store::backend::Background;
use chrono::{Duration, Utc};
use std::sync::Arc;

pub(super) struct Fixture {
    pub(super) services: Services,
    _dir: tempfile::TempDir,
}

/// Services on sled in a temporary directory, with the demo catalog.
pub(super) async fn services() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::start::testing::config(&dir.path().join("data"), &[]);
    let clock = TokioClock::starting_at(Utc::now());
    let Started { services, .. } = Services::build(&config, Arc::new(clock), Background::Manual)
        .await
        .unwrap();
    Fixture {
        services,
        _dir: dir,
    }
}

fn customer(services: &Services, id: &str) -> Viewer {
    let now = services.clock.now();
    Viewer {
        id: id.into(),
        kind: ViewerKind::Customer,
        roles: Vec::new(),
        expires_at: now + Duration::days(1),
        issued_at: Some(now.timestamp()),
        auth_time: Some(now.timestamp()),
        issuer: Issuer::BuiltIn,
        email: None,
    }
}

fn line(sku: &str, quantity: i64) -> LineInput {
    LineInput {
        sku: sku.into(),
        quantity,
        attributes: Vec::new(),
    }
}

fn once(key: &str, input: &impl serde::Serialize) -> Once {
    Once {
        key: IdempotencyKey::parse(key, "idempotencyKey").unwrap(),
        fingerprint: Fingerprint::of("test", input),
    }
}

fn codes(rejection: &Option<Rejection>) -> Vec<ErrorCode> {
    rejection
        .clone()
        .map(|r| r.into_user_errors().into_iter().map(|e| e.code).collect())
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn an_add_is_checked_against_the_catalog_and_answers_the_priced_cart() {
    let fixture = services().await;
    let services = &fixture.services;
    let ann = customer(services, "ann");
    let caller = Caller {
        viewer: &ann,
        client: None,
    };
    let cart = CartName::default_cart();
    let edit = CartEdit::Add(vec![line("MUG-LOGO", 2), line("NO-SUCH-SKU", 1)]);
    let refused = carts::edit(services, caller, &cart, edit, None, None)
        .await
        .unwrap();
    assert_eq!(codes(&refused.refused), vec![ErrorCode::UnknownSku]);
    assert_eq!(refused.cart.cart.version, 0, "nothing was written");
    let edit = CartEdit::Add(vec![line("MUG-LOGO", 2)]);
    let added = carts::edit(services, caller, &cart, edit, Some(0), None)
        .await
        .unwrap();
    assert!(added.refused.is_none());
    assert_eq!(added.cart.cart.version, 1);
    assert_eq!(added.cart.priced.subtotal.minor(), 1900);
    let stale = CartEdit::Add(vec![line("MUG-LOGO", 1)]);
    let conflict = carts::edit(services, caller, &cart, stale, Some(0), None)
        .await
        .unwrap();
    assert_eq!(codes(&conflict.refused), vec![ErrorCode::VersionConflict]);
}

#[tokio::test(start_paused = true)]
async fn a_checkout_retried_with_its_key_returns_the_first_order_and_another_request_is_refused() {
    let fixture = services().await;
    let services = &fixture.services;
    let bob = customer(services, "bob");
    let caller = Caller {
        viewer: &bob,
        client: None,
    };
    let lines = LinesInput {
        lines: vec![line("TEE-BLK-L", 1)],
        buyer_identity: None,
        ..LinesInput::default()
    };
    let from = CheckoutFrom::Lines(Box::new(lines.clone()));
    let key = once("order-1", &"TEE-BLK-L x1");
    let first = checkout::checkout(services, caller, from.clone(), key.clone())
        .await
        .unwrap();
    let placed = first.order.expect("an order");
    let again = checkout::checkout(services, caller, from, key)
        .await
        .unwrap();
    assert_eq!(again.order.expect("the first order").id, placed.id);
    let other = CheckoutFrom::Lines(Box::new(LinesInput {
        lines: vec![line("TEE-BLK-L", 2)],
        ..lines
    }));
    let reused = checkout::checkout(services, caller, other, once("order-1", &"x2"))
        .await
        .unwrap();
    assert_eq!(
        codes(&reused.refused),
        vec![ErrorCode::IdempotencyKeyReused]
    );
    assert_eq!(
        orders::orders(services, &bob.owner_key(), None, 10)
            .await
            .unwrap()
            .len(),
        1,
        "one order, however often it was asked for"
    );
}

#[tokio::test(start_paused = true)]
async fn log_in_failures_are_counted_before_the_password_is_checked() {
    let fixture = services().await;
    let services = &fixture.services;
    let sign_up = Credentials {
        email: " Cara@Example.com ",
        password: "correct horse battery staple",
        guest_token: None,
    };
    let session = identity::sign_up(services, None, sign_up)
        .await
        .unwrap()
        .unwrap()
        .session;
    assert_eq!(
        session.viewer.email.as_ref().map(|e| e.as_str()),
        Some("cara@example.com")
    );
    let wrong = Credentials {
        password: "wrong horse",
        ..sign_up
    };
    let mut answers = Vec::new();
    for _ in 0..6 {
        let refused = identity::log_in(services, None, wrong, MergeStrategy::Combine)
            .await
            .unwrap()
            .unwrap_err();
        answers.push(refused.code);
    }
    assert_eq!(answers[0], ErrorCode::InvalidCredentials);
    assert_eq!(answers.last(), Some(&ErrorCode::Throttled));
    // The right password is refused too while the email is locked out.
    let locked = identity::log_in(services, None, sign_up, MergeStrategy::Combine)
        .await
        .unwrap();
    assert_eq!(locked.unwrap_err().code, ErrorCode::Throttled);
}

#[tokio::test(start_paused = true)]
async fn a_renewal_after_log_out_everywhere_is_refused() {
    let fixture = services().await;
    let services = &fixture.services;
    let guest = identity::start_guest_session(services, None)
        .await
        .unwrap()
        .unwrap()
        .viewer;
    let renewed = identity::renew(services, &guest).await.unwrap().unwrap();
    assert_eq!(renewed.viewer.id, guest.id);
    tokio::time::advance(std::time::Duration::from_secs(2)).await;
    identity::log_out_everywhere(services, &guest.owner_key())
        .await
        .unwrap();
    assert_eq!(
        identity::renew(services, &guest)
            .await
            .unwrap()
            .unwrap_err(),
        RenewRefused::Revoked
    );
}

#[tokio::test(start_paused = true)]
async fn an_admin_move_that_is_not_allowed_answers_the_order_as_it_is() {
    let fixture = services().await;
    let services = &fixture.services;
    let dan = customer(services, "dan");
    let caller = Caller {
        viewer: &dan,
        client: None,
    };
    let lines = LinesInput {
        lines: vec![line("MUG-LOGO", 1)],
        ..LinesInput::default()
    };
    let placed = checkout::checkout(
        services,
        caller,
        CheckoutFrom::Lines(Box::new(lines)),
        once("dan-1", &"mug"),
    )
    .await
    .unwrap()
    .order
    .unwrap();
    let admin = Viewer {
        roles: vec!["admin".into()],
        ..customer(services, "ops")
    };
    let shipped = OrderMove::mark_fulfilled(Some("TRACK-1"), None);
    let refused = orders::move_by_admin(services, &admin, &placed.id, shipped)
        .await
        .unwrap();
    assert_eq!(
        codes(&refused.refused),
        vec![ErrorCode::InvalidOrderTransition]
    );
    assert_eq!(refused.order.map(|o| o.id), Some(placed.id.clone()));
    let lower = placed.id.to_lowercase();
    let paid = orders::move_by_admin(services, &admin, &lower, OrderMove::mark_paid(None))
        .await
        .unwrap();
    assert!(paid.refused.is_none(), "an id reads in any case");
    let missing = orders::move_by_admin(services, &admin, "nope", OrderMove::mark_paid(None))
        .await
        .unwrap();
    assert_eq!(codes(&missing.refused), vec![ErrorCode::OrderNotFound]);
}
