//! Liveness and readiness endpoints.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_with_a_reachable_database() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["status"], status, "{path}");
    }
}
