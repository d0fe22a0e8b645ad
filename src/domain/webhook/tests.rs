use super::*;
use chrono::TimeZone;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

#[test]
fn signatures_match_the_standard_webhooks_example() {
    // The example of the Standard Webhooks specification and its libraries.
    let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(
        signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    let other = [7u8; 32];
    let header = signature_header(
        &[&key, &other],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        body,
    );
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_ne!(parts[0], parts[1]);
}

#[test]
fn a_secret_is_shown_as_whsec_and_32_bytes_of_base64_and_kept_out_of_debug() {
    let secret = Secret::generate();
    let shown = secret.reveal();
    let bytes = STANDARD
        .decode(shown.strip_prefix("whsec_").unwrap())
        .unwrap();
    assert_eq!(bytes, secret.key);
    assert_eq!(bytes.len(), 32);
    assert!(!format!("{secret:?}").contains(&shown[6..]));
    let stored = serde_json::to_value(&secret).unwrap();
    assert_eq!(serde_json::from_value::<Secret>(stored).unwrap(), secret);
}

fn endpoint() -> Endpoint {
    Endpoint {
        id: "whep_1".into(),
        url: "https://example.com/hook".into(),
        events: vec![EventKind::OrderPlaced],
        description: None,
        active: true,
        disabled_reason: None,
        secrets: vec![Secret::generate()],
        created_at: at(0),
        failing_since: None,
    }
}

#[test]
fn a_rotation_keeps_the_old_secret_signing_for_a_while_then_only_the_new() {
    let mut endpoint = endpoint();
    let old = endpoint.secrets[0].key.clone();
    let new = endpoint.rotate(at(0), Duration::seconds(60)).key.clone();
    assert_ne!(old, new);
    assert_eq!(
        endpoint.signing_keys(at(10)),
        vec![new.as_slice(), old.as_slice()]
    );
    assert_eq!(endpoint.signing_keys(at(60)), vec![new.as_slice()]);
    // Rotating again drops what has expired and keeps its own deadline for the rest.
    let newest = endpoint.rotate(at(120), Duration::zero()).key.clone();
    assert_eq!(endpoint.signing_keys(at(120)), vec![newest.as_slice()]);
    assert_eq!(endpoint.secrets.len(), 1);
}

#[test]
fn five_days_of_failures_turn_an_endpoint_off_and_a_success_ends_the_run() {
    let mut endpoint = endpoint();
    assert!(endpoint.after_attempt(false, at(0)));
    assert!(!endpoint.after_attempt(false, at(3600)));
    assert!(endpoint.after_attempt(true, at(7200)));
    assert_eq!(endpoint.failing_since, None);
    assert!(endpoint.after_attempt(false, at(10_000)));
    assert!(endpoint.active);
    assert!(endpoint.after_attempt(false, at(10_000) + DISABLE_AFTER));
    assert!(!endpoint.active);
    assert!(
        endpoint
            .disabled_reason
            .as_deref()
            .unwrap()
            .contains("five days")
    );
    assert!(!endpoint.wants(EventKind::OrderPlaced));
}

#[test]
fn urls_must_be_https_with_a_host_and_no_credentials() {
    assert!(check_url("https://example.com/hooks?x=1", false).is_ok());
    for bad in [
        "http://example.com/",
        "ftp://example.com/",
        "example.com/hook",
        "https://user:pw@example.com/",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://169.254.169.254/latest/meta-data",
        "https://10.1.2.3/",
        "",
    ] {
        assert!(check_url(bad, false).is_err(), "{bad}");
    }
    assert!(check_url("http://127.0.0.1:9000/", true).is_ok());
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
    assert!(check_url(&long, false).unwrap_err().contains("2048"));
}

#[test]
fn internal_addresses_are_refused_in_every_spelling() {
    for bad in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",
        "::10.0.0.1",
        "2001:db8::1",
        "2002:7f00:1::",
        "fec0::1",
        "::ffff:0:a00:1",
        "::ffff:0:7f00:1",
        "64:ff9b:1::5db8:d822",
        "168.63.129.16",
    ] {
        let ip: IpAddr = bad.parse().unwrap();
        assert!(!address_allowed(ip), "{bad} must be refused");
    }
    for good in [
        "93.184.216.34",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",
    ] {
        let ip: IpAddr = good.parse().unwrap();
        assert!(address_allowed(ip), "{good} must be allowed");
    }
}

#[test]
fn the_schedule_is_nine_attempts_over_about_38_hours_with_jitter() {
    let now = at(0);
    let waits: Vec<i64> = (1..=8)
        .map(|n| (next_attempt(&BACKOFF, n, now, None, 0.0).unwrap() - now).num_seconds())
        .collect();
    assert_eq!(waits, [5, 300, 1800, 7200, 18_000, 36_000, 36_000, 36_000]);
    assert_eq!(waits.iter().sum::<i64>(), 135_305); // 37 h 35 min 5 s
    assert_eq!(next_attempt(&BACKOFF, 9, now, None, 0.0), None);
    assert_eq!(next_attempt(&BACKOFF, 0, now, None, 0.0), None);
    assert_eq!(
        (next_attempt(&BACKOFF, 2, now, None, 1.0).unwrap() - now).num_seconds(),
        360
    );
    assert_eq!(
        (next_attempt(&BACKOFF, 2, now, None, -1.0).unwrap() - now).num_seconds(),
        240
    );
    assert_eq!(
        (next_attempt(&BACKOFF, 2, now, None, 9.0).unwrap() - now).num_seconds(),
        360
    );
    let asked = next_attempt(&BACKOFF, 1, now, Some(Duration::seconds(90)), 1.0).unwrap();
    assert_eq!((asked - now).num_seconds(), 90);
}

#[test]
fn responses_are_judged_as_the_readme_says() {
    let now = at(0);
    assert_eq!(Verdict::of(Some(200), None, now), Verdict::Delivered);
    assert_eq!(Verdict::of(Some(204), None, now), Verdict::Delivered);
    assert_eq!(Verdict::of(Some(410), None, now), Verdict::Gone);
    for failed in [None, Some(301), Some(302), Some(400), Some(500)] {
        assert_eq!(
            Verdict::of(failed, Some("5"), now),
            Verdict::Failed { retry_after: None }
        );
    }
    assert_eq!(
        Verdict::of(Some(429), Some("7"), now),
        Verdict::Failed {
            retry_after: Some(Duration::seconds(7))
        }
    );
    let date = (now + Duration::seconds(120)).to_rfc2822();
    assert_eq!(
        Verdict::of(Some(503), Some(&date), now),
        Verdict::Failed {
            retry_after: Some(Duration::seconds(120))
        }
    );
    assert_eq!(parse_retry_after("99999999", now), Some(MAX_RETRY_AFTER));
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-3", now), None);
}

fn event(resource: &str, sequence: u32, id: &str) -> Event {
    Event {
        id: id.into(),
        kind: EventKind::OrderPlaced,
        resource_id: resource.into(),
        sequence,
        at: at(0),
        order: None,
        cart: None,
    }
}

#[test]
fn a_delivery_fails_after_the_schedule_and_a_restart_gives_it_a_new_one() {
    let mut delivery = Delivery::new("whep_1", &event("o1", 1, "evt_1"), at(0));
    let failed = || Attempt {
        at: at(0),
        duration_ms: 3,
        response_status: Some(500),
        error: None,
    };
    for n in 1..=8 {
        delivery.record(
            failed(),
            Verdict::Failed { retry_after: None },
            &BACKOFF,
            at(n),
            0.0,
        );
        assert_eq!(delivery.status, DeliveryStatus::Pending, "after {n}");
    }
    delivery.record(
        failed(),
        Verdict::Failed { retry_after: None },
        &BACKOFF,
        at(9),
        0.0,
    );
    assert_eq!(delivery.status, DeliveryStatus::Failed);
    assert_eq!(delivery.next_attempt_at, None);
    delivery.restart(at(100));
    assert_eq!(delivery.status, DeliveryStatus::Pending);
    assert_eq!(delivery.next_attempt_at, Some(at(100)));
    delivery.record(failed(), Verdict::Delivered, &BACKOFF, at(101), 0.0);
    assert_eq!(delivery.status, DeliveryStatus::Succeeded);
    assert_eq!(delivery.attempts.len(), 10);
    for _ in 0..30 {
        delivery.record(failed(), Verdict::Gone, &BACKOFF, at(200), 0.0);
    }
    assert_eq!(delivery.attempts.len(), MAX_ATTEMPTS_KEPT);
    assert_eq!(delivery.status, DeliveryStatus::Failed);
}

#[test]
fn one_resources_deliveries_go_in_order_and_others_do_not_wait() {
    let first = Delivery::new("whep_1", &event("o1", 1, "evt_1"), at(0));
    let second = Delivery::new("whep_1", &event("o1", 2, "evt_2"), at(0));
    let other_order = Delivery::new("whep_1", &event("o2", 1, "evt_3"), at(0));
    let other_endpoint = Delivery::new("whep_2", &event("o1", 2, "evt_2"), at(0));
    let pending = [
        first.clone(),
        second.clone(),
        other_order.clone(),
        other_endpoint.clone(),
    ];
    let may = heads(&pending);
    assert!(may.contains(first.id.as_str()));
    assert!(!may.contains(second.id.as_str()));
    assert!(may.contains(other_order.id.as_str()));
    assert!(may.contains(other_endpoint.id.as_str()));
    assert_eq!(may.len(), 3);
    let mut gave_up = first.clone();
    gave_up.status = DeliveryStatus::Failed;
    let after = [gave_up, second.clone()];
    assert_eq!(
        heads(&after).into_iter().collect::<Vec<_>>(),
        [second.id.as_str()]
    );
}

#[test]
fn events_and_descriptions_are_checked() {
    assert!(check_events(&[], "events").is_err());
    assert_eq!(
        check_events(
            &[
                EventKind::OrderPaid,
                EventKind::OrderPlaced,
                EventKind::OrderPaid
            ],
            "events"
        )
        .unwrap(),
        vec![EventKind::OrderPlaced, EventKind::OrderPaid]
    );
    assert_eq!(check_description(Some("  "), "d").unwrap(), None);
    assert_eq!(
        check_description(Some(" ERP "), "d").unwrap().as_deref(),
        Some("ERP")
    );
    assert!(check_description(Some(&"é".repeat(128)), "d").is_err());
    assert!(check_description(Some("a\u{7}b"), "d").is_err());
}

#[test]
fn an_orders_event_is_its_latest_change_numbered_in_its_history() {
    use crate::domain::Money;
    use crate::domain::order::{OrderEvent, OrderStatus};
    let mut order = Order {
        id: "01JORDER".into(),
        status: OrderStatus::Placed,
        lines: Vec::new(),
        subtotal: Money::ZERO,
        total: Money::ZERO,
        created_at: at(0),
        source_cart: None,
        note: None,
        attributes: Vec::new(),
        buyer_identity: Default::default(),
        payment_reference: None,
        tracking: None,
        cancel_reason: None,
        restocked: false,
        events: vec![OrderEvent {
            status: OrderStatus::Placed,
            at: at(0),
            by: "guest".into(),
            note: None,
        }],
        pricing: None,
    };
    let placed = Event::of_order(Event::new_id(at(0)), &order);
    assert_eq!((placed.kind, placed.sequence), (EventKind::OrderPlaced, 1));
    assert!(placed.id.starts_with("evt_"));
    order.status = OrderStatus::Paid;
    order.events.push(OrderEvent {
        status: OrderStatus::Paid,
        at: at(5),
        by: "admin".into(),
        note: None,
    });
    let paid = Event::of_order(Event::new_id(at(5)), &order);
    assert_eq!(
        (paid.kind, paid.sequence, paid.at),
        (EventKind::OrderPaid, 2, at(5))
    );
    assert_eq!(paid.resource_id, order.id);
    assert_eq!(EventKind::OrderFulfilled.wire_type(), "order.fulfilled");
}

#[test]
fn a_schedule_is_read_from_its_flag_and_bounded() {
    assert_eq!(
        parse_schedule("5s, 5m,30m,2h,5h,10h,10h,10h").unwrap().0,
        BACKOFF.to_vec()
    );
    assert_eq!(parse_schedule("1s").unwrap().0, vec![Duration::seconds(1)]);
    for bad in ["", "0s", "25h", "5x", "1s,,1s", &vec!["1s"; 21].join(",")] {
        assert!(parse_schedule(bad).is_err(), "{bad}");
    }
    let short = parse_schedule("1s,2s").unwrap().0;
    assert_eq!(next_attempt(&short, 3, at(0), None, 0.0), None);
    assert_eq!(next_attempt(&short, 2, at(0), None, 0.0), Some(at(2)));
}

fn idle_cart(version: u64, lines: usize, email: bool) -> Cart {
    use crate::domain::cart::CartLine;
    use crate::domain::{CartName, Sku};
    let mut cart = Cart::empty(CartName::default_cart(), at(100));
    cart.version = version;
    cart.lines = (0..lines)
        .map(|n| CartLine {
            id: format!("{version}-{n}"),
            sku: Sku::parse("MUG").unwrap(),
            quantity: 1,
            attributes: Vec::new(),
            unit_price: None,
        })
        .collect();
    if email {
        cart.buyer_identity.email = Some(crate::domain::account::Email::parse("a@b.co").unwrap());
    }
    cart
}

#[test]
fn a_cart_is_abandoned_with_lines_and_an_email_once_idle_long_enough() {
    let hour = Duration::hours(1);
    let idle = at(100) + hour;
    assert!(is_abandoned(&idle_cart(3, 1, true), hour, idle));
    assert!(!is_abandoned(
        &idle_cart(3, 1, true),
        hour,
        idle - Duration::milliseconds(1)
    ));
    assert!(
        !is_abandoned(&idle_cart(3, 0, true), hour, idle),
        "no lines (checked out)"
    );
    assert!(
        !is_abandoned(&idle_cart(3, 1, false), hour, idle),
        "no e-mail"
    );
}

#[test]
fn an_abandoned_carts_event_id_is_the_same_for_one_version_and_differs_otherwise() {
    let hour = Duration::hours(1);
    let ann = OwnerKey::parse("guest:ann").unwrap();
    let bob = OwnerKey::parse("guest:bob").unwrap();
    let event = |owner: &OwnerKey, version| {
        Event::of_abandoned_cart(owner, &idle_cart(version, 1, true), hour, "r".into())
    };
    let first = event(&ann, 3);
    assert_eq!(first.id, event(&ann, 3).id, "made twice, one id");
    assert_ne!(first.id, event(&ann, 4).id, "a new version, a new id");
    assert_ne!(first.id, event(&bob, 3).id, "another owner, another id");
    assert_eq!(first.kind, EventKind::CartAbandoned);
    assert_eq!(first.at, at(100) + hour, "when it went idle");
    assert_eq!(first.sequence, 3, "ordered by version");
    // A ULID whose time is the cart's last change (the sweep reads it),
    // whatever the idle time: instances set apart find one id.
    let ulid = ulid::Ulid::from_string(first.id.strip_prefix("evt_").unwrap()).unwrap();
    assert_eq!(ulid.timestamp_ms() as i64, at(100).timestamp_millis());
    let later = Event::of_abandoned_cart(&ann, &idle_cart(3, 1, true), hour * 2, "r".into());
    assert_eq!(later.id, first.id);
    assert_eq!(first.cart.as_ref().unwrap().owner, "guest:ann");
}
