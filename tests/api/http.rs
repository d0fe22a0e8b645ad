//! HTTP edges: limits, request shapes, the playground, health, the SDL.

use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::spawn().await;
    let ready = server.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );
    let response = server.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let server = TestServer::spawn_with(&["--max-body-bytes", "2048"]).await;
    let padding = "x".repeat(4096);
    let response = server
        .post(
            None,
            json!({ "query": "{ shop { currencyCode } }", "variables": { "pad": padding } }),
        )
        .await;
    assert_eq!(response.status(), 413);
    // Without a Content-Length the limit still holds.
    let body = format!(
        "{{\"query\": \"{{ shop {{ currencyCode }} }}\", \"variables\": {{\"pad\": \"{padding}\"}}}}"
    );
    let stream = futures_util::stream::iter(
        body.into_bytes()
            .chunks(512)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn deep_or_complex_queries_are_refused() {
    let server =
        TestServer::spawn_with(&["--max-query-depth", "4", "--max-query-complexity", "50"]).await;
    let deep = "{ cart { lines { variant { price { amount } } } } }";
    let body = server.gql(Some(&customer("ann")), deep, json!({})).await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX");
    let aliases: String = (0..60)
        .map(|i| format!("a{i}: shop {{ currencyCode }} "))
        .collect();
    let body = server
        .gql(None, &format!("{{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX");
}

#[tokio::test]
async fn malformed_requests_get_clear_errors_with_codes() {
    let server = TestServer::spawn().await;
    let client = reqwest::Client::new();
    let url = format!("{}/graphql", server.base);
    let not_json = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(
        error_code(&not_json.json::<Value>().await.unwrap()),
        "BAD_USER_INPUT"
    );

    let batch = client.post(&url).json(&json!([{ "query": "{ shop { currencyCode } }" }, { "query": "{ shop { currencyCode } }" }])).send().await.unwrap();
    assert_eq!(batch.status(), 400);

    let multipart = client
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x--")
        .send()
        .await
        .unwrap();
    assert_eq!(multipart.status(), 415);

    for (query, why) in [
        ("{ shop { nope } }", "unknown field"),
        ("{ shop ", "syntax"),
        ("query { cart(name: 3) { version } }", "wrong type"),
    ] {
        let body = server.gql(Some(&customer("ann")), query, json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{why}");
    }
}

#[tokio::test]
async fn queries_work_over_get_and_mutations_do_not() {
    let server = TestServer::spawn().await;
    let query = server
        .get("/graphql?query=%7Bshop%7BcurrencyCode%7D%7D")
        .await;
    assert_eq!(query.status(), 200);
    assert_eq!(
        query.json::<Value>().await.unwrap()["data"]["shop"]["currencyCode"],
        "USD"
    );
    let mutation = server
        .get("/graphql?query=mutation%7BclearCart(input%3A%7B%7D)%7Bcart%7Bversion%7D%7D%7D")
        .await;
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
}

#[tokio::test]
async fn the_playground_is_served_and_loads_nothing_from_elsewhere() {
    let server = TestServer::spawn().await;
    let response = server.get("/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("cartql playground"));
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(http",
    ] {
        assert!(
            !html.contains(external),
            "the playground references {external}"
        );
    }
    assert!(html.contains("04-add-to-cart"), "the examples are inlined");
    if cartql::server::playground::has_graphiql() {
        for asset in [
            "graphiql.min.js",
            "graphiql.min.css",
            "react.production.min.js",
            "react-dom.production.min.js",
            "graphql-ws.min.js",
        ] {
            assert!(
                html.contains(&format!("/playground/{asset}")),
                "{asset} is referenced"
            );
            let response = server.get(&format!("/playground/{asset}")).await;
            assert_eq!(response.status(), 200, "{asset}");
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                kind.starts_with("text/javascript") || kind.starts_with("text/css"),
                "{asset}: {kind}"
            );
            let body = response.bytes().await.unwrap();
            assert!(body.len() > 1000, "{asset} is embedded");
        }
    }
    assert_eq!(server.get("/playground/../Cargo.toml").await.status(), 404);
    assert_eq!(server.get("/playground/nope.js").await.status(), 404);
}

#[test]
fn graphiql_is_embedded_in_the_binary_under_test() {
    // scripts/test installs the npm packages before cargo builds; without them
    // the build falls back to the basic page, which the suite must not accept.
    assert!(
        cartql::server::playground::has_graphiql(),
        "GraphiQL was not embedded: run scripts/npm-deps (or ./scripts/test) first"
    );
}

#[tokio::test]
async fn every_playground_example_is_valid_against_the_schema() {
    let server = TestServer::spawn().await;
    let mut checked = 0;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/playground")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "graphql") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        // Admin examples say so on their first line.
        let token = if source.starts_with("# Admin only") {
            admin()
        } else {
            customer("ann")
        };
        let body = if source.lines().any(|l| l.starts_with("subscription")) {
            crate::sockets::first_payload(&server, &token, &source).await
        } else {
            server.gql(Some(&token), &source, json!({})).await
        };
        assert!(body.get("errors").is_none(), "{}: {body}", path.display());
        assert!(body["data"].is_object(), "{}: {body}", path.display());
        checked += 1;
    }
    assert_eq!(checked, cartql::server::playground::EXAMPLES.len());
}

#[test]
fn schema_graphql_matches_what_the_server_exports() {
    let output = std::process::Command::new(binary())
        .arg("schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    let exported = String::from_utf8(output.stdout).unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        exported == committed,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn every_playground_example_file_is_offered_in_the_page() {
    let offered: Vec<&str> = cartql::server::playground::EXAMPLES
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/playground")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".graphql") {
            files.push(stem.to_string());
        }
    }
    files.sort();
    assert_eq!(
        offered, files,
        "server::EXAMPLES lists every playground/*.graphql, in order"
    );
}

async fn preflight(server: &TestServer, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", server.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let server = TestServer::spawn_with(&[
        "--cors-origins",
        "https://shop.example,http://localhost:5173",
    ])
    .await;
    let allowed = preflight(&server, "https://shop.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );
    assert!(
        allowed.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let refused = preflight(&server, "https://evil.example").await;
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let actual = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .header("origin", "http://localhost:5173")
        .json(&json!({ "query": "{ shop { currencyCode } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
}

#[tokio::test]
async fn without_configured_origins_no_cross_origin_access_is_granted() {
    let server = TestServer::spawn().await;
    let response = preflight(&server, "https://shop.example").await;
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

/// The introspection query GraphiQL sends (graphql-js `getIntrospectionQuery`
/// with descriptions and deprecated input values): the playground's docs and
/// completion need it to pass the default limits.
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args(includeDeprecated: true) { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields(includeDeprecated: true) { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } } }";

#[tokio::test]
async fn the_playground_introspection_query_passes_the_default_limits() {
    let server = TestServer::spawn().await;
    let data = server.data(None, INTROSPECTION, json!({})).await;
    assert_eq!(
        data["__schema"]["subscriptionType"]["name"],
        "SubscriptionRoot"
    );
}

#[tokio::test]
async fn graphql_response_json_answers_request_errors_with_400_and_no_data() {
    let server = TestServer::spawn().await;
    let send = |accept: &'static str, query: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/graphql", server.base))
            .header("accept", accept)
            .json(&json!({ "query": query }))
            .send()
    };
    let bad = send("application/graphql-response+json", "{ shop { nope } }")
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(
        bad.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/graphql-response+json")
    );
    let body: Value = bad.json().await.unwrap();
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    let field_error = send("application/graphql-response+json", "{ cart { version } }")
        .await
        .unwrap();
    assert_eq!(
        field_error.status(),
        200,
        "an error during execution is not a request error"
    );
    let legacy = send("application/json", "{ shop { nope } }").await.unwrap();
    assert_eq!(legacy.status(), 200);
    assert!(
        legacy.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn response_fields_keep_the_order_of_the_selection_set() {
    let server = TestServer::spawn().await;
    let text = server
        .post(None, json!({ "query": "{ shop { limits { maxQuantityPerLine maxCartsPerViewer } currencyCode } }" }))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        text,
        r#"{"data":{"shop":{"limits":{"maxQuantityPerLine":999,"maxCartsPerViewer":10},"currencyCode":"USD"}}}"#
    );
}

#[tokio::test]
async fn too_many_directives_are_query_too_complex_and_odd_documents_bad_input() {
    let server = TestServer::spawn().await;
    let directives = "@skip(if: false) ".repeat(9);
    let body = server
        .gql(
            None,
            &format!("{{ shop {directives} {{ currencyCode }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let nested = format!(
        "{{ products(after: {}1{}) {{ nodes {{ sku }} }} }}",
        "[".repeat(400),
        "]".repeat(400)
    );
    let body = server.gql(None, &nested, json!({})).await;
    assert_eq!(
        error_code(&body),
        "QUERY_TOO_COMPLEX",
        "a deeply nested value is refused, and the server lives on"
    );
    let query = format!("{{ shop {} }}", "[".repeat(5000));
    let url =
        reqwest::Url::parse_with_params(&format!("{}/graphql", server.base), [("query", query)])
            .unwrap();
    let over_get: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(error_code(&over_get), "QUERY_TOO_COMPLEX");
    assert_eq!(server.get("/healthz").await.status(), 200);
    let unknown = server
        .gql(None, "{ shop @nope { currencyCode } }", json!({}))
        .await;
    assert_eq!(
        error_code(&unknown),
        "BAD_USER_INPUT",
        "an unknown directive is bad input, not a limit"
    );
}

#[tokio::test]
async fn a_request_whose_body_trickles_in_too_slowly_times_out_with_408() {
    let server = TestServer::spawn_with(&["--request-timeout", "1s"]).await;
    let chunks = futures_util::stream::unfold(0, |n| async move {
        if n == 8 {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let chunk = if n == 0 {
            "{\"query\": \"{ shop { currencyCode } }\""
        } else {
            " "
        };
        Some((Ok::<_, std::io::Error>(chunk.to_string()), n + 1))
    });
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 408);
    assert_eq!(server.get("/healthz").await.status(), 200);
}
