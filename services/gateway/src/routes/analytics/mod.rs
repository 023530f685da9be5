//! `GET /api/v1/analytics/overview`: the caller's figures for a range, composed
//! from the slices chat and the executor answer for (each over its own data,
//! through their internal routes); and the live dashboard stream.

pub mod stream;

use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use echoflow_analytics::{
    Bucket, ConversationFigures, ExecutionFigures, Overview, Range, SliceQuery,
};
use echoflow_service_kit::internal_client::InternalClient;
use echoflow_service_kit::{ApiError, AuthUser};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use uuid::Uuid;

/// The range an overview covers when the query names none.
const DEFAULT_DAYS: i64 = 30;

/// Where the slices are asked for, with the service token.
pub struct AnalyticsUpstreams {
    chat: String,
    executor: String,
    client: InternalClient,
}

impl AnalyticsUpstreams {
    pub fn new(chat: &str, executor: &str, token: SecretString) -> Result<Self, reqwest::Error> {
        Ok(Self {
            chat: chat.trim_end_matches('/').to_owned(),
            executor: executor.trim_end_matches('/').to_owned(),
            client: InternalClient::builder(Duration::from_secs(5), Duration::from_secs(30))
                .service_token(token)
                .build()?,
        })
    }

    async fn slice<T: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        query: &SliceQuery,
    ) -> Result<T, ApiError> {
        let url = format!("{base}{path}");
        let answer = self
            .client
            .get(&url)
            .query(query)
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, url, "analytics slice unreachable");
                ApiError::unavailable(
                    "a service the overview needs is unavailable; try again shortly",
                )
            })?;
        match answer.status().as_u16() {
            200 => answer.json::<T>().await.map_err(ApiError::internal),
            404 => Err(ApiError::not_found("chatbot")),
            status => {
                tracing::warn!(status, url, "analytics slice failed");
                Err(ApiError::unavailable(
                    "a service the overview needs failed; try again shortly",
                ))
            }
        }
    }
}

/// The range and what it covers. `from` and `to` are widened to whole UTC hours.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// Only this chatbot's figures (404 if it is not the caller's); default: all of the caller's.
    pub chatbot_id: Option<Uuid>,
    /// Start of the range (RFC 3339); default: 30 days before `to`.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-11-01T00:00:00Z")]
    pub from: Option<DateTime<Utc>>,
    /// End of the range (RFC 3339, exclusive); default: now. At most 366 days after `from`.
    #[param(value_type = Option<String>, format = DateTime, example = "2026-12-01T00:00:00Z")]
    pub to: Option<DateTime<Utc>>,
    /// The trend's bucket: `hour` (at most 1000 buckets) or `day` (default).
    pub bucket: Option<Bucket>,
}

/// The checked range of a query: 422 naming the field at fault.
pub fn range_of(query: &OverviewQuery, now: DateTime<Utc>) -> Result<Range, ApiError> {
    let to = query.to.unwrap_or(now);
    let from = query
        .from
        .unwrap_or(to - chrono::TimeDelta::days(DEFAULT_DAYS));
    Ok(Range::new(from, to, query.bucket.unwrap_or_default())?)
}

/// The caller's analytics over a range.
///
/// Conversations (started, messages, unique end users, sentiment and its
/// trend, replies from the FAQ against the fallback, top intents) come from
/// chat; executions (by status, p50/p95 durations, the workflows and steps
/// that fail most, dead letters, the trend) from the executor. Each answers
/// for its own data; hours older than a few minutes are read from hourly
/// rollups, so the cost follows the range's length, not the number of rows.
#[utoipa::path(get, path = "/api/v1/analytics/overview", operation_id = "getAnalyticsOverview", tag = "analytics",
    params(OverviewQuery),
    responses(
        (status = 200, description = "the figures", body = Overview),
        (status = 401, description = "no or bad token"),
        (status = 404, description = "`chatbot_id` is not one of the caller's chatbots"),
        (status = 422, description = "a malformed parameter, `from` not before `to`, a range over 366 days, or over 1000 buckets"),
        (status = 503, description = "chat or the executor is unavailable")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user_id = %user.id))]
pub async fn overview(
    user: AuthUser,
    query: web::Query<OverviewQuery>,
    upstreams: web::Data<AnalyticsUpstreams>,
) -> Result<HttpResponse, ApiError> {
    let range = range_of(&query, Utc::now())?;
    let slice = SliceQuery {
        owner_id: user.id,
        chatbot_id: query.chatbot_id,
        from: range.from,
        to: range.to,
        bucket: range.bucket,
    };
    // Both slices at once; chat's answer decides first, so a chatbot that is not
    // the caller's is 404 whatever the executor's slice answered (with try_join
    // the first error to arrive won: 404 or 500 by timing).
    let (conversations, executions) = tokio::join!(
        upstreams.slice::<ConversationFigures>(
            &upstreams.chat,
            "/internal/analytics/conversations",
            &slice
        ),
        upstreams.slice::<ExecutionFigures>(
            &upstreams.executor,
            "/internal/analytics/executions",
            &slice
        ),
    );
    let (conversations, executions) = (conversations?, executions?);
    Ok(HttpResponse::Ok().json(Overview {
        chatbot_id: query.chatbot_id,
        from: range.from,
        to: range.to,
        bucket: range.bucket,
        conversations,
        executions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: Option<&str>, to: Option<&str>, bucket: Option<Bucket>) -> OverviewQuery {
        OverviewQuery {
            chatbot_id: None,
            from: from.map(|s| s.parse().unwrap()),
            to: to.map(|s| s.parse().unwrap()),
            bucket,
        }
    }

    #[test]
    fn without_a_range_the_last_30_days_by_day() {
        let now: DateTime<Utc> = "2026-12-03T18:30:00Z".parse().unwrap();
        let range = range_of(&query(None, None, None), now).unwrap();
        assert_eq!(
            range.to,
            "2026-12-03T19:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            range.from,
            "2026-11-03T18:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(range.bucket, Bucket::Day);
    }
}
