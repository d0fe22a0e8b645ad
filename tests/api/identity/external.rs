//! Tokens of an external identity provider, verified from a JWKS file or a
//! public key PEM file. Keys are made fresh for each test with the openssl CLI.

use super::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::path::{Path, PathBuf};
use std::process::Command;

const ISS: &str = "https://id.example.test/";
const AUD: &str = "cartql-shop";

/// Key pairs in a temporary directory, and a JWKS of the RSA and EC ones.
struct Provider {
    dir: tempfile::TempDir,
    rsa: EncodingKey,
    ec: EncodingKey,
    ed: EncodingKey,
    jwks: PathBuf,
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Generates a private key with `genpkey` options, and its public key beside it.
fn generate(dir: &Path, name: &str, options: &[&str]) -> Vec<u8> {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let mut args = vec!["genpkey"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["-out", private.to_str().unwrap()]);
    openssl(&args);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    std::fs::read(private).unwrap()
}

impl Provider {
    fn new() -> Provider {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let dir = tempfile::tempdir().unwrap();
        let rsa_pem = generate(
            dir.path(),
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        );
        // Any key: Jwk::from_encoding_key writes both coordinates in full, 32
        // bytes even when the first is zero (one key in about 128), and the
        // server takes that as well as the shortened form some encoders write.
        let ec_pem = generate(
            dir.path(),
            "ec",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        );
        let ed_pem = generate(dir.path(), "ed", &["-algorithm", "ed25519"]);
        let rsa = EncodingKey::from_rsa_pem(&rsa_pem).unwrap();
        let ec = EncodingKey::from_ec_pem(&ec_pem).unwrap();
        let ed = EncodingKey::from_ed_pem(&ed_pem).unwrap();
        let jwk = |key: &EncodingKey, alg, kid: &str| {
            let mut jwk = Jwk::from_encoding_key(key, alg).unwrap();
            jwk.common.key_id = Some(kid.into());
            jwk
        };
        let set = JwkSet {
            keys: vec![
                jwk(&rsa, Algorithm::RS256, "rsa-1"),
                jwk(&ec, Algorithm::ES256, "ec-1"),
            ],
        };
        let jwks = dir.path().join("jwks.json");
        std::fs::write(&jwks, serde_json::to_string(&set).unwrap()).unwrap();
        Provider {
            dir,
            rsa,
            ec,
            ed,
            jwks,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }

    /// Flags for a server that trusts this provider's JWKS.
    fn flags(&self) -> Vec<String> {
        [
            "--external-jwks",
            self.jwks.to_str().unwrap(),
            "--external-issuer",
            ISS,
            "--external-audience",
            AUD,
            "--external-roles-claim",
            "realm_access.roles",
        ]
        .map(String::from)
        .to_vec()
    }
}

async fn spawn(flags: &[String]) -> TestServer {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    TestServer::spawn_with(&flags).await
}

/// Claims an external provider would issue for `sub`.
fn external_claims(sub: &str) -> Value {
    json!({
        "sub": sub, "iss": ISS, "aud": AUD, "iat": now(), "exp": now() + 600,
        "realm_access": { "roles": ["admin"] }, "email": "x@example.com",
    })
}

fn signed(claims: &Value, alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

#[tokio::test]
async fn tokens_signed_with_the_rsa_and_ec_keys_of_the_jwks_are_customers() {
    let provider = Provider::new();
    let server = spawn(&provider.flags()).await;
    let claims = external_claims("auth0|ann");
    let by_rsa = signed(&claims, Algorithm::RS256, Some("rsa-1"), &provider.rsa);
    let by_ec = signed(&claims, Algorithm::ES256, Some("ec-1"), &provider.ec);
    for token in [&by_rsa, &by_ec] {
        let viewer = server
            .data(Some(token), "{ viewer { id kind roles } }", json!({}))
            .await;
        assert_eq!(
            viewer["viewer"],
            json!({"id": "auth0|ann", "kind": "CUSTOMER", "roles": ["admin"]})
        );
    }
    add(&server, &by_rsa, "default", "MUG-LOGO", 2).await;
    assert_eq!(
        carts_of(&server, &by_ec).await,
        json!({"default": [["MUG-LOGO", 2]]})
    );
    let cart = server
        .data(Some(&by_ec), "{ cart { id } }", json!({}))
        .await;
    // A global id that keeps external, built-in and guest owners apart
    // without showing the subject.
    let id = cart["cart"]["id"].as_str().unwrap();
    assert!(
        id.starts_with("gid://cartql/Cart/") && id.ends_with("/default"),
        "{id}"
    );
    assert!(!id.contains("auth0"), "{id}");
    let built_in = server
        .data(Some(&customer("auth0|ann")), "{ cart { id } }", json!({}))
        .await;
    assert_ne!(built_in["cart"]["id"].as_str(), Some(id));

    // A built-in token with the same subject is someone else.
    assert_eq!(carts_of(&server, &customer("auth0|ann")).await, json!({}));
    assert_eq!(
        carts_of(&server, &customer("external:auth0|ann")).await,
        json!({})
    );
}

#[tokio::test]
async fn external_tokens_with_the_wrong_aud_iss_kid_or_algorithm_are_401() {
    let provider = Provider::new();
    let server = spawn(&provider.flags()).await;
    let good = external_claims("ann");
    let with = |field: &str, value: Value| {
        let mut claims = good.clone();
        claims[field] = value;
        claims
    };
    let mut no_aud = good.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    let rsa_public = std::fs::read(provider.path("rsa.pub.pem")).unwrap();
    let cases = [
        (
            signed(
                &with("aud", json!("someone-else")),
                Algorithm::RS256,
                Some("rsa-1"),
                &provider.rsa,
            ),
            "wrong aud",
        ),
        (
            signed(&no_aud, Algorithm::RS256, Some("rsa-1"), &provider.rsa),
            "no aud",
        ),
        (
            signed(
                &with("iss", json!("https://evil.example/")),
                Algorithm::RS256,
                Some("rsa-1"),
                &provider.rsa,
            ),
            "wrong iss",
        ),
        (
            signed(
                &with("exp", json!(now() - 60)),
                Algorithm::ES256,
                Some("ec-1"),
                &provider.ec,
            ),
            "expired",
        ),
        (
            signed(&good, Algorithm::RS256, Some("rsa-2"), &provider.rsa),
            "unknown kid",
        ),
        (
            signed(&good, Algorithm::RS256, None, &provider.rsa),
            "no kid with two keys",
        ),
        (
            signed(&good, Algorithm::RS256, Some("ec-1"), &provider.rsa),
            "RSA signature under the EC key's kid",
        ),
        (
            signed(&good, Algorithm::ES256, Some("rsa-1"), &provider.ec),
            "EC signature under the RSA key's kid",
        ),
        (
            signed(&good, Algorithm::EdDSA, Some("rsa-1"), &provider.ed),
            "a key the JWKS does not have",
        ),
        (
            signed(
                &good,
                Algorithm::HS256,
                Some("rsa-1"),
                &EncodingKey::from_secret(&rsa_public).unwrap(),
            ),
            "HS256 keyed with the public key (algorithm confusion)",
        ),
        (
            signed(
                &with("sub", json!(42)),
                Algorithm::RS256,
                Some("rsa-1"),
                &provider.rsa,
            ),
            "sub not a string",
        ),
        (
            signed(
                &with("realm_access", json!({"roles": "admin"})),
                Algorithm::RS256,
                Some("rsa-1"),
                &provider.rsa,
            ),
            "roles as one string are fine",
        ),
    ];
    for (token, why) in &cases {
        let status = status_with(&server, token).await;
        let expected = if why.ends_with("are fine") { 200 } else { 401 };
        assert_eq!(status, expected, "{why}");
    }
}

#[tokio::test]
async fn roles_come_only_from_the_configured_claim() {
    let provider = Provider::new();
    let flags: Vec<String> = provider.flags()[..6].to_vec();
    let server = spawn(&flags).await;
    let mut claims = external_claims("ann");
    claims["roles"] = json!(["admin"]);
    let token = signed(&claims, Algorithm::RS256, Some("rsa-1"), &provider.rsa);
    let viewer = server
        .data(Some(&token), "{ viewer { roles } }", json!({}))
        .await;
    assert_eq!(viewer["viewer"]["roles"], json!([]));
    let upsert = "mutation { upsertProduct(input: {handle: \"new\", title: \"New\", variants: [{sku: \"NEW-1\", price: \"1.00\"}]}) { userErrors { code } } }";
    let body = server.gql(Some(&token), upsert, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

#[tokio::test]
async fn a_public_key_pem_file_works_with_the_configured_algorithm() {
    let provider = Provider::new();
    let pem = provider.path("ed.pub.pem");
    let flags = [
        "--external-public-key",
        &pem,
        "--external-algorithm",
        "EdDSA",
        "--external-issuer",
        ISS,
        "--external-audience",
        AUD,
    ];
    let server = TestServer::spawn_with(&flags).await;
    let claims = external_claims("ed-user");
    let token = signed(&claims, Algorithm::EdDSA, None, &provider.ed);
    let viewer = server
        .data(Some(&token), "{ viewer { id kind } }", json!({}))
        .await;
    assert_eq!(
        viewer["viewer"],
        json!({"id": "ed-user", "kind": "CUSTOMER"})
    );
    let rsa = signed(&claims, Algorithm::RS256, None, &provider.rsa);
    assert_eq!(
        status_with(&server, &rsa).await,
        401,
        "the algorithm is configured"
    );
}

#[tokio::test]
async fn external_customers_merge_guest_carts_and_log_out_everywhere() {
    let provider = Provider::new();
    let server = spawn(&provider.flags()).await;
    let guest = start_guest(&server).await;
    add(&server, &guest, "wishlist", "CAP-RED", 1).await;
    let mut claims = external_claims("auth0|bob");
    claims["iat"] = json!(now() - 10);
    let token = signed(&claims, Algorithm::RS256, Some("rsa-1"), &provider.rsa);
    let merge = "mutation($t: String!) { mergeGuestCart(input: {guestToken: $t}) { merge { strategy carts { name outcome } } userErrors { code } } }";
    let merged = server.data(Some(&token), merge, json!({"t": guest})).await;
    assert_eq!(
        merged["mergeGuestCart"]["merge"],
        json!({"strategy": "COMBINE", "carts": [{"name": "wishlist", "outcome": "MOVED"}]})
    );
    assert_eq!(
        carts_of(&server, &token).await,
        json!({"wishlist": [["CAP-RED", 1]]})
    );

    server
        .data(Some(&token), "mutation { logOutEverywhere }", json!({}))
        .await;
    assert_eq!(status_with(&server, &token).await, 401);
    let mut no_iat = external_claims("auth0|bob");
    no_iat.as_object_mut().unwrap().remove("iat");
    let no_iat = signed(&no_iat, Algorithm::RS256, Some("rsa-1"), &provider.rsa);
    assert_eq!(
        status_with(&server, &no_iat).await,
        401,
        "no iat cannot prove it is newer"
    );
    let mut later = external_claims("auth0|bob");
    later["iat"] = json!(now() + 2);
    let later = signed(&later, Algorithm::RS256, Some("rsa-1"), &provider.rsa);
    assert_eq!(status_with(&server, &later).await, 200);
    let renew = server
        .gql(Some(&later), "mutation { renewToken { token } }", json!({}))
        .await;
    assert_eq!(
        error_code(&renew),
        "BAD_USER_INPUT",
        "renewed at the provider"
    );
}

#[test]
fn malformed_key_files_stop_the_start_with_one_line_naming_the_flag() {
    let provider = Provider::new();
    let garbage = provider.path("garbage.json");
    std::fs::write(&garbage, "{\"keys\": [{\"kty\": \"RSA\", \"n\": 1}]}").unwrap();
    let empty = provider.path("empty.json");
    std::fs::write(&empty, "").unwrap();
    let not_pem = provider.path("not.pem");
    std::fs::write(
        &not_pem,
        "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let rsa_pub = provider.path("rsa.pub.pem");
    let jwks = provider.jwks.to_str().unwrap().to_string();
    let dir = provider.path("missing-dir/jwks.json");
    let common = ["--external-issuer", ISS, "--external-audience", AUD];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--external-jwks", &garbage], "--external-jwks"),
        (vec!["--external-jwks", &empty], "--external-jwks"),
        (vec!["--external-jwks", &dir], "--external-jwks"),
        (vec!["--external-jwks", &rsa_pub], "--external-jwks"),
        (
            vec![
                "--external-public-key",
                &not_pem,
                "--external-algorithm",
                "RS256",
            ],
            "--external-public-key",
        ),
        (
            vec![
                "--external-public-key",
                &rsa_pub,
                "--external-algorithm",
                "ES256",
            ],
            "--external-public-key",
        ),
        (
            vec![
                "--external-public-key",
                &jwks,
                "--external-algorithm",
                "HS256",
            ],
            "--external-algorithm",
        ),
    ];
    let data = provider.path("data");
    for (args, setting) in &cases {
        let output = Command::new(binary())
            .args(["--listen", "127.0.0.1:0", "--data-dir", &data])
            .args(args)
            .args(common)
            .env("CARTQL_JWT_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(errors[0].contains(setting), "{args:?}: {stderr}");
    }
    let incomplete: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--external-jwks", &jwks], "--external-issuer"),
        (
            vec!["--external-jwks", &jwks, "--external-issuer", ISS],
            "--external-audience",
        ),
        (
            vec![
                "--external-public-key",
                &rsa_pub,
                "--external-issuer",
                ISS,
                "--external-audience",
                AUD,
            ],
            "--external-algorithm",
        ),
        (
            vec!["--external-issuer", ISS, "--external-audience", AUD],
            "--external-jwks",
        ),
        (
            vec![
                "--external-jwks",
                &jwks,
                "--external-issuer",
                "cartql",
                "--external-audience",
                AUD,
            ],
            "--external-issuer",
        ),
    ];
    for (args, setting) in &incomplete {
        let output = Command::new(binary())
            .args(["--listen", "127.0.0.1:0", "--data-dir", &data])
            .args(args)
            .env("CARTQL_JWT_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{stderr}"
        );
        assert!(stderr.contains(setting), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn an_external_token_issued_in_the_future_is_refused_because_no_log_out_could_reach_it() {
    let provider = Provider::new();
    let server = spawn(&provider.flags()).await;
    let mut claims = external_claims("future");
    claims["iat"] = json!(now() + 3600);
    let token = signed(&claims, Algorithm::RS256, Some("rsa-1"), &provider.rsa);
    let response = server
        .post(Some(&token), json!({ "query": "{ viewer { id } }" }))
        .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("'iat' is in the future"),
        "{body}"
    );
    // Within the clock-skew leeway it is fine.
    claims["iat"] = json!(now() + 2);
    let token = signed(&claims, Algorithm::RS256, Some("rsa-1"), &provider.rsa);
    let response = server
        .post(Some(&token), json!({ "query": "{ viewer { id } }" }))
        .await;
    assert_eq!(response.status(), 200);
}
