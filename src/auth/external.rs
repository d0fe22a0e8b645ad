//! Tokens from an external identity provider (Auth0, Keycloak, Cognito, …).
//!
//! The provider's public keys come from a JWKS file or one public key PEM
//! file, read at start-up. Each key's algorithm (RS256, ES256 or EdDSA) comes
//! from the JWK (`alg`, else its key type and curve) or from configuration for
//! a PEM file, never from the token header: a token whose header names another
//! algorithm is refused. `iss` and `aud` are required and must match the
//! configuration. The token's `sub` is the customer id; roles are read only
//! from the configured claim (none without one).

use super::token::{LEEWAY_SECONDS, TokenError, check_subject};
use super::{Issuer, Viewer, ViewerKind};
use crate::domain::account::Email;
use base64::Engine;
use chrono::{TimeZone, Utc};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The largest key file read (a JWKS with many keys is still far smaller).
pub const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;
/// The smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// The signature algorithms accepted from an external issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl ExternalAlgorithm {
    fn algorithm(self) -> Algorithm {
        match self {
            ExternalAlgorithm::Rs256 => Algorithm::RS256,
            ExternalAlgorithm::Es256 => Algorithm::ES256,
            ExternalAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }
}

/// Where the external issuer's keys come from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// A JWKS file (`--external-jwks`).
    Jwks(PathBuf),
    /// A public key PEM file and its algorithm (`--external-public-key`, `--external-algorithm`).
    PublicKey(PathBuf, ExternalAlgorithm),
}

/// The external issuer's settings, as configured.
#[derive(Clone, Debug)]
pub struct ExternalSettings {
    /// The keys.
    pub keys: KeySource,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (one of the token's audiences).
    pub audience: String,
    /// The claim roles are read from, a dotted path like `realm_access.roles`.
    pub roles_claim: Option<String>,
}

struct ExternalKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies tokens of one external issuer.
pub struct ExternalIssuer {
    keys: Vec<ExternalKey>,
    issuer: String,
    audience: String,
    roles_claim: Option<Vec<String>>,
}

impl ExternalIssuer {
    /// Reads the key file. The error names the flag and says what is wrong.
    pub fn load(settings: &ExternalSettings) -> Result<ExternalIssuer, String> {
        let keys = match &settings.keys {
            KeySource::Jwks(path) => {
                let text = read_key_file(path).map_err(|e| format!("--external-jwks {e}"))?;
                jwks_keys(&text).map_err(|e| format!("--external-jwks {}: {e}", path.display()))?
            }
            KeySource::PublicKey(path, algorithm) => {
                let text = read_key_file(path).map_err(|e| format!("--external-public-key {e}"))?;
                vec![
                    pem_key(&text, *algorithm)
                        .map_err(|e| format!("--external-public-key {}: {e}", path.display()))?,
                ]
            }
        };
        let roles_claim = settings
            .roles_claim
            .as_ref()
            .map(|path| path.split('.').map(str::to_string).collect::<Vec<String>>());
        Ok(ExternalIssuer {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            roles_claim,
        })
    }

    /// The `iss` this issuer's tokens carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// How many keys were loaded (for the start-up log).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Verifies a token and returns the customer it speaks for.
    pub fn verify(&self, token: &str) -> Result<Viewer, TokenError> {
        let header = jsonwebtoken::decode_header(token)?;
        let key = match (&header.kid, self.keys.as_slice()) {
            (Some(kid), keys) => keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(TokenError::UnknownKey)?,
            (None, [only]) => only,
            (None, _) => {
                return Err(TokenError::BadClaims(
                    "the token has no 'kid' and the issuer has several keys".into(),
                ));
            }
        };
        let mut validation = Validation::new(key.algorithm);
        validation.algorithms = vec![key.algorithm];
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<Value>(token, &key.key, &validation)?.claims;
        let sub = claims["sub"]
            .as_str()
            .ok_or_else(|| TokenError::BadClaims("'sub' must be a string".into()))?;
        check_subject(sub)?;
        let expires_at = claims["exp"]
            .as_i64()
            .and_then(|exp| Utc.timestamp_opt(exp, 0).single())
            .ok_or_else(|| TokenError::BadClaims("'exp' is out of range".into()))?;
        // A token claiming to be issued in the future could never be revoked
        // by logOutEverywhere (which refuses tokens issued before a time).
        let issued_at = claims["iat"].as_i64();
        if issued_at.is_some_and(|iat| iat > Utc::now().timestamp() + LEEWAY_SECONDS as i64) {
            return Err(TokenError::BadClaims("'iat' is in the future".into()));
        }
        Ok(Viewer {
            id: sub.to_string(),
            kind: ViewerKind::Customer,
            roles: self.roles(&claims)?,
            expires_at,
            issued_at,
            auth_time: issued_at,
            issuer: Issuer::External,
            email: claims["email"].as_str().and_then(|e| Email::parse(e).ok()),
        })
    }

    /// Roles from the configured claim: a list of strings, or one string of
    /// space-separated roles (like `scope`). Absent: no roles.
    fn roles(&self, claims: &Value) -> Result<Vec<String>, TokenError> {
        let Some(path) = &self.roles_claim else {
            return Ok(Vec::new());
        };
        let value = path.iter().try_fold(claims, |value, part| value.get(part));
        let shape = || TokenError::BadClaims("the roles claim must be a list of strings".into());
        match value {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(roles)) => {
                Ok(roles.split_whitespace().map(str::to_string).collect())
            }
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(shape))
                .collect(),
            Some(_) => Err(shape()),
        }
    }
}

fn read_key_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "{shown}: not a regular file of at most {MAX_KEY_FILE_BYTES} bytes"
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))
}

/// The signing keys of a JWKS document. Keys for encryption (`use: enc`) or
/// of algorithms other than RS256/ES256/EdDSA are skipped with a warning; a
/// key that claims a supported algorithm but is malformed is an error.
fn jwks_keys(text: &str) -> Result<Vec<ExternalKey>, String> {
    let set: JwkSet =
        serde_json::from_str(text).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut keys = Vec::new();
    for (index, jwk) in set.keys.iter().enumerate() {
        let name = match &jwk.common.key_id {
            Some(kid) => format!("key {index} (kid {kid:?})"),
            None => format!("key {index}"),
        };
        if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
            tracing::warn!(key = %name, "skipping a JWKS key meant for encryption");
            continue;
        }
        let Some(algorithm) = jwk_algorithm(jwk).map_err(|e| format!("{name}: {e}"))? else {
            tracing::warn!(key = %name, "skipping a JWKS key of an unsupported algorithm");
            continue;
        };
        let key = jwk_decoding_key(jwk).map_err(|e| format!("{name}: {e}"))?;
        keys.push(ExternalKey {
            kid: jwk.common.key_id.clone(),
            algorithm,
            key,
        });
    }
    if keys.is_empty() {
        return Err("holds no RS256, ES256 or EdDSA signing key".into());
    }
    let mut kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref()).collect();
    kids.sort();
    kids.dedup();
    if keys.len() > 1 && (kids.len() != keys.len() || kids.contains(&None)) {
        return Err("with several keys, every key needs a distinct 'kid'".into());
    }
    Ok(keys)
}

/// The algorithm of a JWK, checked against its key material; `None` when
/// the key is of a kind this server does not accept.
fn jwk_algorithm(jwk: &Jwk) -> Result<Option<Algorithm>, String> {
    let derived = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            // A modulus may carry leading zero bytes: count the rest.
            let n = b64_decode(&rsa.n, "n")?;
            let bits = (n.len() - n.iter().take_while(|b| **b == 0).count()) * 8;
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "an RSA key of {bits} bits; at least {MIN_RSA_BITS} are required"
                ));
            }
            b64_decode(&rsa.e, "e")?;
            Some(Algorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            p256_coordinate(&ec.x, "x")?;
            p256_coordinate(&ec.y, "y")?;
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            // Exactly 32 bytes, a leading zero byte included: an Ed25519 key
            // is a byte string, not a number, so a shorter one cannot be padded.
            let len = b64_decode(&okp.x, "x")?.len();
            if len != 32 {
                return Err(format!(
                    "an Ed25519 key needs a 32-byte 'x', not {len} bytes"
                ));
            }
            Some(Algorithm::EdDSA)
        }
        _ => None,
    };
    let declared = match jwk.common.key_algorithm {
        None => return Ok(derived),
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return Ok(None),
    };
    match derived {
        Some(derived) if derived == declared => Ok(Some(derived)),
        _ => Err(format!(
            "'alg' is {declared:?} but the key material is not a {declared:?} key"
        )),
    }
}

/// The verifying key of a JWK whose algorithm `jwk_algorithm` accepted.
/// A P-256 key is rebuilt from its coordinates padded to 32 bytes, which
/// jsonwebtoken would otherwise join as they come (a short one makes a point
/// no signature verifies against).
fn jwk_decoding_key(jwk: &Jwk) -> Result<DecodingKey, String> {
    match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let x = b64.encode(p256_coordinate(&ec.x, "x")?);
            let y = b64.encode(p256_coordinate(&ec.y, "y")?);
            let key = DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
            // Checking an empty signature parses the point: a key that is not
            // one is refused here rather than failing every token later.
            jsonwebtoken::crypto::verify("", b"", &key, Algorithm::ES256)
                .map_err(|_| "'x' and 'y' are not a point on P-256".to_string())?;
            Ok(key)
        }
        _ => DecodingKey::from_jwk(jwk).map_err(|e| e.to_string()),
    }
}

/// A P-256 coordinate as the 32 bytes RFC 7518 §6.2.1.2 requires. Some
/// encoders drop leading zero bytes (a coordinate of 31 bytes or fewer, one
/// key in about 128): those are padded back, since the number is the same.
fn p256_coordinate(value: &str, field: &str) -> Result<[u8; 32], String> {
    let bytes = b64_decode(value, field)?;
    if bytes.is_empty() || bytes.len() > 32 {
        return Err(format!(
            "a P-256 key needs a '{field}' of 32 bytes (1 to 32 with leading zeros dropped), not {}",
            bytes.len()
        ));
    }
    let mut coordinate = [0u8; 32];
    coordinate[32 - bytes.len()..].copy_from_slice(&bytes);
    Ok(coordinate)
}

fn b64_decode(value: &str, field: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| format!("'{field}' is not base64url"))
}

fn pem_key(text: &str, algorithm: ExternalAlgorithm) -> Result<ExternalKey, String> {
    let bytes = text.as_bytes();
    let key = match algorithm {
        ExternalAlgorithm::Rs256 => DecodingKey::from_rsa_pem(bytes),
        ExternalAlgorithm::Es256 => DecodingKey::from_ec_pem(bytes),
        ExternalAlgorithm::EdDsa => DecodingKey::from_ed_pem(bytes),
    }
    .map_err(|e| {
        format!(
            "not a {:?} public key in PEM form ({e})",
            algorithm.algorithm()
        )
    })?;
    Ok(ExternalKey {
        kid: None,
        algorithm: algorithm.algorithm(),
        key,
    })
}

#[cfg(test)]
mod tests;
