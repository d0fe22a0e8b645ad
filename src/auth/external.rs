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
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("{name}: {e}"))?;
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
            let bits = b64_len(&rsa.n, "n")? * 8;
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "an RSA key of {bits} bits; at least {MIN_RSA_BITS} are required"
                ));
            }
            b64_len(&rsa.e, "e")?;
            Some(Algorithm::RS256)
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            if b64_len(&ec.x, "x")? != 32 || b64_len(&ec.y, "y")? != 32 {
                return Err("a P-256 key needs 32-byte 'x' and 'y'".into());
            }
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            if b64_len(&okp.x, "x")? != 32 {
                return Err("an Ed25519 key needs a 32-byte 'x'".into());
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

fn b64_len(value: &str, field: &str) -> Result<usize, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map(|bytes| {
            // An RSA modulus may carry a leading zero byte.
            let leading = bytes.iter().take_while(|b| **b == 0).count();
            bytes.len() - leading
        })
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
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<usize, String> {
        super::super::install_crypto();
        jwks_keys(json).map(|keys| keys.len())
    }

    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn malformed_jwks_documents_are_refused_with_a_reason() {
        for (json, why) in [
            ("", "not a JWKS document"),
            ("[]", "not a JWKS document"),
            (r#"{"keys": []}"#, "no RS256, ES256 or EdDSA"),
            (r#"{"keys": [{"kty":"oct","k":"c2VjcmV0"}]}"#, "no RS256"),
            (
                r#"{"keys": [{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#,
                "at least 2048",
            ),
            (
                r#"{"keys": [{"kty":"EC","crv":"P-256","x":"AQAB","y":"AQAB"}]}"#,
                "32-byte",
            ),
            (
                r#"{"keys": [{"kty":"EC","crv":"P-256","x":"***","y":"AQAB"}]}"#,
                "base64url",
            ),
        ] {
            let err = parse(json).unwrap_err();
            assert!(err.contains(why), "{json}: {err}");
        }
        let mismatched = EC.replace("\"kid\":\"ec\"", "\"kid\":\"ec\",\"alg\":\"RS256\"");
        let err = parse(&format!(r#"{{"keys": [{mismatched}]}}"#)).unwrap_err();
        assert!(err.contains("not a RS256 key"), "{err}");
        let twice = format!(r#"{{"keys": [{EC}, {EC}]}}"#);
        assert!(parse(&twice).unwrap_err().contains("distinct 'kid'"));
    }

    #[test]
    fn encryption_keys_and_other_algorithms_are_skipped() {
        let enc = EC.replace("\"kid\":\"ec\"", "\"kid\":\"enc\",\"use\":\"enc\"");
        let ps = EC.replace("\"kid\":\"ec\"", "\"kid\":\"ps\",\"alg\":\"ES384\"");
        let json = format!(r#"{{"keys": [{EC}, {enc}, {ps}]}}"#);
        assert_eq!(parse(&json), Ok(1));
    }

    #[test]
    fn a_pem_that_is_not_a_key_of_the_configured_algorithm_is_refused() {
        super::super::install_crypto();
        let err = pem_key(
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            ExternalAlgorithm::Rs256,
        )
        .err()
        .unwrap();
        assert!(err.contains("not a RS256 public key"), "{err}");
        assert!(pem_key("garbage", ExternalAlgorithm::EdDsa).is_err());
    }
}
