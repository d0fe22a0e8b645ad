//! A webhook endpoint served by a test: records what arrives and answers
//! as scripted; and the Standard Webhooks signature check.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the test endpoint got.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Value,
    pub raw: Vec<u8>,
    pub answered: u16,
}

/// Statuses to answer, in turn, to orders whose first line is of a SKU.
pub type Script = (String, VecDeque<u16>);

#[derive(Clone, Default)]
pub struct Hook {
    pub got: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, before 200s, to the events of orders whose
    /// first line is of a SKU (SKU → statuses).
    pub script: Arc<Mutex<Vec<Script>>>,
    /// While set, every request is answered 503 (the endpoint is down).
    pub down: Arc<AtomicBool>,
    /// While set, every request is recorded, then held a minute unanswered
    /// (an attempt under way when its sender dies).
    pub hang: Arc<AtomicBool>,
}

async fn receive(
    State(hook): State<Hook>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let sku = parsed["data"]["order"]["lines"][0]["sku"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let down = hook.down.load(Ordering::SeqCst);
    let hang = hook.hang.load(Ordering::SeqCst);
    let answered = if down {
        503
    } else {
        let mut script = hook.script.lock().unwrap();
        script
            .iter_mut()
            .find(|(s, _)| *s == sku)
            .and_then(|(_, statuses)| statuses.pop_front())
            .unwrap_or(200)
    };
    hook.got.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: parsed,
        raw: body.to_vec(),
        answered,
    });
    if hang {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    StatusCode::from_u16(answered).unwrap()
}

impl Hook {
    /// Answers `statuses` to the first events of orders of `sku`.
    pub fn fail(&self, sku: &str, statuses: &[u16]) {
        let statuses = statuses.iter().copied().collect();
        self.script
            .lock()
            .unwrap()
            .push((sku.to_string(), statuses));
    }

    /// Answers 503 to everything while `down`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Holds every request unanswered while `hang`.
    pub fn set_hang(&self, hang: bool) {
        self.hang.store(hang, Ordering::SeqCst);
    }

    /// Serves on a free local port; the URL to register.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    pub fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 60 s) until `done` holds of what arrived.
    pub async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..600 {
            let got = self.got();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{what} did not happen within 60 s; got {:#?}", self.got());
    }
}

/// Whether `secret` (`whsec_…`) signed `received`, as Standard Webhooks verifies.
pub fn verifies(secret: &str, received: &Received) -> bool {
    use hmac::{KeyInit, Mac};
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", received.id, received.timestamp).as_bytes());
    mac.update(&received.raw);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    received.signature.split(' ').any(|s| s == expected)
}
