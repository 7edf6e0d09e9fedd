//! The local stand-in for API Gateway's HTTP API, in front of `cargo lambda watch`.
//!
//! Deployed, the HTTP API routes each request by template.yaml's routes, hands the function a
//! payload 2.0 event (a body that is not text, or not UTF-8, base64-encoded), turns its answer
//! into the response, answers `404 {"message":"Not Found"}` for a request no route takes, and
//! applies the `CorsConfiguration`: it answers every preflight itself, whatever the path, and
//! replaces the CORS headers of every integration response with its own. The stack listens on the
//! API port here and does all of that (see [`crate::apigw`]), invoking each function through the
//! watcher's Lambda invoke endpoint, which builds and restarts the binaries: what a client sees
//! locally is what it will see deployed.

use crate::apigw::{self, Answer, Routes};
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
    /// The watcher's invoke endpoint's base, `http://127.0.0.1:<watch port>`.
    upstream: String,
    routes: Routes,
    cors: Option<Cors>,
    client: reqwest::Client,
}

/// Serves the API port: preflights answered here, every other request routed by `routes` and
/// its function invoked through `upstream` (`http://127.0.0.1:<watch port>`). Runs until the
/// listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    upstream: String,
    routes: Routes,
    cors: Option<Cors>,
) -> std::io::Error {
    let client = match reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build() {
        Ok(client) => client,
        Err(e) => return std::io::Error::other(format!("cannot build the gateway's HTTP client: {e}")),
    };
    let gateway = Arc::new(Gateway { upstream, routes, cors, client });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => return e,
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, Infallible>(gateway.handle(request, peer.ip().to_string()).await) }
            });
            // A client that hangs up mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Gateway {
    async fn handle(&self, request: Request<Incoming>, source_ip: String) -> Response<Full<Bytes>> {
        let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(cors) = &self.cors
            && is_preflight(&request)
        {
            return cors.preflight(origin.as_deref());
        }
        let mut response = self.invoke(request, &source_ip).await;
        if let Some(cors) = &self.cors {
            cors.apply(response.headers_mut(), origin.as_deref());
        }
        response
    }

    async fn invoke(&self, request: Request<Incoming>, source_ip: &str) -> Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return to_response(Answer::message(413, "Request Entity Too Large")),
        };
        let path = parts.uri.path();
        let Some((route, params)) = self.routes.find(parts.method.as_str(), path) else {
            return to_response(Answer::message(404, "Not Found"));
        };
        let incoming = apigw::Incoming {
            method: parts.method.as_str(),
            path,
            query: parts.uri.query().unwrap_or(""),
            headers: parts
                .headers
                .iter()
                .filter(|(name, _)| !is_hop_by_hop(name) || *name == header::HOST)
                .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
                .collect(),
            body: &body,
            source_ip,
        };
        let event = apigw::event(route, &params, &incoming, chrono::Utc::now().timestamp_millis());
        let url = format!("{}/2015-03-31/functions/{}/invocations", self.upstream, route.binary);
        let answer = match self.client.post(&url).body(event.to_string()).send().await {
            Ok(answer) if answer.status().is_success() => match answer.bytes().await {
                Ok(payload) => Answer::from_payload(&payload),
                Err(e) => {
                    eprintln!("gateway: reading {}'s answer: {e}", route.binary);
                    Answer::message(500, "Internal Server Error")
                }
            },
            // The function failed (a panic, an event it could not read): API Gateway's 500.
            Ok(failed) => {
                eprintln!("gateway: {} failed: {}", route.binary, failed.status());
                Answer::message(500, "Internal Server Error")
            }
            Err(e) => {
                eprintln!("gateway: {} unreachable: {e}", self.upstream);
                Answer::message(503, "Service Unavailable")
            }
        };
        to_response(answer)
    }
}

fn to_response(answer: Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value))
            && !is_hop_by_hop(&name)
        {
            headers.append(name, value);
        }
    }
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
