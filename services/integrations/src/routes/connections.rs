//! The caller's connections: list, test, delete. No answer ever carries a token.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use echoflow_service_kit::AuthUser;
use reqwest::Method;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::actions::url_with;
use crate::calls::ProviderRequest;
use crate::error::{Error, not_found};
use crate::events::Origin;
use crate::oauth::revoke::{self, Revoked};
use crate::provider::Provider;
use crate::state::Integrations;
use crate::store::connections;
use crate::tokens;

/// How revoking the grant at the provider went, on a delete: `true`,
/// `false` (the provider refused or was unreachable) or `not_attempted`.
pub const REVOKED_HEADER: &str = "x-echoflow-revoked";

/// A connection as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionResponse {
    pub id: Uuid,
    pub provider: String,
    /// E.g. the Slack workspace or the Salesforce org host.
    pub name: Option<String>,
    /// `active` or `needs_reconnect`.
    pub status: String,
    /// Why the connection needs reconnecting, when it does.
    pub status_reason: Option<String>,
    pub scopes: Vec<String>,
    /// The provider's account id (Slack team id, Salesforce org/user), if known.
    pub account: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<connections::Model> for ConnectionResponse {
    fn from(m: connections::Model) -> Self {
        let scopes = m
            .scopes
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: m.id,
            provider: m.provider,
            name: m.name,
            status: m.status,
            status_reason: m.status_reason,
            scopes,
            account: m.account,
            expires_at: m.expires_at,
            last_refreshed_at: m.last_refreshed_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionList {
    pub items: Vec<ConnectionResponse>,
    pub total: u64,
}

/// The outcome of a connection test.
#[derive(Serialize, ToSchema)]
pub struct TestResult {
    pub ok: bool,
    /// The connection's status after the test.
    pub status: String,
    /// `{code, message}` when the test failed.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
}

async fn owned(
    db: &DatabaseConnection,
    id: Uuid,
    user: &AuthUser,
) -> Result<connections::Model, Error> {
    connections::find_owned(db, id, user.id)
        .await?
        .ok_or_else(|| not_found("connection"))
}

#[utoipa::path(get, path = "/api/v1/integrations", operation_id = "listConnections", tag = "integrations", security(("bearer" = [])),
    responses((status = 200, body = ConnectionList)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn list(user: AuthUser, state: web::Data<Integrations>) -> Result<HttpResponse, Error> {
    let items: Vec<ConnectionResponse> = connections::list_owned(&state.db, user.id)
        .await?
        .into_iter()
        .map(ConnectionResponse::from)
        .collect();
    let total = items.len() as u64;
    Ok(HttpResponse::Ok().json(ConnectionList { items, total }))
}

#[utoipa::path(post, path = "/api/v1/integrations/{id}/test", operation_id = "testConnection", tag = "integrations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TestResult), (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, connection_id = %id))]
pub async fn test(
    user: AuthUser,
    state: web::Data<Integrations>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Error> {
    let row = owned(&state.db, *id, &user).await?;
    let outcome = probe(&state, &row).await;
    let status = connections::Entity::find_by_id(row.id)
        .one(&state.db)
        .await?
        .map(|r| r.status)
        .unwrap_or(row.status);
    let result = match outcome {
        Ok(()) => TestResult {
            ok: true,
            status,
            error: None,
        },
        Err(Error::Unexpected(e)) => return Err(Error::Unexpected(e)),
        Err(e) => {
            let body = e.body();
            TestResult {
                ok: false,
                status,
                error: Some(json!({
                    "code": body["error"]["code"],
                    "message": body["error"]["message"],
                })),
            }
        }
    };
    Ok(HttpResponse::Ok().json(result))
}

/// A cheap call that proves the token works, through the same path as the
/// actions (limiter, refresh, one retry). The Sheets API has no endpoint
/// without a spreadsheet id, so a Google connection is tested by refreshing
/// its token, which proves the grant is still live.
async fn probe(state: &Integrations, row: &connections::Model) -> Result<(), Error> {
    let provider = Provider::parse(&row.provider)
        .ok_or_else(|| anyhow::anyhow!("unknown provider {}", row.provider))?;
    if provider == Provider::GoogleSheets {
        if row.needs_reconnect() {
            return Err(Error::NeedsReconnect {
                reason: row.status_reason.clone().unwrap_or_default(),
            });
        }
        if row.refresh_token.is_none() {
            return match row.expires_at {
                Some(at) if at <= Utc::now() => Err(Error::ProviderUnauthorized(
                    "the access token expired and there is no refresh token".into(),
                )),
                _ => Ok(()),
            };
        }
        state
            .calls
            .tokens
            .refresh(row.id, row.token_version, Origin::default())
            .await?;
        return Ok(());
    }
    state
        .calls
        .send(row.id, row.owner_id, Origin::default(), None, |_, base| {
            Ok(match provider {
                Provider::Slack => ProviderRequest {
                    method: Method::POST,
                    url: url_with(base, &["auth.test"]),
                    body: None,
                },
                Provider::Hubspot => {
                    let mut url = url_with(base, &["crm", "v3", "objects", "contacts"]);
                    url.query_pairs_mut().append_pair("limit", "1");
                    ProviderRequest {
                        method: Method::GET,
                        url,
                        body: None,
                    }
                }
                Provider::Salesforce | Provider::GoogleSheets => ProviderRequest {
                    method: Method::GET,
                    url: url_with(
                        base,
                        &[
                            "services",
                            "data",
                            crate::actions::SALESFORCE_API_VERSION,
                            "limits",
                        ],
                    ),
                    body: None,
                },
            })
        })
        .await
        .map(|_| ())
}

#[utoipa::path(delete, path = "/api/v1/integrations/{id}", operation_id = "deleteConnection", tag = "integrations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "deleted; `X-Echoflow-Revoked` tells whether the provider revoked the grant",
        headers(("x-echoflow-revoked" = String, description = "true, false or not_attempted"))),
        (status = 404)))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, connection_id = %id))]
pub async fn delete(
    user: AuthUser,
    state: web::Data<Integrations>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, Error> {
    let row = owned(&state.db, *id, &user).await?;
    // The grant is revoked at the provider first; the connection is deleted
    // whatever the provider answers (the header says how it went).
    let revoked = match (
        Provider::parse(&row.provider),
        tokens::open(&state.keyring, &row),
    ) {
        (Some(provider), Ok((access, refresh))) => {
            let settings = state.settings.providers.of(provider);
            revoke::revoke(&state.http, provider, settings, &access, refresh.as_deref()).await
        }
        (_, Err(e)) => Revoked::Failed(format!("the tokens cannot be decrypted: {e}")),
        (None, _) => Revoked::NotAttempted,
    };
    if let Revoked::Failed(reason) = &revoked {
        tracing::warn!(connection_id = %row.id, provider = %row.provider, reason, "the grant could not be revoked at the provider");
    }
    connections::Entity::delete_by_id(row.id)
        .exec(&state.db)
        .await?;
    state.calls.tokens.forget(row.id);
    state.calls.limiter.forget(row.id);
    Ok(HttpResponse::NoContent()
        .insert_header((REVOKED_HEADER, revoked.as_header()))
        .finish())
}
