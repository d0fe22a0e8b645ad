//! The whole store as JSON lines: what `cartql export` writes and `cartql
//! import` reads, the same for both backends (sled → PostgreSQL → sled
//! round-trips), and the backup format.
//!
//! A file is a `header` line, one line per record, and an `end` line with
//! the number of records: a file cut short (a full disk, a copy that
//! stopped) has no `end`, or the wrong count, and is refused whole. Every
//! record is parsed into the validated domain types before anything is
//! written, and a backend writes them in one transaction: an import is all
//! or nothing. Idempotency counts are not exported; they are recounted.

use crate::domain::account::Account;
use crate::domain::cart::MAX_VERSION;
use crate::domain::catalog::Product;
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::order::Order;
use crate::domain::{CartSet, OwnerKey, Variant};
use serde::{Deserialize, Serialize};
use std::io::BufRead;

/// The `format` of the header line.
pub const FORMAT: &str = "cartql-export";
/// The version of the line format this binary writes and reads.
pub const VERSION: u32 = 1;

/// The first and last lines of an export, around the records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Frame {
    /// The first line.
    Header {
        /// Always [`FORMAT`].
        format: String,
        /// [`VERSION`].
        version: u32,
    },
    /// The last line: how many records came before.
    End {
        /// The number of records.
        records: u64,
    },
}

/// One stored record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    /// The shop currency the prices are in.
    Currency {
        /// ISO 4217 code.
        code: String,
    },
    /// The version floor (versions new cart sets start above).
    VersionFloor {
        /// The floor.
        version: u64,
    },
    /// A variant (a SKU of the catalog; the name is the format's first).
    Variant {
        /// The variant.
        product: Variant,
    },
    /// A product by handle: its options and the SKUs of its variants.
    Product {
        /// The product.
        record: Product,
    },
    /// All carts of one owner.
    Carts {
        /// `namespace:subject`.
        owner: String,
        /// The carts.
        carts: CartSet,
    },
    /// An order.
    Order {
        /// The buyer.
        owner: String,
        /// The order.
        order: Box<Order>,
    },
    /// An account of the built-in issuer.
    Account {
        /// The account.
        account: Account,
    },
    /// A "log out everywhere" time (seconds since the epoch).
    ValidAfter {
        /// Whose tokens.
        owner: String,
        /// Tokens issued before it are refused.
        valid_after: i64,
    },
    /// One of the shop's records (pricing settings, a tax rate, …): JSON the
    /// domain checks when it reads it (see `store::shop`).
    Shop {
        /// What it is (`pricing`, `tax-rate`).
        kind: String,
        /// Which one.
        key: String,
        /// The value.
        data: serde_json::Value,
    },
    /// An idempotency record.
    Idempotency {
        /// Whose key.
        owner: String,
        /// The key.
        key: String,
        /// What its first request produced.
        record: IdempotencyRecord,
    },
}

impl Record {
    /// The owner key of a record that has one, checked.
    pub fn owner(&self) -> Result<Option<OwnerKey>, String> {
        let owner = match self {
            Record::Carts { owner, .. }
            | Record::Order { owner, .. }
            | Record::ValidAfter { owner, .. }
            | Record::Idempotency { owner, .. } => owner,
            _ => return Ok(None),
        };
        OwnerKey::parse(owner)
            .map(Some)
            .ok_or_else(|| format!("'{owner}' is not an owner key (namespace:subject)"))
    }
}

impl Record {
    /// Checks what the domain types do not: the owner key, and that no
    /// version is above [`MAX_VERSION`] (a cart there could never change,
    /// and a larger one would not survive a JavaScript client).
    pub fn check(&self) -> Result<(), String> {
        self.owner()?;
        let too_high = |what: &str, version: u64| {
            if version > MAX_VERSION {
                Err(format!(
                    "{what} {version} is above the highest a version may be ({MAX_VERSION})"
                ))
            } else {
                Ok(())
            }
        };
        match self {
            Record::VersionFloor { version } => too_high("the version floor", *version),
            Record::Shop { kind, key, .. } => {
                let fine = |text: &str, max: usize| {
                    !text.is_empty() && text.len() <= max && !text.chars().any(char::is_control)
                };
                if !fine(kind, 32) || kind.contains('/') || !fine(key, 256) {
                    return Err(format!(
                        "a shop record's kind (1-32 bytes, no '/') and key (1-256 bytes) must be printable: '{kind}', '{key}'"
                    ));
                }
                let Record::Shop { data, .. } = self else {
                    unreachable!("matched above")
                };
                super::shop::check_record(kind, key, data)
            }
            Record::Carts { carts, .. } => {
                too_high("the retired version", carts.retired_version)?;
                for (name, cart) in &carts.carts {
                    if *name != cart.name {
                        return Err(format!("the cart under '{name}' is named '{}'", cart.name));
                    }
                    too_high(&format!("cart '{name}' has version"), cart.version)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Writes records as export lines, counting them.
pub struct Writer<W: std::io::Write> {
    out: W,
    records: u64,
}

impl<W: std::io::Write> Writer<W> {
    /// Starts an export on `out` (writes the header).
    pub fn start(mut out: W) -> std::io::Result<Writer<W>> {
        write_line(
            &mut out,
            &Frame::Header {
                format: FORMAT.into(),
                version: VERSION,
            },
        )?;
        Ok(Writer { out, records: 0 })
    }

    /// Writes one record.
    pub fn record(&mut self, record: Record) -> std::io::Result<()> {
        self.records += 1;
        write_line(&mut self.out, &record)
    }

    /// Writes the end line and flushes; returns the number of records.
    pub fn finish(mut self) -> std::io::Result<u64> {
        write_line(
            &mut self.out,
            &Frame::End {
                records: self.records,
            },
        )?;
        self.out.flush()?;
        Ok(self.records)
    }
}

fn write_line<W: std::io::Write>(out: &mut W, line: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// Reads a whole export, checking every line; the error names the line.
pub fn read(input: impl BufRead) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut started = false;
    let mut ended = false;
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("line {number}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        if ended {
            return Err(format!("line {number}: data after the end line"));
        }
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("line {number}: not JSON: {e}"))?;
        let frame = matches!(value["type"].as_str(), Some("header" | "end"));
        if !frame {
            if !started {
                return Err(format!(
                    "line {number}: not a cartql export (no header line first)"
                ));
            }
            let record: Record = serde_json::from_value(value)
                .map_err(|e| format!("line {number}: not an export record: {e}"))?;
            record.check().map_err(|e| format!("line {number}: {e}"))?;
            records.push(record);
            continue;
        }
        let frame: Frame = serde_json::from_value(value)
            .map_err(|e| format!("line {number}: not an export line: {e}"))?;
        match frame {
            Frame::Header { format, version } => {
                if started || format != FORMAT {
                    return Err(format!("line {number}: unexpected header"));
                }
                if version != VERSION {
                    return Err(format!(
                        "line {number}: export format version {version}; this cartql reads version {VERSION}"
                    ));
                }
                started = true;
            }
            Frame::End { .. } if !started => {
                return Err(format!(
                    "line {number}: not a cartql export (no header line first)"
                ));
            }
            Frame::End { records: count } => {
                if count != records.len() as u64 {
                    return Err(format!(
                        "line {number}: the end line counts {count} records, the file has {}",
                        records.len()
                    ));
                }
                ended = true;
            }
        }
    }
    if !started {
        return Err("empty file: not a cartql export".into());
    }
    if !ended {
        return Err("the file ends without its end line: it is incomplete".into());
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn export(records: &[Record]) -> String {
        let mut out = Vec::new();
        let mut writer = Writer::start(&mut out).unwrap();
        for record in records {
            writer.record(record.clone()).unwrap();
        }
        writer.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_round_trip() {
        let records = vec![
            Record::Currency { code: "EUR".into() },
            Record::ValidAfter {
                owner: "customer:ann".into(),
                valid_after: 5,
            },
        ];
        assert_eq!(read(export(&records).as_bytes()).unwrap(), records);
    }

    #[test]
    fn incomplete_or_malformed_files_are_refused_naming_the_line() {
        let good = export(&[Record::Currency { code: "EUR".into() }]);
        let cut: String = good.lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(read(cut.as_bytes()).unwrap_err().contains("incomplete"));
        assert!(read(&b""[..]).unwrap_err().contains("not a cartql export"));
        let bad = good.replace("EUR", "EUR\", \"extra\": \"1");
        assert!(read(bad.as_bytes()).unwrap_err().starts_with("line 2"));
        let owner = export(&[Record::ValidAfter {
            owner: "nobody".into(),
            valid_after: 1,
        }]);
        assert!(read(owner.as_bytes()).unwrap_err().contains("owner key"));
        assert!(read(&b"{\"type\":\"end\",\"records\":0}\n"[..]).is_err());
    }

    #[test]
    fn versions_no_client_can_hold_are_refused_at_import() {
        let floor = export(&[Record::VersionFloor { version: u64::MAX }]);
        assert!(
            read(floor.as_bytes())
                .unwrap_err()
                .contains("highest a version may be")
        );
        let cart = crate::domain::Cart {
            version: MAX_VERSION + 1,
            ..crate::domain::Cart::empty(
                crate::domain::CartName::default_cart(),
                chrono::Utc::now(),
            )
        };
        let carts = CartSet {
            carts: [(cart.name.clone(), cart)].into_iter().collect(),
            retired_version: 0,
        };
        let file = export(&[Record::Carts {
            owner: "guest:ann".into(),
            carts,
        }]);
        let error = read(file.as_bytes()).unwrap_err();
        assert!(error.starts_with("line 2:"), "{error}");
        assert!(error.contains("cart 'default' has version"), "{error}");
    }
}
