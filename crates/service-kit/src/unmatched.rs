//! What a request that matched no route gets: `405` with an `Allow` header
//! when its path is one of the service's documented paths (so the method is
//! what is wrong), else `404`. The documented paths come from the service's
//! own OpenAPI document, so a new route is covered without touching this.

use actix_web::error::{InternalError, PathError};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorCode};

/// The methods an OpenAPI path item may declare, in the order `Allow` lists them.
const DOCUMENTED_METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: any one non-empty segment.
    Parameter,
}

/// The documented path templates of one service (or of the gateway's own
/// routes) and the methods each declares.
#[derive(Debug, Clone, Default)]
pub struct DocumentedPaths {
    templates: Vec<(Vec<Segment>, Vec<Method>)>,
}

impl DocumentedPaths {
    /// Reads the `paths` of an OpenAPI document (as JSON).
    pub fn from_openapi_json(doc: &Value) -> Self {
        let mut templates = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (template, item) in paths {
                let methods: Vec<Method> = DOCUMENTED_METHODS
                    .iter()
                    .filter(|m| item.get(m.as_str().to_ascii_lowercase()).is_some())
                    .cloned()
                    .collect();
                if !methods.is_empty() {
                    templates.push((parse_template(template), methods));
                }
            }
        }
        Self { templates }
    }

    /// Reads the `paths` of a utoipa document.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> Self {
        Self::from_openapi_json(&serde_json::to_value(doc).unwrap_or(Value::Null))
    }

    /// The methods documented for `path`, if some template matches it. Where
    /// several match, the most literal ones win (`/a/replay` over `/a/{id}`),
    /// as they do in routing; templates equally literal join their methods.
    pub fn methods_for(&self, path: &str) -> Option<Vec<Method>> {
        let segments: Vec<&str> = split(path).collect();
        let mut best: Option<(usize, Vec<Method>)> = None;
        for (template, methods) in &self.templates {
            if !matches(template, &segments) {
                continue;
            }
            let literals = template
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            match &mut best {
                Some((most, _)) if literals < *most => {}
                Some((most, all)) if literals == *most => {
                    for m in methods {
                        if !all.contains(m) {
                            all.push(m.clone());
                        }
                    }
                }
                _ => best = Some((literals, methods.clone())),
            }
        }
        best.map(|(_, mut all)| {
            all.sort_by_key(|m| DOCUMENTED_METHODS.iter().position(|d| d == m));
            all
        })
    }

    /// The `405` for `method` on `path` when the path is documented and the
    /// method is not among its methods; `None` otherwise.
    pub fn method_not_allowed(&self, method: &Method, path: &str) -> Option<HttpResponse> {
        let allowed = self.methods_for(path)?;
        if allowed.contains(method) {
            return None;
        }
        let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        let body = ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!("{path} does not answer {method}"),
        )
        .with_details(json!({"allowed": names}))
        .body();
        Some(
            HttpResponse::build(StatusCode::METHOD_NOT_ALLOWED)
                .insert_header((header::ALLOW, names.join(", ")))
                .json(body),
        )
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn parse_template(template: &str) -> Vec<Segment> {
    split(template)
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Segment::Parameter
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect()
}

fn matches(template: &[Segment], segments: &[&str]) -> bool {
    template.len() == segments.len()
        && template.iter().zip(segments).all(|(t, s)| match t {
            Segment::Literal(l) => l == s,
            Segment::Parameter => true,
        })
}

/// The path extractor's error handler of every service's app: a path that
/// names no resource is 404, except where the request only reached a
/// `{id}` route because a more literal documented path with other methods
/// (`GET /dead-letters/replay`, which is POST only) was not routed: 405.
pub fn path_error(err: PathError, req: &HttpRequest) -> actix_web::Error {
    if let Some(response) = not_allowed(req) {
        return InternalError::from_response(err, response).into();
    }
    crate::error::path_error_handler(err, req)
}

/// The 405 for `req` from the app's [`DocumentedPaths`], if it has them.
fn not_allowed(req: &HttpRequest) -> Option<HttpResponse> {
    req.app_data::<web::Data<DocumentedPaths>>()
        .and_then(|d| d.method_not_allowed(req.method(), req.path()))
}

/// The default service of every service's app: 405 for a documented path
/// with another method, else the JSON 404. Needs [`DocumentedPaths`] as app data
/// (without it, every unmatched request is a 404).
pub async fn unmatched(req: HttpRequest) -> HttpResponse {
    not_allowed(&req)
        .unwrap_or_else(|| ApiError::new(ErrorCode::NotFound, "no such route").error_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> DocumentedPaths {
        DocumentedPaths::from_openapi_json(&json!({"paths": {
            "/api/v1/templates": {"get": {}},
            "/api/v1/workflows": {"get": {}, "post": {}},
            "/api/v1/workflows/{id}": {"get": {}, "put": {}, "delete": {}, "parameters": []},
            "/api/v1/workflows/{id}/execute": {"post": {}},
            "/api/v1/dead-letters/{id}": {"get": {}},
            "/api/v1/dead-letters/replay": {"post": {}},
        }}))
    }

    #[test]
    fn a_documented_path_with_another_method_is_405_with_allow() {
        let d = doc();
        let r = d
            .method_not_allowed(&Method::DELETE, "/api/v1/templates")
            .expect("405");
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers().get(header::ALLOW).unwrap(), "GET");
        let r = d
            .method_not_allowed(&Method::PATCH, "/api/v1/workflows/abc")
            .expect("405");
        assert_eq!(r.headers().get(header::ALLOW).unwrap(), "GET, PUT, DELETE");
    }

    #[test]
    fn a_documented_method_or_an_unknown_path_is_not_405() {
        let d = doc();
        assert!(
            d.method_not_allowed(&Method::GET, "/api/v1/templates")
                .is_none()
        );
        assert!(
            d.method_not_allowed(&Method::POST, "/api/v1/workflows/x/execute")
                .is_none()
        );
        assert!(
            d.method_not_allowed(&Method::GET, "/api/v1/nothing")
                .is_none()
        );
        assert!(
            d.method_not_allowed(&Method::GET, "/api/v1/workflows/a/b/c")
                .is_none()
        );
        // The literal path wins over the template that also matches it.
        assert_eq!(
            d.methods_for("/api/v1/dead-letters/replay").unwrap(),
            vec![Method::POST]
        );
        assert_eq!(
            d.methods_for("/api/v1/dead-letters/abc").unwrap(),
            vec![Method::GET]
        );
        // `parameters` is not a method.
        assert_eq!(
            d.methods_for("/api/v1/workflows/x").unwrap(),
            vec![Method::GET, Method::PUT, Method::DELETE]
        );
    }
}
