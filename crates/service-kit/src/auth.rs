//! JWT access tokens (issued by the gateway, verified by every service) and
//! the service token that internal calls carry.

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::future::{Ready, ready};
use uuid::Uuid;

use crate::error::ApiError;

/// Header that carries the service token on internal calls.
pub const INTERNAL_TOKEN_HEADER: &str = "x-echoflow-internal-token";
const ISSUER: &str = "echoflow";

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// The token's id, so that a logout can revoke this one token until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<Uuid>,
}

/// Signing and verification keys (HS256).
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_secs: i64,
}

impl JwtKeys {
    pub fn new(secret: &SecretString, access_ttl_secs: i64) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            access_ttl_secs,
        }
    }

    /// A new access token for the user.
    pub fn issue(&self, user_id: Uuid, email: &str) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            email: email.to_string(),
            iat: now,
            exp: now + self.access_ttl_secs,
            iss: ISSUER.to_string(),
            jti: Some(Uuid::new_v4()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    ApiError::unauthorized("the access token has expired")
                }
                _ => ApiError::unauthorized("the access token is invalid"),
            })
    }
}

/// The authenticated caller of a public endpoint.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    pub email: String,
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let keys = req
        .app_data::<web::Data<JwtKeys>>()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("JwtKeys missing from app data")))?;
    let token = bearer_token(req)
        .ok_or_else(|| ApiError::unauthorized("missing Authorization: Bearer <access_token>"))?;
    let claims = keys.verify(token)?;
    Ok(AuthUser {
        id: claims.sub,
        email: claims.email,
    })
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The shared service token, as app data.
#[derive(Clone)]
pub struct InternalToken(pub SecretString);

/// A caller of an internal endpoint that presented the service token.
#[derive(Debug, Clone, Copy)]
pub struct InternalCaller;

impl FromRequest for InternalCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(check_internal(req))
    }
}

fn check_internal(req: &HttpRequest) -> Result<InternalCaller, ApiError> {
    use subtle::ConstantTimeEq;
    let expected = req.app_data::<web::Data<InternalToken>>().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("InternalToken missing from app data"))
    })?;
    let given = req
        .headers()
        .get(INTERNAL_TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let wanted = expected.0.expose_secret().as_bytes();
    if given.len() == wanted.len() && bool::from(given.ct_eq(wanted)) {
        Ok(InternalCaller)
    } else {
        Err(ApiError::new(
            crate::error::ErrorCode::Forbidden,
            "internal endpoint: service token required",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let keys = JwtKeys::new(
            &SecretString::from("a-secret-of-enough-length-0123456789"),
            60,
        );
        let id = Uuid::new_v4();
        let token = keys.issue(id, "a@b.c").unwrap();
        assert_eq!(keys.verify(&token).unwrap().sub, id);
        let other = JwtKeys::new(
            &SecretString::from("another-secret-of-enough-length-012345"),
            60,
        );
        assert!(other.verify(&token).is_err());
        let expired = JwtKeys::new(
            &SecretString::from("a-secret-of-enough-length-0123456789"),
            -60,
        );
        let old = expired.issue(id, "a@b.c").unwrap();
        assert!(keys.verify(&old).is_err());
    }
}
