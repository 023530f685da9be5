//! Connecting an account: the authorization URL (state + PKCE), and the
//! callback the provider sends the browser to, which stores the connection.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use echoflow_service_kit::{ApiError, AuthUser, ErrorCode, JwtKeys};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::connections::ConnectionResponse;
use super::provider_of;
use crate::error::{Error, invalid};
use crate::oauth::{self, OAuthProvider, TokenError, TokenSet};
use crate::provider::Provider;
use crate::state::Integrations;
use crate::store::{aad, connections, oauth_states};
use crate::tokens::{expiry, seal};

#[derive(Serialize, ToSchema)]
pub struct ConnectResponse {
    /// Send the user's browser here.
    pub authorization_url: String,
    /// The single-use state the callback must bring back.
    pub state: String,
    pub expires_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/api/v1/integrations/{provider}/connect", operation_id = "startIntegrationConnect", tag = "integrations", security(("bearer" = [])),
    params(("provider" = crate::provider::Provider, Path, description = "slack, hubspot, google_sheets or salesforce")),
    responses((status = 200, body = ConnectResponse),
              (status = 422, description = "unknown or unconfigured provider (`details.path` = `provider`)")))]
#[tracing::instrument(skip_all, fields(user_id = %user.id, provider = %provider))]
pub async fn connect(
    user: AuthUser,
    state: web::Data<Integrations>,
    provider: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let provider = provider_of(&provider)?;
    let settings = state.settings.providers.of(provider);
    if !settings.is_configured() {
        return Err(invalid(
            "provider",
            format!(
                "{provider} is not configured on this server (integrations.providers.{provider}.client_id)"
            ),
        ));
    }
    let raw_state = oauth::new_state();
    let verifier = oauth::new_verifier();
    let redirect_uri = format!(
        "{}/api/v1/integrations/{provider}/callback",
        state.redirect_base
    );
    let url = OAuthProvider::new(provider, settings, &state.http)
        .authorize_url(&redirect_uri, &raw_state, &verifier)
        .map_err(|e| invalid("provider", format!("{provider}: bad OAuth settings: {e}")))?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    let expires_at = now + chrono::Duration::seconds(state.settings.state_ttl_secs.max(1));
    oauth_states::ActiveModel {
        id: Set(id),
        state_hash: Set(oauth_states::hash(&raw_state)),
        user_id: Set(user.id),
        provider: Set(provider.as_str().into()),
        key_id: Set(state.keyring.active_id().into()),
        pkce_verifier: Set(state.keyring.encrypt(
            &verifier,
            &aad(oauth_states::TABLE, id, oauth_states::PKCE_VERIFIER),
        )?),
        redirect_uri: Set(redirect_uri),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    if let Err(e) = oauth_states::purge_expired(&state.db, now).await {
        tracing::warn!(error = %e, "could not purge expired OAuth states");
    }
    Ok(HttpResponse::Ok().json(ConnectResponse {
        authorization_url: url.to_string(),
        state: raw_state,
        expires_at,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set by the provider when the user refused (`access_denied`).
    pub error: Option<String>,
    pub error_description: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/integrations/{provider}/callback", operation_id = "completeIntegrationConnect", security((), ("bearer" = [])), tag = "integrations",
    params(("provider" = crate::provider::Provider, Path), CallbackQuery),
    responses((status = 201, body = ConnectionResponse, description = "a new connection"),
              (status = 200, body = ConnectionResponse, description = "an existing connection to the same account, reconnected"),
              (status = 400, description = "INVALID_STATE, ACCESS_DENIED, or INVALID_GRANT (the provider refused the code)"),
              (status = 403, description = "the state belongs to another user"),
              (status = 422, description = "the callback carries neither `code` nor `error`"),
              (status = 502, description = "TOKEN_EXCHANGE_FAILED: the token endpoint is unreachable, failed, or refused our app")))]
#[tracing::instrument(skip_all, fields(provider = %provider))]
pub async fn callback(
    req: HttpRequest,
    state: web::Data<Integrations>,
    provider: web::Path<String>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, Error> {
    let provider = provider_of(&provider)?;
    let query = query.into_inner();
    let pending = pending_state(&state, provider, query.state.as_deref()).await?;
    // The browser normally brings no token; one that does must be the user
    // who started the connect.
    if let Some(token) = echoflow_service_kit::auth::bearer_token(&req) {
        let keys = req
            .app_data::<web::Data<JwtKeys>>()
            .ok_or_else(|| anyhow::anyhow!("JwtKeys missing from app data"))?;
        let claims = keys.verify(token)?;
        if claims.sub != pending.user_id {
            return Err(Error::Api(ApiError::new(
                ErrorCode::Forbidden,
                "this connect was started by another user",
            )));
        }
    }
    if let Some(error) = query.error.as_deref().filter(|e| !e.is_empty()) {
        oauth_states::mark_used(&state.db, pending.id, Utc::now()).await?;
        let detail = query
            .error_description
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Err(Error::AccessDenied(format!(
            "{provider} did not authorize the connection: {error}{detail}"
        )));
    }
    let code = query
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("code", "is required"))?;
    let verifier = state.keyring.decrypt(
        &pending.key_id,
        &pending.pkce_verifier,
        &aad(oauth_states::TABLE, pending.id, oauth_states::PKCE_VERIFIER),
    )?;
    let tokens = OAuthProvider::new(provider, state.settings.providers.of(provider), &state.http)
        .exchange_code(&pending.redirect_uri, code, &verifier)
        .await
        .map_err(|e| exchange_failed(provider, e))?;
    let (row, created) = store_connection(&state, provider, &pending, tokens).await?;
    tracing::info!(connection_id = %row.id, owner_id = %row.owner_id, created, "connection stored");
    let body = ConnectionResponse::from(row);
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

/// The unspent, unexpired state of this provider, or 400 INVALID_STATE.
async fn pending_state(
    state: &Integrations,
    provider: Provider,
    raw: Option<&str>,
) -> Result<oauth_states::Model, Error> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::InvalidState("the callback carries no state".into()))?;
    let found = oauth_states::find_by_state(&state.db, raw)
        .await?
        .ok_or_else(|| Error::InvalidState("unknown state; start the connect again".into()))?;
    if found.provider != provider.as_str() {
        return Err(Error::InvalidState(
            "the state was issued for another provider".into(),
        ));
    }
    if found.used_at.is_some() {
        return Err(Error::InvalidState("the state was already used".into()));
    }
    if found.expires_at <= Utc::now() {
        return Err(Error::InvalidState(
            "the state expired; start the connect again".into(),
        ));
    }
    Ok(found)
}

fn exchange_failed(provider: Provider, err: TokenError) -> Error {
    tracing::warn!(%provider, error = %err, "authorization code exchange failed");
    if let TokenError::InvalidGrant(why) = &err {
        return Error::InvalidGrant(format!(
            "{provider} refused the authorization code: {why}; start the connect again"
        ));
    }
    Error::TokenExchangeFailed(format!(
        "{provider} did not exchange the authorization code: {err}"
    ))
}

/// Who the tokens are for, from what the token endpoint said.
struct AccountInfo {
    name: Option<String>,
    account: Option<String>,
    config: Value,
}

/// Who the tokens are for: from the token answer (Slack's team,
/// Salesforce's org and user, Google's ID token), or for HubSpot from its
/// access-token lookup. None when the provider does not say (the
/// connection is then new on every connect).
async fn identify(state: &Integrations, provider: Provider, tokens: &TokenSet) -> AccountInfo {
    if provider != Provider::Hubspot {
        return account_info(provider, tokens);
    }
    let base = &state.settings.providers.of(provider).api_base_url;
    let Ok(mut url) = url::Url::parse(&format!("{}/", base.trim_end_matches('/'))) else {
        return account_info(provider, tokens);
    };
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend(["oauth", "v1", "access-tokens", &tokens.access_token]);
    }
    let answer = match state.http.get(url).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
        Ok(r) => {
            tracing::warn!(
                status = r.status().as_u16(),
                "hubspot did not say which portal the token is for"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "hubspot did not say which portal the token is for");
            None
        }
    };
    let answer = answer.unwrap_or(Value::Null);
    AccountInfo {
        name: answer["hub_domain"].as_str().map(str::to_string),
        account: match &answer["hub_id"] {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
        config: json!({}),
    }
}

/// The claims of an OpenID Connect ID token, read without checking its
/// signature: it came straight from the provider's token endpoint over the
/// connection that authenticated the code exchange.
fn id_token_claims(id_token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = id_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn account_info(provider: Provider, tokens: &TokenSet) -> AccountInfo {
    let fields = &tokens.fields;
    match provider {
        Provider::Slack => {
            let team = fields.team.clone().unwrap_or_default();
            AccountInfo {
                name: team.name,
                account: team.id,
                config: json!({}),
            }
        }
        Provider::Salesforce => {
            let instance = fields.instance_url.clone();
            // The identity URL ends in /<org id>/<user id>.
            let account = fields.id.as_ref().and_then(Value::as_str).map(|id| {
                let parts: Vec<&str> = id.trim_end_matches('/').rsplit('/').take(2).collect();
                parts.into_iter().rev().collect::<Vec<_>>().join("/")
            });
            let name = instance
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_string));
            AccountInfo {
                name,
                account,
                config: json!({"instance_url": instance}),
            }
        }
        Provider::GoogleSheets => {
            let claims = fields.id_token.as_deref().and_then(id_token_claims);
            let claim = |key: &str| {
                claims
                    .as_ref()
                    .and_then(|c| c[key].as_str())
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            };
            AccountInfo {
                name: claim("email"),
                account: claim("sub"),
                config: json!({}),
            }
        }
        Provider::Hubspot => AccountInfo {
            name: None,
            account: None,
            config: json!({}),
        },
    }
}

/// Spends the state and stores the connection in one transaction: of two
/// racing callbacks with one state, only one stores anything. A connect to
/// an account the user already connected updates that connection, so the
/// workflows using it keep working.
async fn store_connection(
    state: &Integrations,
    provider: Provider,
    pending: &oauth_states::Model,
    tokens: TokenSet,
) -> Result<(connections::Model, bool), Error> {
    let info = identify(state, provider, &tokens).await;
    let scopes = tokens
        .scopes
        .clone()
        .unwrap_or_else(|| state.settings.providers.of(provider).scope_list());
    let now = Utc::now();
    let txn = state.db.begin().await?;
    if !oauth_states::mark_used(&txn, pending.id, now).await? {
        txn.rollback().await?;
        return Err(Error::InvalidState("the state was already used".into()));
    }
    let existing = match &info.account {
        Some(account) => {
            connections::find_same_account(&txn, pending.user_id, provider.as_str(), account)
                .await?
        }
        None => None,
    };
    let id = existing.as_ref().map(|e| e.id).unwrap_or_else(Uuid::now_v7);
    let sealed = seal(
        &state.keyring,
        id,
        &tokens.access_token,
        tokens.refresh_token.as_deref(),
    )?;
    let expires_at = expiry(&tokens);
    let created = existing.is_none();
    match existing {
        Some(old) => {
            connections::Entity::update_many()
                .col_expr(
                    connections::Column::Status,
                    Expr::value(connections::STATUS_ACTIVE),
                )
                .col_expr(
                    connections::Column::StatusReason,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(connections::Column::Name, Expr::value(info.name))
                .col_expr(connections::Column::Scopes, Expr::value(json!(scopes)))
                .col_expr(
                    connections::Column::ProviderConfig,
                    Expr::value(info.config),
                )
                .col_expr(connections::Column::KeyId, Expr::value(sealed.key_id))
                .col_expr(
                    connections::Column::AccessToken,
                    Expr::value(sealed.access_token),
                )
                .col_expr(
                    connections::Column::RefreshToken,
                    Expr::value(sealed.refresh_token),
                )
                .col_expr(
                    connections::Column::TokenVersion,
                    Expr::value(old.token_version + 1),
                )
                .col_expr(connections::Column::ExpiresAt, Expr::value(expires_at))
                .col_expr(
                    connections::Column::LastRefreshedAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    connections::Column::BlockedUntil,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(connections::Column::UpdatedAt, Expr::value(now))
                .filter(connections::Column::Id.eq(old.id))
                .exec(&txn)
                .await?;
        }
        None => {
            connections::ActiveModel {
                id: Set(id),
                owner_id: Set(pending.user_id),
                provider: Set(provider.as_str().into()),
                name: Set(info.name),
                account: Set(info.account),
                status: Set(connections::STATUS_ACTIVE.into()),
                status_reason: Set(None),
                scopes: Set(json!(scopes)),
                provider_config: Set(info.config),
                key_id: Set(sealed.key_id),
                access_token: Set(sealed.access_token),
                refresh_token: Set(sealed.refresh_token),
                token_version: Set(0),
                expires_at: Set(expires_at),
                last_refreshed_at: Set(None),
                blocked_until: Set(None),
                rate_tokens: Set(None),
                rate_checked_at: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
    }
    let row = connections::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("connection {id} vanished inside its transaction"))?;
    txn.commit().await?;
    Ok((row, created))
}
