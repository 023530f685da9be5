//! Who is calling, checked once for every route: an access token revoked by a
//! logout is refused (401) wherever it is presented, a signed-in user has a
//! request budget, and so has each chatbot key on the widget's routes (429).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};
use echoflow_service_kit::{ApiError, JwtKeys, auth::bearer_token};
use sea_orm::DatabaseConnection;

use crate::limits::Limits;
use crate::store::revoked_tokens;

/// The header that names the chatbot on the widget's routes (`/api/v1/chat` and below).
const CHATBOT_KEY_HEADER: &str = "x-chatbot-key";

/// The refusal for this request, if any. A token that does not verify here
/// is left to the route (or the service behind it) to refuse.
async fn refusal(req: &ServiceRequest) -> Option<actix_web::HttpResponse> {
    let (Some(keys), Some(db), Some(limits)) = (
        req.app_data::<web::Data<JwtKeys>>(),
        req.app_data::<web::Data<DatabaseConnection>>(),
        req.app_data::<web::Data<Limits>>(),
    ) else {
        return Some(
            ApiError::internal(anyhow::anyhow!("the gateway's app data is incomplete"))
                .error_response(),
        );
    };
    if let Some(claims) = bearer_token(req.request()).and_then(|t| keys.verify(t).ok()) {
        if let Some(jti) = claims.jti {
            match revoked_tokens::is_revoked(db.get_ref(), jti).await {
                Ok(false) => {}
                Ok(true) => {
                    return Some(
                        ApiError::unauthorized("the access token was revoked by a logout")
                            .error_response(),
                    );
                }
                Err(e) => return Some(ApiError::internal(e).error_response()),
            }
        }
        if let Err(throttled) = limits.check_user(claims.sub) {
            return Some(throttled.error_response());
        }
    }
    if crate::cors::is_widget_path(req.path())
        && let Some(key) = req.headers().get(CHATBOT_KEY_HEADER)
        && let Err(throttled) = limits.check_chat_key(key.as_bytes())
    {
        return Some(throttled.error_response());
    }
    None
}

pub async fn check_caller(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match refusal(&req).await {
        Some(response) => Ok(req.into_response(response).map_into_right_body()),
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}
