//! What the server writes to a socket, and how.
//!
//! - **Small frames.** A message longer than [`FRAME_BYTES`] goes out as a
//!   fragmented message (RFC 6455 §5.4) of frames that size, each written
//!   before the next is queued, so a socket's write buffer never holds more
//!   than one frame, whatever the answer (tungstenite keeps the buffer's
//!   capacity for the socket's life: one large message would pin its size).
//! - **A bound per answer.** An answer over [`MAX_ANSWER_BYTES`] is not sent:
//!   the client gets a graphql-transport-ws `error` message for its
//!   operation, code `RESPONSE_TOO_LARGE`, the operation is stopped, and the
//!   socket stays open ([`Answers`]). Nothing is ever dropped without a word.
//!
//! The bound is independent of `--max-ws-message-bytes`, which bounds what
//! clients send; a cart at the configured limits is far below it.

use serde::Deserialize;
use serde_json::json;
use std::collections::HashSet;
use tokio_tungstenite::tungstenite::Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The largest answer sent (16 MiB, the most a client may be allowed to send).
pub(super) const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The largest frame written; longer messages are fragmented.
pub(super) const FRAME_BYTES: usize = 16 * 1024;

/// The `extensions.code` of an answer too large to send.
pub(super) const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";

/// What to do with one message of async-graphql's engine.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outgoing {
    /// Send it.
    Send(String),
    /// Drop it: its operation was stopped for an answer too large.
    Drop,
    /// Send `error` (the message for the client) instead, and stop the
    /// operation `id` in the engine.
    Refuse { id: String, error: String },
    /// No operation to blame (never seen: the engine's other messages are
    /// small): close the socket with 1009, Message Too Big.
    Close(String),
}

/// Watches the engine's messages for answers over `max` bytes; remembers the
/// operations stopped for one until the engine's `complete` for each.
pub(super) struct Answers {
    max: usize,
    stopped: HashSet<String>,
}

/// The envelope of a server message (the payload is skipped, not kept).
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

impl Answers {
    pub(super) fn new(max: usize) -> Self {
        Answers {
            max,
            stopped: HashSet::new(),
        }
    }

    /// Checks one message. Only an oversized one, or any while an operation
    /// is being stopped, is parsed.
    pub(super) fn check(&mut self, text: String) -> Outgoing {
        if text.len() <= self.max && self.stopped.is_empty() {
            return Outgoing::Send(text);
        }
        let envelope = serde_json::from_str::<Envelope>(&text).ok();
        let (kind, id) = match envelope {
            Some(Envelope { kind, id: Some(id) }) => (kind, id),
            _ if text.len() <= self.max => return Outgoing::Send(text),
            _ => return Outgoing::Close(too_large_reason(text.len(), self.max)),
        };
        if self.stopped.contains(&id) {
            // After our `Stop` the engine says `complete` once (or had
            // already, for a query): the operation is over.
            if kind == "complete" {
                self.stopped.remove(&id);
            }
            return Outgoing::Drop;
        }
        if text.len() <= self.max {
            return Outgoing::Send(text);
        }
        self.stopped.insert(id.clone());
        let error = too_large(&id, text.len(), self.max);
        Outgoing::Refuse { id, error }
    }
}

/// The `error` message for an answer of `size` bytes.
fn too_large(id: &str, size: usize, max: usize) -> String {
    json!({
        "id": id,
        "type": "error",
        "payload": [{
            "message": format!(
                "the answer is {size} bytes, more than the {} MiB the server sends in one WebSocket message; the operation has ended (select fewer fields, or run queries over HTTP)",
                max / (1024 * 1024)
            ),
            "extensions": { "code": RESPONSE_TOO_LARGE },
        }],
    })
    .to_string()
}

fn too_large_reason(size: usize, max: usize) -> String {
    format!("A message of {size} bytes is over the {max} the server sends")
}

/// The frames of a text message: one whole frame when it fits in `frame`
/// bytes, else a first text frame and continuations, the last one final.
pub(super) fn frames(text: String, frame: usize) -> Vec<Frame> {
    let bytes = Bytes::from(text);
    if bytes.len() <= frame {
        return vec![Frame::message(bytes, OpCode::Data(Data::Text), true)];
    }
    let count = bytes.len().div_ceil(frame);
    (0..count)
        .map(|i| {
            let chunk = bytes.slice(i * frame..((i + 1) * frame).min(bytes.len()));
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            Frame::message(chunk, OpCode::Data(opcode), i + 1 == count)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn next(id: &str, size: usize) -> String {
        json!({"type": "next", "id": id, "payload": {"data": {"note": "x".repeat(size)}}})
            .to_string()
    }

    fn complete(id: &str) -> String {
        json!({"type": "complete", "id": id}).to_string()
    }

    #[test]
    fn an_answer_within_the_bound_is_sent_as_it_is() {
        let mut answers = Answers::new(1000);
        let text = next("a", 900);
        assert_eq!(answers.check(text.clone()), Outgoing::Send(text));
    }

    #[test]
    fn an_oversized_answer_becomes_an_error_for_its_operation_which_then_says_nothing_more() {
        let mut answers = Answers::new(1000);
        let Outgoing::Refuse { id, error } = answers.check(next("a", 2000)) else {
            panic!("refused");
        };
        assert_eq!(id, "a");
        let error: Value = serde_json::from_str(&error).unwrap();
        assert_eq!(error["type"], "error");
        assert_eq!(error["id"], "a");
        assert_eq!(
            error["payload"][0]["extensions"]["code"],
            RESPONSE_TOO_LARGE
        );
        // Other operations go on; what the stopped one still says is dropped.
        let other = next("b", 10);
        assert_eq!(answers.check(other.clone()), Outgoing::Send(other));
        assert_eq!(answers.check(next("a", 10)), Outgoing::Drop);
        assert_eq!(answers.check(complete("a")), Outgoing::Drop);
        // The id may be used again.
        let again = next("a", 10);
        assert_eq!(answers.check(again.clone()), Outgoing::Send(again));
    }

    #[test]
    fn an_oversized_message_of_no_operation_closes_with_a_reason() {
        let mut answers = Answers::new(10);
        let pong = json!({"type": "pong", "payload": {"x": "y".repeat(20)}}).to_string();
        assert!(matches!(answers.check(pong), Outgoing::Close(_)));
    }

    #[test]
    fn a_long_message_is_cut_into_final_terminated_continuation_frames() {
        let frames = frames("é".repeat(10), 6);
        let kinds: Vec<(OpCode, bool, usize)> = frames
            .iter()
            .map(|f| (f.header().opcode, f.header().is_final, f.payload().len()))
            .collect();
        let text = OpCode::Data(Data::Text);
        let more = OpCode::Data(Data::Continue);
        assert_eq!(
            kinds,
            [
                (text, false, 6),
                (more, false, 6),
                (more, false, 6),
                (more, true, 2)
            ]
        );
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.payload().to_vec()).collect();
        assert_eq!(String::from_utf8(joined).unwrap(), "é".repeat(10));
        assert_eq!(super::frames("short".into(), 6).len(), 1);
    }
}
