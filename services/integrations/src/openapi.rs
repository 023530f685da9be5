//! The integrations service's OpenAPI document (merged by the gateway).

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::routes::{connect, connections};

#[derive(OpenApi)]
#[openapi(
    paths(connections::list, connections::test, connections::delete,
          connect::connect, connect::callback),
    components(schemas(connections::ConnectionResponse, connections::ConnectionList,
                       connections::TestResult, connect::ConnectResponse,
                       crate::provider::Provider)),
    tags((name = "integrations", description = "OAuth connections to Slack, HubSpot, Google Sheets and Salesforce; tokens never leave the service"))
)]
pub struct IntegrationsDoc;

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(IntegrationsDoc::openapi())
}
