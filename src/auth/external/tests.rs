use super::*;

fn parse(json: &str) -> Result<usize, String> {
    super::super::install_crypto();
    jwks_keys(json).map(|keys| keys.len())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

#[test]
fn malformed_jwks_documents_are_refused_with_a_reason() {
    let long_y = format!(
        r#"{{"keys": [{{"kty":"EC","crv":"P-256","x":"AQAB","y":"{}"}}]}}"#,
        b64(&[1; 33])
    );
    let short_ed25519 = format!(
        r#"{{"keys": [{{"kty":"OKP","crv":"Ed25519","x":"{}"}}]}}"#,
        b64(&[1; 31])
    );
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
            "not a point on P-256",
        ),
        (
            r#"{"keys": [{"kty":"EC","crv":"P-256","x":"","y":"AQAB"}]}"#,
            "'x' of 32 bytes",
        ),
        (long_y.as_str(), "'y' of 32 bytes"),
        (short_ed25519.as_str(), "32-byte 'x', not 31"),
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

#[test]
fn an_ed25519_key_whose_first_byte_is_zero_is_accepted() {
    let mut x = [7u8; 32];
    x[0] = 0;
    let okp = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, b64(&x));
    assert_eq!(parse(&format!(r#"{{"keys": [{okp}]}}"#)), Ok(1));
}

const ISS: &str = "https://id.example.test/";
const AUD: &str = "cartql-shop";

/// An issuer that trusts the one key of `jwk`.
fn issuer(jwk: &str) -> Result<ExternalIssuer, String> {
    super::super::install_crypto();
    Ok(ExternalIssuer {
        keys: jwks_keys(&format!(r#"{{"keys": [{jwk}]}}"#))?,
        issuer: ISS.into(),
        audience: AUD.into(),
        roles_claim: None,
    })
}

fn es256_token(key: &jsonwebtoken::EncodingKey, sub: &str) -> String {
    let claims = serde_json::json!({
        "sub": sub, "iss": ISS, "aud": AUD, "exp": Utc::now().timestamp() + 600,
    });
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::ES256), &claims, key).unwrap()
}

fn p256_jwk(x: &[u8], y: &[u8]) -> String {
    format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
        b64(x),
        b64(y)
    )
}

/// A coordinate as an encoder that drops leading zero bytes writes it.
fn stripped(coordinate: &[u8]) -> &[u8] {
    let zeros = coordinate.iter().take_while(|b| **b == 0).count();
    &coordinate[zeros..]
}

/// A P-256 key whose 'y' starts with a zero byte (found by drawing keys with openssl).
const SHORT_Y_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMo9/cpLGYFd3B+cC
47v9yDh64xrxhINRf6NfBdP0k/+hRANCAARVmNyWmS6BAD40+gGovoasRyKTcqV8
DSbrvbEyAEDKcwDdP4ZQljQpNVTDBmWskVEKWA6fGDSL06UTE/apAL+E
-----END PRIVATE KEY-----
";
const SHORT_Y_X: &str = "VZjclpkugQA-NPoBqL6GrEcik3KlfA0m672xMgBAynM";
/// Its 'y' in full (32 bytes, the first zero) and with the zero dropped (31 bytes).
const SHORT_Y_Y_FULL: &str = "AN0_hlCWNCk1VMMGZayRUQpYDp8YNIvTpRMT9qkAv4Q";
const SHORT_Y_Y_31: &str = "3T-GUJY0KTVUwwZlrJFRClgOnxg0i9OlExP2qQC_hA";

#[test]
fn a_p256_key_with_a_leading_zero_coordinate_verifies_in_full_or_short_form() {
    let key = jsonwebtoken::EncodingKey::from_ec_pem(SHORT_Y_PEM.as_bytes()).unwrap();
    let token = es256_token(&key, "customer-1");
    for y in [SHORT_Y_Y_FULL, SHORT_Y_Y_31] {
        let jwk = format!(r#"{{"kty":"EC","crv":"P-256","x":"{SHORT_Y_X}","y":"{y}"}}"#);
        let issuer = issuer(&jwk).unwrap_or_else(|e| panic!("y {y}: {e}"));
        assert_eq!(issuer.verify(&token).unwrap().id, "customer-1", "y {y}");
    }
}

#[test]
fn any_p256_key_verifies_whether_its_jwk_drops_leading_zeros_or_not() {
    use p256::pkcs8::EncodePrivateKey;
    let mut short_keys = 0;
    for n in 0..500 {
        let signing = loop {
            // A random scalar; the rare one out of range is drawn again.
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&rand::random::<[u8; 32]>()) {
                break key;
            }
        };
        let point = signing.verifying_key().to_sec1_point(false);
        let (x, y) = (point.x().unwrap(), point.y().unwrap());
        let der = signing.to_pkcs8_der().unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes());
        let sub = format!("customer-{n}");
        let token = es256_token(&key, &sub);
        if stripped(x).len() < 32 || stripped(y).len() < 32 {
            short_keys += 1;
        }
        for jwk in [p256_jwk(x, y), p256_jwk(stripped(x), stripped(y))] {
            let issuer = issuer(&jwk).unwrap_or_else(|e| panic!("{jwk}: {e}"));
            assert_eq!(issuer.verify(&token).unwrap().id, sub, "{jwk}");
        }
    }
    // About 4 in 500 have a short coordinate; the fixed key above always does.
    println!("{short_keys} of 500 keys had a coordinate with a leading zero byte");
}
