//! `docs/openapi.json` is the API's description generated from the handlers: this test fails
//! when the committed file differs from what the code derives, and says how to regenerate it.

#[test]
fn docs_openapi_json_is_the_description_the_code_generates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = cloud::api::openapi_json();
    assert!(
        committed == generated,
        "docs/openapi.json is not what the code generates; regenerate it with\n  cargo run -p cloud --bin cloud -- serve --print-openapi > docs/openapi.json"
    );
}

#[test]
fn every_operation_is_authenticated_and_answers_errors_in_one_shape() {
    let api: serde_json::Value = serde_json::from_str(&cloud::api::openapi_json()).unwrap();
    let paths = api["paths"].as_object().unwrap();
    assert!(paths.len() >= 9, "{:?}", paths.keys());
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            assert_eq!(op["security"][0]["bearer"], serde_json::json!([]), "{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert_eq!(
                responses["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path}"
            );
        }
    }
    assert_eq!(api["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}
