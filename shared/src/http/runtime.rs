use super::cors;
use super::problem::problem_response;
use super::reply::Reply;
use super::request::ApiRequest;
use crate::audit::AuditWriter;
use crate::audit::access::{self, Caller, RequestFacts};
use crate::auth::{Authenticator, Tenant};
use crate::config::{AuthConfig, Env, HttpConfig, StoreConfig};
use crate::error::{AppError, AppResult};
use crate::store::Store;
use crate::telemetry;
use http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response, service_fn};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// What a business function builds once per container and shares across invocations.
pub struct Services {
    pub http: HttpConfig,
    pub auth: Authenticator,
    pub store: Store,
    /// Appends access records (`HUB_AUDIT_TABLE`): every read of personal data and every
    /// denied attempt leaves one (see [`crate::audit::access`]).
    pub audit: AuditWriter,
}

impl Services {
    /// From the environment (see [`crate::aws`]). No network call and no file read happens here:
    /// signing keys and TLS roots are loaded on first use.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let env = Env::from_process();
        let http = HttpConfig::from_env(&env)?;
        let auth = Authenticator::new(AuthConfig::from_env(&env)?)?;
        let store_config = StoreConfig::from_env(&env)?;
        let sdk = crate::aws::sdk_config()?;
        // Required: a business function that could not record accesses must not start at all.
        let audit_table = env.required("HUB_AUDIT_TABLE")?.to_string();
        let client = crate::aws::dynamodb(&sdk);
        let audit = AuditWriter::new(client.clone(), audit_table);
        let store = Store::new(client, &store_config);
        Ok(Self { http, auth, store, audit })
    }
}

/// Runs a business function: every request is authenticated and scoped to the caller's
/// organization before `handler` sees it.
///
/// Every binary runs it on a `current_thread` tokio runtime: an execution environment serves one
/// request at a time with a fraction of a vCPU (7% at 128 MB), so worker threads bring nothing
/// but their start and their wakeups (87k instructions of init, 24k per warm GET; BENCHMARKS.md).
pub async fn run_business<F, Fut>(function: &'static str, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(Arc<Services>, Tenant, ApiRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = AppResult<Reply>> + Send + 'static,
{
    telemetry::init(function);
    let services = Arc::new(Services::from_env().await?);
    let handler = Arc::new(handler);
    lambda_http::run(service_fn(move |event: Request| {
        let services = Arc::clone(&services);
        let handler = Arc::clone(&handler);
        async move { Ok::<_, std::convert::Infallible>(handle(&services, function, handler.as_ref(), event).await) }
    }))
    .await
}

/// Runs a function that needs no caller (health).
pub async fn run_public<F, Fut>(function: &'static str, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(ApiRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = AppResult<Reply>> + Send + 'static,
{
    telemetry::init(function);
    let http = Arc::new(HttpConfig::from_env(&Env::from_process())?);
    let handler = Arc::new(handler);
    lambda_http::run(service_fn(move |event: Request| {
        let http = Arc::clone(&http);
        let handler = Arc::clone(&handler);
        async move { Ok::<_, std::convert::Infallible>(handle_public(&http, function, handler.as_ref(), event).await) }
    }))
    .await
}

/// One invocation of a business function. Public so tests can drive a function with real
/// API Gateway events without a runtime.
pub async fn handle<F, Fut>(
    services: &Arc<Services>,
    function: &'static str,
    handler: &F,
    event: Request,
) -> Response<Body>
where
    F: Fn(Arc<Services>, Tenant, ApiRequest) -> Fut + ?Sized,
    Fut: Future<Output = AppResult<Reply>>,
{
    let request = ApiRequest::from_event(event, services.http.max_body_bytes);
    let span = telemetry::request_span(function, &request.request_id);
    async {
        let started = Instant::now();
        let origin = cors::allowed_origin(&request.headers, &services.http.cors_allowed_origins).cloned();
        if request.method == Method::OPTIONS {
            return preflight(origin.as_ref());
        }
        let request_id = request.request_id.clone();
        let facts = facts_of(&request);
        let header = request.header("authorization").map(str::to_owned);
        let (result, caller) = match services.auth.authenticate(header.as_deref()).await.map_err(AppError::from) {
            Err(err) => (Err(err), Caller::ANONYMOUS),
            Ok(user) => {
                tracing::Span::current().record("user_id", tracing::field::display(user.user_id));
                let mut caller = Caller { user: Some(user.user_id.as_uuid()), org: None };
                match Tenant::new(user) {
                    Err(err) => (Err(err), caller),
                    Ok(tenant) => {
                        tracing::Span::current().record("org_id", tracing::field::display(tenant.org));
                        caller.org = Some(tenant.org.as_uuid());
                        (handler(Arc::clone(services), tenant, request).await, caller)
                    }
                }
            }
        };
        let result = audited(services, caller, &facts, result).await;
        finish(result, &request_id, origin.as_ref(), started)
    }
    .instrument(span)
    .await
}

/// What the audit trail keeps of a request.
fn facts_of(request: &ApiRequest) -> RequestFacts {
    RequestFacts {
        method: request.method.clone(),
        path: request.path.clone(),
        id: request.path_params.get("id").and_then(|raw| uuid::Uuid::parse_str(raw).ok()),
        request_id: request.request_id.clone(),
        source_ip: request.source_ip.clone(),
        user_agent: request.user_agent.clone(),
    }
}

/// Records `access` now, before the handler does what it describes, for an action that cannot
/// be called back once started (an export or an import queued): the adapter records a
/// `Reply::with_access` only once the handler is done, and an action already under way would
/// then run without its record when the audit table is unreachable. Here that is a 503 and the
/// handler stops. `status` is the answer the handler is about to give.
pub async fn record_access_first(
    services: &Services,
    tenant: &Tenant,
    request: &ApiRequest,
    access: &crate::audit::Access,
    status: StatusCode,
) -> AppResult<()> {
    let org = tenant.org.as_uuid();
    let caller = Caller { user: Some(tenant.user.user_id.as_uuid()), org: Some(org) };
    access::record_success(&services.audit, org, caller, &facts_of(request), access, status.as_u16()).await
}

/// The audit side of an answer: a reply that serves personal data is recorded first (and
/// becomes a 503 when it cannot be: no access without a trail); a denied attempt is recorded
/// without changing the answer, and so is each one a reply reports (a batch's refused
/// operations). One `PutItem` per record, and none for other answers.
async fn audited(
    services: &Services,
    caller: Caller,
    facts: &RequestFacts,
    result: AppResult<Reply>,
) -> AppResult<Reply> {
    match result {
        Ok(reply) => {
            for denied in &reply.denied {
                let facts = RequestFacts {
                    method: denied.method.clone(),
                    path: denied.path.clone(),
                    id: denied.id,
                    ..facts.clone()
                };
                access::record_denied(&services.audit, caller, &facts, &denied.error).await;
            }
            match (&reply.access, caller.org) {
                (Some(served), Some(org)) => {
                    access::record_success(&services.audit, org, caller, facts, served, reply.status.as_u16()).await?;
                    Ok(reply)
                }
                _ => Ok(reply),
            }
        }
        Err(err) => {
            access::record_denied(&services.audit, caller, facts, &err).await;
            Err(err)
        }
    }
}

/// One invocation of a public function.
pub async fn handle_public<F, Fut>(
    http: &HttpConfig,
    function: &'static str,
    handler: &F,
    event: Request,
) -> Response<Body>
where
    F: Fn(ApiRequest) -> Fut + ?Sized,
    Fut: Future<Output = AppResult<Reply>>,
{
    let request = ApiRequest::from_event(event, http.max_body_bytes);
    let span = telemetry::request_span(function, &request.request_id);
    async {
        let started = Instant::now();
        let origin = cors::allowed_origin(&request.headers, &http.cors_allowed_origins).cloned();
        if request.method == Method::OPTIONS {
            return preflight(origin.as_ref());
        }
        let request_id = request.request_id.clone();
        let result = handler(request).await;
        finish(result, &request_id, origin.as_ref(), started)
    }
    .instrument(span)
    .await
}

fn preflight(origin: Option<&HeaderValue>) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    cors::apply_preflight(response.headers_mut(), origin);
    response
}

fn finish(
    result: AppResult<Reply>,
    request_id: &str,
    origin: Option<&HeaderValue>,
    started: Instant,
) -> Response<Body> {
    let (status, body, content_type, headers) = match result {
        Ok(Reply { status, text: Some((text, content_type)), headers, .. }) => {
            (status, Some(Body::Text(text)), content_type, headers)
        }
        Ok(reply) => (reply.status, reply.body.map(|v| Body::Text(v.to_string())), "application/json", reply.headers),
        Err(err) => {
            let (status, body) = problem_response(&err, request_id);
            let mut headers = Vec::new();
            if let AppError::MethodNotAllowed { allow } = &err
                && let Ok(value) = HeaderValue::from_str(allow)
            {
                headers.push((http::header::ALLOW, value));
            }
            (status, Some(Body::Text(body.to_string())), "application/problem+json", headers)
        }
    };
    tracing::info!(status = status.as_u16(), latency_ms = started.elapsed().as_millis() as u64, "request done");
    let mut response = Response::new(body.unwrap_or(Body::Empty));
    *response.status_mut() = status;
    if !matches!(response.body(), Body::Empty) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    let response_headers_mut = response.headers_mut();
    for (name, value) in headers {
        response_headers_mut.insert(name, value);
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response_headers_mut.insert("x-request-id", id);
    }
    response_headers_mut.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        // RFC 6750: tell the client which scheme to use.
        response_headers_mut.insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"hub\""));
    }
    cors::apply(response_headers_mut, origin);
    response
}
