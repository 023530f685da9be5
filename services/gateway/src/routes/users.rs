//! The caller's own account.

use actix_web::{HttpResponse, web};
use echoflow_service_kit::{ApiError, AuthUser};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::users;

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
}

/// The authenticated user.
#[utoipa::path(get, path = "/api/v1/users/me", operation_id = "getCurrentUser", tag = "identity",
    responses((status = 200, body = Me), (status = 401, description = "no or bad token")), security(("bearer" = [])))]
#[tracing::instrument(skip(db, user), fields(user_id = %user.id))]
pub async fn me(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let found = users::Entity::find_by_id(user.id)
        .one(db.get_ref())
        .await?
        .ok_or_else(|| ApiError::unauthorized("the account no longer exists"))?;
    Ok(HttpResponse::Ok().json(Me {
        id: found.id,
        email: found.email,
        name: found.name,
    }))
}
