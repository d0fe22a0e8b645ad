//! How many bytes a stored value takes: the measure every byte budget
//! (`--max-cart-bytes`, `--max-owner-bytes`, `--max-order-bytes`) counts.
//!
//! A value's size is the length of its MessagePack encoding with field
//! names: the UTF-8 bytes of every text it holds, plus a few bytes of framing
//! per field. That is exactly what the sled backend stores (one format byte
//! more), and close to what PostgreSQL's JSONB keeps; it counts bytes, never
//! characters, so a four-byte character costs four. Measured by encoding into
//! a counter, not a buffer: nothing is allocated, and a new field is counted
//! without anyone remembering to.

use serde::Serialize;

/// The number of bytes `value` takes as stored.
pub fn stored_bytes<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = Counter(0);
    let mut serializer = rmp_serde::Serializer::new(&mut counter).with_struct_map();
    // Writing into a counter cannot fail, and our plain data types always
    // serialise; should either ever fail, the size is the largest there is,
    // so a budget refuses the value instead of letting it through.
    match value.serialize(&mut serializer) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// An `io::Write` that only counts.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(bytes.len());
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `bytes` in words (`512 bytes`, `64 KiB`, `1.5 MiB`), for messages.
pub fn describe(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else if bytes < 1024 * 1024 {
        format!("{} KiB", trimmed(bytes as f64 / 1024.0))
    } else {
        format!("{} MiB", trimmed(bytes as f64 / (1024.0 * 1024.0)))
    }
}

fn trimmed(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Line {
        sku: String,
        note: String,
    }

    #[test]
    fn bytes_not_characters_are_counted() {
        let ascii = Line {
            sku: "A".into(),
            note: "abcd".into(),
        };
        let wide = Line {
            sku: "A".into(),
            note: "𝄞𝄞𝄞𝄞".into(),
        };
        assert_eq!(stored_bytes(&wide) - stored_bytes(&ascii), 12);
    }

    #[test]
    fn the_size_is_the_length_of_the_encoding_sled_stores() {
        let line = Line {
            sku: "MUG".into(),
            note: "é".repeat(300),
        };
        let encoded = rmp_serde::to_vec_named(&line).unwrap();
        assert_eq!(stored_bytes(&line), encoded.len());
    }

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(describe(512), "512 bytes");
        assert_eq!(describe(65_536), "64 KiB");
        assert_eq!(describe(1_572_864), "1.5 MiB");
    }
}
