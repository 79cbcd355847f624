//! `schema.graphql` is what the server prints.

#[test]
fn schema_file_matches_the_server() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).expect("schema.graphql at the repo root");
    let printed = klaxon::graphql::sdl();
    assert!(
        on_disk == printed,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[tokio::test]
async fn graphiql_and_introspection_work() {
    let app = crate::helpers::spawn_app().await;
    let page = app
        .http
        .get(app.url("/graphql"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("graphiql"), "GraphiQL page");
    // Served from the binary: its script is one of our own assets, wired to the
    // subscription endpoint.
    let script = page
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a script asset");
    assert!(script.starts_with("/assets/graphiql"), "{script}");
    let code = app
        .http
        .get(app.url(script))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        code.contains("/graphql/ws"),
        "wired to the subscription endpoint"
    );
    let body = app.gql(INTROSPECTION, serde_json::json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 20);
}

const INTROSPECTION: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}"#;

#[tokio::test]
async fn queries_run_over_get_but_mutations_do_not() {
    let app = crate::helpers::spawn_app().await;
    let body: serde_json::Value = app
        .http
        .get(app.url("/graphql?query=%7B%20users%20%7B%20id%20%7D%20%7D"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["users"], serde_json::json!([]));
    let mutation = app
        .http
        .get(app.url("/graphql?query=mutation%20%7B%20createService(input%3A%7Bname%3A%22x%22%7D)%20%7B%20id%20%7D%20%7D"))
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), 400);
    let services = app.data("{ services { id } }", serde_json::json!({})).await;
    assert_eq!(services["services"], serde_json::json!([]));
}
