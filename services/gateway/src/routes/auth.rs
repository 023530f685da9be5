//! Register, token, refresh and logout.

use actix_web::{HttpResponse, web};
use chrono::{Duration, Utc};
use echoflow_service_kit::{ApiError, AuthUser, ErrorCode, JwtKeys};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set,
    TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::store::{audit, refresh_tokens, users};

/// How long refresh tokens live, as app data.
#[derive(Clone, Copy)]
pub struct RefreshTtl(pub i64);

#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
}

/// An email address, normalised to lower case and checked for shape.
struct Email(String);

impl Email {
    fn parse(raw: &str) -> Result<Self, ApiError> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.chars().any(char::is_whitespace)
            });
        if valid {
            Ok(Email(email))
        } else {
            Err(ApiError::validation(
                "email is not a valid address",
                json!({"field": "email"}),
            ))
        }
    }
}

fn check_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if !(8..=128).contains(&chars) {
        return Err(ApiError::validation(
            "password must be 8 to 128 characters",
            json!({"field": "password"}),
        ));
    }
    Ok(())
}

/// Argon2id with m = 7 MiB, t = 5, p = 1: one of OWASP's equivalent
/// settings (the default is m = 19 MiB, t = 2). Same work, a third of the
/// memory per concurrent login, and a third of what a finished hash leaves
/// in the allocator. Hashes carry their parameters, so older ones verify.
fn hasher() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(7 * 1024, 5, 1, None).unwrap_or_default();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("bad hash: {e}"))?;
        Ok::<_, anyhow::Error>(
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// Create an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "identity", request_body = RegisterRequest,
    responses((status = 201, body = UserResponse), (status = 409, description = "email taken"), (status = 422, description = "invalid field")))]
#[tracing::instrument(skip(db, body))]
pub async fn register(
    db: web::Data<DatabaseConnection>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = Email::parse(&body.email)?;
    check_password(&body.password)?;
    let name = body
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 100) {
        return Err(ApiError::validation(
            "name must be at most 100 characters",
            json!({"field": "name"}),
        ));
    }
    if users::find_by_email(db.get_ref(), &email.0)
        .await?
        .is_some()
    {
        return Err(email_taken());
    }
    let password_hash = hash_password(body.password).await?;
    let now = Utc::now();
    let id = Uuid::now_v7();
    let txn = db.begin().await?;
    let inserted = users::ActiveModel {
        id: Set(id),
        email: Set(email.0.clone()),
        name: Set(name.clone()),
        password_hash: Set(password_hash),
        created_at: Set(now),
    }
    .insert(&txn)
    .await;
    if let Err(e) = inserted {
        // Two registrations racing for one address: the unique key decides.
        return Err(
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) {
                email_taken()
            } else {
                ApiError::internal(e)
            },
        );
    }
    audit::record(&txn, Some(id), "user.registered", json!({})).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(UserResponse {
        id,
        email: email.0,
        name,
        created_at: now,
    }))
}

fn email_taken() -> ApiError {
    ApiError::new(ErrorCode::Conflict, "this email is already registered")
        .with_details(json!({"field": "email"}))
}

/// Exchange email and password for an access token and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "identity", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "wrong credentials")))]
#[tracing::instrument(skip(db, keys, ttl, body))]
pub async fn token(
    db: web::Data<DatabaseConnection>,
    keys: web::Data<JwtKeys>,
    ttl: web::Data<RefreshTtl>,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = body.email.trim().to_lowercase();
    let user = users::find_by_email(db.get_ref(), &email).await?;
    let wrong = || ApiError::unauthorized("wrong email or password");
    let Some(user) = user else {
        // Spend the same time as a real check so timing does not reveal accounts.
        let _ = hash_password(body.password).await;
        return Err(wrong());
    };
    if !verify_password(body.password, user.password_hash.clone()).await? {
        return Err(wrong());
    }
    let txn = db.begin().await?;
    let response = issue_tokens(&txn, &keys, ttl.0, &user).await?;
    audit::record(&txn, Some(user.id), "user.token_issued", json!({})).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(response))
}

async fn issue_tokens<C: sea_orm::ConnectionTrait>(
    db: &C,
    keys: &JwtKeys,
    refresh_ttl_secs: i64,
    user: &users::Model,
) -> Result<TokenResponse, ApiError> {
    let access_token = keys.issue(user.id, &user.email)?;
    let (refresh_token, token_hash) = refresh_tokens::generate();
    let now = Utc::now();
    refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.id),
        token_hash: Set(token_hash),
        expires_at: Set(now + Duration::seconds(refresh_ttl_secs)),
        revoked_at: Set(None),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "bearer",
        expires_in: keys.access_ttl_secs,
        refresh_token,
    })
}

/// Trade a refresh token for new tokens; the old refresh token stops working.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "unknown, used or expired token")))]
#[tracing::instrument(skip(db, keys, ttl, body))]
pub async fn refresh(
    db: web::Data<DatabaseConnection>,
    keys: web::Data<JwtKeys>,
    ttl: web::Data<RefreshTtl>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let invalid = || ApiError::unauthorized("the refresh token is invalid, used or expired");
    let hash = refresh_tokens::hash(body.refresh_token.trim());
    let txn = db.begin().await?;
    let now = Utc::now();
    // Revoke first, conditionally: of two concurrent refreshes only one wins.
    let revoked = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
        .filter(refresh_tokens::Column::TokenHash.eq(hash.clone()))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .filter(refresh_tokens::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if revoked.rows_affected != 1 {
        return Err(invalid());
    }
    let Some(old) = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(hash))
        .one(&txn)
        .await?
    else {
        return Err(invalid());
    };
    let Some(user) = users::Entity::find_by_id(old.user_id).one(&txn).await? else {
        return Err(invalid());
    };
    let response = issue_tokens(&txn, &keys, ttl.0, &user).await?;
    audit::record(&txn, Some(user.id), "user.token_refreshed", json!({})).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(response))
}

/// Sign out everywhere: every refresh token of the caller stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "identity",
    responses((status = 204, description = "signed out")), security(("bearer" = [])))]
#[tracing::instrument(skip(db, user), fields(user_id = %user.id))]
pub async fn logout(
    db: web::Data<DatabaseConnection>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let txn = db.begin().await?;
    refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_tokens::Column::UserId.eq(user.id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    audit::record(&txn, Some(user.id), "user.logged_out", json!({})).await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
