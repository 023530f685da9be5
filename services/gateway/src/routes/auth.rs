//! Register, token, refresh and logout.

use actix_web::{HttpRequest, HttpResponse, web};
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

use crate::limits::{AuthRoute, Limits};
use crate::store::{audit, refresh_tokens, revoked_tokens, users};

/// How long refresh tokens live, as app data.
#[derive(Clone, Copy)]
pub struct RefreshTtl(pub i64);

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada"}))]
pub struct RegisterRequest {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// 8 to 128 characters, and not guessable (zxcvbn score 3 or more).
    #[schema(min_length = 8, max_length = 128)]
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
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
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

/// The least zxcvbn score (0 to 4) a new password must reach: 3 is "safely
/// unguessable" (about 10^8 guesses and more), which `password`, `12345678`
/// and the account's own email or name are not.
const MIN_PASSWORD_SCORE: u8 = 3;

fn check_password(password: &str, user_inputs: &[&str]) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if !(8..=128).contains(&chars) {
        return Err(ApiError::validation(
            "password must be 8 to 128 characters",
            json!({"field": "password"}),
        ));
    }
    let estimate = zxcvbn::zxcvbn(password, user_inputs);
    let score = u8::from(estimate.score());
    if score < MIN_PASSWORD_SCORE {
        let feedback = estimate.feedback();
        let warning = feedback.and_then(|f| f.warning()).map(|w| w.to_string());
        let suggestions: Vec<String> = feedback
            .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        return Err(ApiError::validation(
            "password is too weak: it is common or easy to guess",
            json!({"field": "password", "score": score, "min_score": MIN_PASSWORD_SCORE,
                   "warning": warning, "suggestions": suggestions}),
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
#[utoipa::path(post, path = "/api/v1/auth/register", operation_id = "registerUser", security(()), tag = "identity", request_body = RegisterRequest,
    responses((status = 201, body = UserResponse), (status = 409, description = "email taken"),
        (status = 422, description = "invalid field, or a password that is common or easy to guess"),
        (status = 429, description = "too many attempts from this address or for this address; see Retry-After")))]
#[tracing::instrument(skip_all)]
pub async fn register(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
    limits: web::Data<Limits>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, actix_web::Error> {
    let body = body.into_inner();
    limits
        .check_auth(db.get_ref(), AuthRoute::Register, &req, &body.email)
        .await?;
    Ok(create_account(db.get_ref(), body).await?)
}

async fn create_account(
    db: &DatabaseConnection,
    body: RegisterRequest,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email)?;
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
    let local_part = email.0.split('@').next().unwrap_or_default();
    let mut user_inputs = vec![email.0.as_str(), local_part];
    user_inputs.extend(name.as_deref());
    check_password(&body.password, &user_inputs)?;
    // Hashed before the address is looked up, so that a taken address costs
    // the same time as a new one and timing does not tell which exist.
    let password_hash = hash_password(body.password).await?;
    if let Some(existing) = users::find_by_email(db, &email.0).await? {
        // The account's owner may want to know; and the write keeps this
        // answer about as slow as a registration's.
        let txn = db.begin().await?;
        audit::record(
            &txn,
            Some(existing.id),
            "user.registration_refused",
            json!({}),
        )
        .await?;
        txn.commit().await?;
        return Err(email_taken());
    }
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
#[utoipa::path(post, path = "/api/v1/auth/token", operation_id = "issueToken", security(()), tag = "identity", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, description = "wrong credentials"),
        (status = 429, description = "too many attempts from this address or for this account; see Retry-After")))]
#[tracing::instrument(skip_all)]
pub async fn token(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
    keys: web::Data<JwtKeys>,
    ttl: web::Data<RefreshTtl>,
    limits: web::Data<Limits>,
    body: web::Json<TokenRequest>,
) -> Result<HttpResponse, actix_web::Error> {
    let body = body.into_inner();
    limits
        .check_auth(db.get_ref(), AuthRoute::Token, &req, &body.email)
        .await?;
    Ok(sign_in(db.get_ref(), &keys, ttl.0, &body.email, body.password).await?)
}

async fn sign_in(
    db: &DatabaseConnection,
    keys: &JwtKeys,
    refresh_ttl_secs: i64,
    email: &str,
    password: String,
) -> Result<HttpResponse, ApiError> {
    let user = users::find_by_email(db, &email.trim().to_lowercase()).await?;
    let wrong = || ApiError::unauthorized("wrong email or password");
    let Some(user) = user else {
        // Spend the same time as a real check so timing does not reveal accounts.
        let _ = hash_password(password).await;
        return Err(wrong());
    };
    if !verify_password(password, user.password_hash.clone()).await? {
        return Err(wrong());
    }
    let txn = db.begin().await?;
    // A sign-in starts a new family of refresh tokens.
    let response = issue_tokens(&txn, keys, refresh_ttl_secs, &user, Uuid::now_v7()).await?;
    audit::record(&txn, Some(user.id), "user.token_issued", json!({})).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(response))
}

async fn issue_tokens<C: sea_orm::ConnectionTrait>(
    db: &C,
    keys: &JwtKeys,
    refresh_ttl_secs: i64,
    user: &users::Model,
    family_id: Uuid,
) -> Result<TokenResponse, ApiError> {
    let access_token = keys.issue(user.id, &user.email)?;
    let (refresh_token, token_hash) = refresh_tokens::generate();
    let now = Utc::now();
    refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        family_id: Set(Some(family_id)),
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
/// Presenting a token that was already traded revokes every refresh token
/// descending from the same sign-in: one of its holders is not its owner.
#[utoipa::path(post, path = "/api/v1/auth/refresh", operation_id = "refreshToken", security(()), tag = "identity", request_body = RefreshRequest,
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
    let Some(old) = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(hash.clone()))
        .one(db.get_ref())
        .await?
    else {
        return Err(invalid());
    };
    let family_id = old.family_id.unwrap_or(old.id);
    if old.revoked_at.is_some() {
        revoke_family(db.get_ref(), &old, family_id).await?;
        return Err(invalid());
    }
    let txn = db.begin().await?;
    let now = Utc::now();
    // Revoke first, conditionally: of two concurrent refreshes only one wins.
    let revoked = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(now))
        .filter(refresh_tokens::Column::Id.eq(old.id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .filter(refresh_tokens::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if revoked.rows_affected != 1 {
        return Err(invalid());
    }
    let Some(user) = users::Entity::find_by_id(old.user_id).one(&txn).await? else {
        return Err(invalid());
    };
    let response = issue_tokens(&txn, &keys, ttl.0, &user, family_id).await?;
    audit::record(&txn, Some(user.id), "user.token_refreshed", json!({})).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(response))
}

/// A rotated refresh token came back: every token of its family stops working.
async fn revoke_family(
    db: &DatabaseConnection,
    reused: &refresh_tokens::Model,
    family_id: Uuid,
) -> Result<(), ApiError> {
    let txn = db.begin().await?;
    let revoked = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(
            sea_orm::Condition::any()
                .add(refresh_tokens::Column::FamilyId.eq(family_id))
                .add(refresh_tokens::Column::Id.eq(family_id)),
        )
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        Some(reused.user_id),
        "user.refresh_token_reused",
        json!({"family_id": family_id, "revoked": revoked.rows_affected}),
    )
    .await?;
    txn.commit().await?;
    tracing::warn!(user_id = %reused.user_id, %family_id, revoked = revoked.rows_affected,
        "a rotated refresh token was presented again; its family is revoked");
    Ok(())
}

/// Sign out: the presented access token stops working at once (on every
/// gateway), and every refresh token of the caller stops working.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "logOut", tag = "identity",
    responses((status = 204, description = "signed out")), security(("bearer" = [])))]
#[tracing::instrument(skip(req, db, keys, user), fields(user_id = %user.id))]
pub async fn logout(
    req: HttpRequest,
    db: web::Data<DatabaseConnection>,
    keys: web::Data<JwtKeys>,
    user: AuthUser,
) -> Result<HttpResponse, ApiError> {
    let claims = echoflow_service_kit::auth::bearer_token(&req)
        .map(|token| keys.verify(token))
        .transpose()?;
    let txn = db.begin().await?;
    if let Some(claims) = claims
        && let Some(jti) = claims.jti
    {
        let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0)
            .unwrap_or_else(|| Utc::now() + Duration::seconds(keys.access_ttl_secs.max(0)));
        revoked_tokens::revoke(&txn, jti, expires_at).await?;
    }
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
