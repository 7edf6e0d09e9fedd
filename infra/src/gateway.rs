//! The local stand-in for API Gateway's CORS handling, in front of `cargo lambda watch`.
//!
//! Deployed, the HTTP API's `CorsConfiguration` (template.yaml) answers every preflight itself,
//! whatever the path and even without an `OPTIONS` route, and replaces the CORS headers of every
//! integration response with its own. `cargo lambda watch` routes only the methods of its router
//! (an `OPTIONS` preflight is a 404 there, so no browser on another origin could call the local
//! API), and its own CORS mode allows any origin. So the stack listens on the API port here,
//! answers preflights from the template's configuration, forwards everything else to the
//! watcher, and sets the CORS headers of the answer from the same configuration: what a browser
//! sees locally is what it will see deployed.

use crate::localenv::{self, Context, Resolved};
use crate::template::Template;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_yaml::Value;
use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

#[derive(Debug)]
pub struct GatewayError(String);

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GatewayError {}

/// API Gateway's payload limit for an HTTP API request (10 MB).
const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// The HTTP API's `CorsConfiguration`, origins resolved like the functions' environment.
/// Serializable so the browser test can hand it to its script.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

impl Cors {
    /// The `CorsConfiguration` of the template's `AWS::Serverless::HttpApi` (`None`: the API has
    /// no CORS, and responses pass through untouched, as deployed).
    pub fn from_template(text: &str, template: &Template, ctx: &Context) -> Result<Option<Self>, GatewayError> {
        let doc: Value =
            serde_yaml::from_str(text).map_err(|e| GatewayError(format!("template.yaml is not YAML: {e}")))?;
        let Some(Value::Mapping(resources)) = doc.get("Resources") else {
            return Err(GatewayError("template.yaml has no Resources".into()));
        };
        let Some(config) = resources
            .values()
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi"))
            .find_map(|r| r.get("Properties").and_then(|p| p.get("CorsConfiguration")))
        else {
            return Ok(None);
        };
        let list = |key: &str| -> Result<Vec<String>, GatewayError> {
            match config.get(key) {
                None => Ok(Vec::new()),
                Some(value) => match localenv::resolve(template, ctx, value)
                    .map_err(|e| GatewayError(format!("CorsConfiguration.{key}: {e}")))?
                {
                    Resolved::Str(one) => Ok(one.split(',').map(|s| s.trim().to_string()).collect()),
                    Resolved::List(many) => Ok(many),
                    Resolved::NoValue => Ok(Vec::new()),
                },
            }
        };
        Ok(Some(Self {
            allow_origins: list("AllowOrigins")?.into_iter().filter(|o| !o.is_empty()).collect(),
            allow_methods: list("AllowMethods")?,
            allow_headers: list("AllowHeaders")?,
            expose_headers: list("ExposeHeaders")?,
            max_age: config.get("MaxAge").and_then(Value::as_u64),
            allow_credentials: config.get("AllowCredentials").and_then(Value::as_bool).unwrap_or(false),
        }))
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`, if it is allowed.
    fn allow_origin(&self, origin: Option<&str>) -> Option<String> {
        let origin = origin?;
        if self.allow_origins.iter().any(|allowed| allowed == origin) {
            Some(origin.to_string())
        } else if self.allow_origins.iter().any(|allowed| allowed == "*") {
            Some("*".to_string())
        } else {
            None
        }
    }

    /// API Gateway's answer to a preflight: 204, with the configured lists when the origin is
    /// allowed, and no CORS header at all otherwise (the browser then refuses the call).
    pub fn preflight(&self, origin: Option<&str>) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        if let Some(allowed) = self.allow_origin(origin) {
            let headers = response.headers_mut();
            set(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, &allowed);
            set(headers, header::ACCESS_CONTROL_ALLOW_METHODS, &self.allow_methods.join(","));
            if !self.allow_headers.is_empty() {
                set(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, &self.allow_headers.join(","));
            }
            if let Some(age) = self.max_age {
                set(headers, header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
            }
            if self.allow_credentials {
                set(headers, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
            }
        }
        response
    }

    /// Replaces the integration's CORS headers with the configured ones.
    pub fn apply(&self, headers: &mut HeaderMap, origin: Option<&str>) {
        let theirs: Vec<HeaderName> =
            headers.keys().filter(|name| name.as_str().starts_with("access-control-")).cloned().collect();
        for name in theirs {
            headers.remove(name);
        }
        if let Some(allowed) = self.allow_origin(origin) {
            set(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, &allowed);
            if !self.expose_headers.is_empty() {
                set(headers, header::ACCESS_CONTROL_EXPOSE_HEADERS, &self.expose_headers.join(","));
            }
            if self.allow_credentials {
                set(headers, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
            }
        }
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// A preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`. Any other `OPTIONS`
/// goes to the routes, as deployed.
fn is_preflight(request: &Request<Incoming>) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Connection-level headers, never forwarded by a proxy (RFC 9110 §7.6.1), and the length,
/// which is recomputed for the body actually sent.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

struct Gateway {
    upstream: String,
    cors: Option<Cors>,
    client: reqwest::Client,
}

/// Serves the API port: preflights answered here, every other request forwarded to `upstream`
/// (`http://127.0.0.1:<watch port>`). Runs until the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, upstream: String, cors: Option<Cors>) -> std::io::Error {
    let client = match reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build() {
        Ok(client) => client,
        Err(e) => return std::io::Error::other(format!("cannot build the gateway's HTTP client: {e}")),
    };
    let gateway = Arc::new(Gateway { upstream, cors, client });
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => return e,
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, Infallible>(gateway.handle(request).await) }
            });
            // A client that hangs up mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Gateway {
    async fn handle(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(cors) = &self.cors
            && is_preflight(&request)
        {
            return cors.preflight(origin.as_deref());
        }
        let mut response = self.forward(request).await;
        if let Some(cors) = &self.cors {
            cors.apply(response.headers_mut(), origin.as_deref());
        }
        response
    }

    async fn forward(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, r#"{"message":"Request Entity Too Large"}"#),
        };
        let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut upstream = self.client.request(parts.method, format!("{}{path}", self.upstream)).body(body);
        for (name, value) in &parts.headers {
            if !is_hop_by_hop(name) {
                upstream = upstream.header(name, value);
            }
        }
        let answer = match upstream.send().await {
            Ok(answer) => answer,
            Err(e) => {
                eprintln!("gateway: {} unreachable: {e}", self.upstream);
                return plain(StatusCode::BAD_GATEWAY, r#"{"message":"Internal Server Error"}"#);
            }
        };
        let status = answer.status();
        let mut headers = HeaderMap::new();
        for (name, value) in answer.headers() {
            if !is_hop_by_hop(name) {
                headers.append(name, value.clone());
            }
        }
        let body = match answer.bytes().await {
            Ok(body) => body,
            Err(e) => {
                eprintln!("gateway: reading the answer from {}: {e}", self.upstream);
                return plain(StatusCode::BAD_GATEWAY, r#"{"message":"Internal Server Error"}"#);
            }
        };
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// API Gateway's own error answers are small JSON messages.
fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn template_cors() -> Cors {
        let root = crate::workspace_root();
        let text = std::fs::read_to_string(root.join(crate::template::TEMPLATE_FILE)).unwrap();
        let template = Template::parse(&text).unwrap();
        let ctx = Context {
            parameters: [("CorsAllowedOrigins".to_string(), "http://localhost:5173,http://app.test".to_string())]
                .into(),
            ..Context::default()
        };
        Cors::from_template(&text, &template, &ctx).unwrap().unwrap()
    }

    #[test]
    fn the_cors_configuration_is_read_from_the_templates_http_api_with_its_origins_resolved() {
        let cors = template_cors();
        assert_eq!(cors.allow_origins, ["http://localhost:5173", "http://app.test"]);
        assert!(cors.allow_methods.iter().any(|m| m == "PATCH"));
        assert!(cors.allow_headers.iter().any(|h| h == "authorization"));
        assert!(cors.expose_headers.iter().any(|h| h == "x-request-id"));
        assert!(cors.max_age.is_some());
    }

    #[test]
    fn a_preflight_from_an_allowed_origin_gets_the_configured_lists_and_another_origin_gets_none() {
        let cors = template_cors();
        let allowed = cors.preflight(Some("http://app.test"));
        assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
        assert_eq!(allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://app.test");
        assert_eq!(allowed.headers()[header::ACCESS_CONTROL_ALLOW_METHODS], cors.allow_methods.join(",").as_str());
        let refused = cors.preflight(Some("http://evil.test"));
        assert!(refused.headers().keys().all(|name| !name.as_str().starts_with("access-control-")));
    }

    #[test]
    fn the_integrations_own_cors_headers_are_replaced_by_the_configured_ones() {
        let cors = template_cors();
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("everything"));
        cors.apply(&mut headers, Some("http://evil.test"));
        assert!(headers.is_empty(), "{headers:?}");
        cors.apply(&mut headers, Some("http://localhost:5173"));
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        assert_eq!(headers[header::ACCESS_CONTROL_EXPOSE_HEADERS], cors.expose_headers.join(",").as_str());
    }
}
