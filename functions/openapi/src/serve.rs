//! The two public functions: `openapi-json` serves the document, `docs` the docs page. Both run
//! through the shared public adapter (request id, CORS, problems), then get the caching their
//! content allows, which the adapter's API-wide `no-store` would otherwise forbid.

use crate::docs;
use http::HeaderValue;
use hub_shared::AppResult;
use hub_shared::config::{Env, HttpConfig};
use hub_shared::http::{ApiRequest, Reply, handle_public};
use lambda_http::{Body, Request, Response, service_fn};
use std::sync::{Arc, OnceLock};

/// The document, generated once per container (a few milliseconds, on the first request).
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| crate::document().to_pretty())
}

/// The handler of `GET /api/openapi.json`.
pub async fn openapi_json(_request: ApiRequest) -> AppResult<Reply> {
    Ok(docs::with_security_headers(Reply::text(document_text().to_string(), "application/json")))
}

/// One invocation of `function` (`openapi-json` or `docs`); `None` for another name.
pub async fn respond(http: &HttpConfig, function: &'static str, event: Request) -> Option<Response<Body>> {
    let mut response = match function {
        "openapi-json" => handle_public(http, function, &openapi_json, event).await,
        "docs" => handle_public(http, function, &docs::docs, event).await,
        _ => return None,
    };
    if response.status().is_success() {
        let versioned_asset = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|t| t.to_str().is_ok_and(|t| t.starts_with("text/javascript") || t.starts_with("text/css")));
        // Assets are linked with a content hash (`?v=`): cached for good. The page and the
        // document change with each deployment: revalidated on every use.
        let policy = if versioned_asset { "public, max-age=31536000, immutable" } else { "no-cache" };
        response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    Some(response)
}

/// The `main` of both binaries.
pub async fn run(function: &'static str) -> Result<(), lambda_http::Error> {
    hub_shared::telemetry::init(function);
    let http = Arc::new(HttpConfig::from_env(&Env::from_process())?);
    lambda_http::run(service_fn(move |event: Request| {
        let http = Arc::clone(&http);
        async move {
            match respond(&http, function, event).await {
                Some(response) => Ok(response),
                None => Err(lambda_http::Error::from(format!("{function} is not a function of hub-openapi"))),
            }
        }
    }))
    .await
}
