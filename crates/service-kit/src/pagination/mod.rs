//! `limit` and `offset` of every list route: one extractor, one set of
//! bounds, one 422 body, so no route can pass an unchecked number to SQL.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde_json::json;
use utoipa::IntoParams;

use crate::ApiError;

mod page;

pub use page::{DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};

/// Queries every list route answers 422 (with the field at fault in
/// `details.path`): the examples the tests of each route send.
pub const REFUSED_QUERIES: &[(&str, &str)] = &[
    ("offset=9223372036854775808", "offset"),
    ("offset=18446744073709551616", "offset"),
    ("offset=1000001", "offset"),
    ("offset=-1", "offset"),
    ("limit=0", "limit"),
    ("limit=201", "limit"),
    ("limit=1000", "limit"),
    ("limit=-1", "limit"),
    ("limit=abc", "limit"),
];

/// A page of a list, read from the query string (`?limit=&offset=`). Any
/// other query parameter is left to the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub limit: u64,
    pub offset: u64,
}

/// How the OpenAPI document shows [`Pagination`]; put it in a route's
/// `params(...)` next to the route's own filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PaginationParams {
    /// Items per page.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u64>,
    /// Items to skip.
    #[param(minimum = 0, maximum = 1000000, default = 0)]
    offset: Option<u64>,
}

impl Default for Pagination {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

impl Pagination {
    /// Reads `limit` and `offset` from a raw query string; a value that is
    /// not a whole number in range, or is given twice, is a 422 naming it.
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let (limit, offset) = page::limit_and_offset(query).map_err(|fault| match fault.field {
            Some(field) => ApiError::validation(
                format!("{field}: {}", fault.message),
                json!({"path": field, "message": fault.message}),
            ),
            None => ApiError::validation(fault.message, json!({})),
        })?;
        Ok(Self { limit, offset })
    }
}

impl FromRequest for Pagination {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::from_query(req.query_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as atest;
    use actix_web::{App, HttpResponse, http::StatusCode, web};

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(Pagination::from_query("").unwrap(), Pagination::default());
        let page = Pagination::from_query("q=x&limit=200&offset=1000000").unwrap();
        assert_eq!((page.limit, page.offset), (200, 1_000_000));
        assert_eq!(Pagination::from_query("limit=1").unwrap().limit, 1);
    }

    #[test]
    fn out_of_range_malformed_or_repeated_values_name_their_field() {
        let more = [
            ("offset=", "offset"),
            ("limit=1.5", "limit"),
            ("limit=1&limit=2", "limit"),
        ];
        for &(query, field) in REFUSED_QUERIES.iter().chain(more.iter()) {
            let err = Pagination::from_query(query).unwrap_err();
            let body = err.body();
            assert_eq!(body["error"]["code"], "VALIDATION_ERROR", "{query}");
            assert_eq!(body["error"]["details"]["path"], field, "{query}");
        }
    }

    #[actix_web::test]
    async fn as_an_extractor_it_answers_422_before_the_handler_runs() {
        let app = atest::init_service(App::new().route(
            "/",
            web::get().to(|page: Pagination| async move {
                HttpResponse::Ok().body(format!("{} {}", page.limit, page.offset))
            }),
        ))
        .await;
        let res = atest::call_service(
            &app,
            atest::TestRequest::get()
                .uri("/?offset=9223372036854775808")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: serde_json::Value = atest::read_body_json(res).await;
        assert_eq!(body["error"]["details"]["path"], "offset");
        let res = atest::call_service(
            &app,
            atest::TestRequest::get().uri("/?limit=7").to_request(),
        )
        .await;
        assert_eq!(atest::read_body(res).await, "7 0");
    }
}
