//! Every list refuses a page out of range or malformed with the same 422.

use super::*;

#[tokio::test]
async fn every_list_refuses_a_page_out_of_range_or_malformed_with_the_same_422() {
    use echoflow_service_kit::pagination::{Pagination, REFUSED_QUERIES};
    let app = spawn_app().await;
    let get = |uri: String| {
        let request = app.client.get(app.url(&uri)).bearer_auth(&app.token);
        async move { read(request.send().await.unwrap()).await }
    };
    for path in ["/api/v1/workflows", "/api/v1/audit-log"] {
        for (query, _) in REFUSED_QUERIES {
            let (status, body) = get(format!("{path}?{query}")).await;
            assert_eq!(status, 422, "{path}?{query}: {body}");
            let expected = Pagination::from_query(query).unwrap_err().body();
            assert_eq!(body, expected, "{path}?{query}");
        }
        let (status, body) = get(format!("{path}?limit=200&offset=1000000")).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}
