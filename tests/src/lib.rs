//! The black-box test harness: a real moto server (one per test binary), a freshly provisioned,
//! randomly named table per test, real signed JWTs, and real API Gateway v2 events routed by
//! template.yaml's own route table to the same handlers the Lambda binaries run.

use aws_sdk_dynamodb::Client;
use hub_shared::auth::{Authenticator, Tenant};
use hub_shared::config::{AuthConfig, Env, HttpConfig, StoreConfig};
use hub_shared::http::{ApiRequest, Reply, Services};
use hub_shared::store::Store;
use hub_shared::{AppResult, ops};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

pub mod auth_support;
pub mod records;

pub const ISSUER: &str = "hub-tests";
pub const AUDIENCE: &str = "hub-api";
pub const ALLOWED_ORIGIN: &str = "http://localhost:5173";

/// The workspace root (tests run with the package dir as cwd).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

type Handler = Arc<
    dyn Fn(Arc<Services>, Tenant, ApiRequest) -> Pin<Box<dyn Future<Output = AppResult<Reply>> + Send>> + Send + Sync,
>;

fn boxed<F, Fut>(f: F) -> Handler
where
    F: Fn(Arc<Services>, Tenant, ApiRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = AppResult<Reply>> + Send + 'static,
{
    Arc::new(move |s, t, r| Box::pin(f(s, t, r)))
}

/// Binary name -> the handler its `main` runs. Kept beside the binaries' one-line mains; the
/// template test proves every template route names one of these binaries.
fn handlers() -> HashMap<&'static str, Handler> {
    use hub_contacts::Contact;
    HashMap::from([
        ("contacts-list", boxed(ops::list::<Contact>)),
        ("contacts-create", boxed(ops::create::<Contact>)),
        ("contacts-get", boxed(ops::get::<Contact>)),
        ("contacts-replace", boxed(ops::replace::<Contact>)),
        ("contacts-patch", boxed(ops::patch::<Contact>)),
        ("contacts-delete", boxed(ops::delete::<Contact>)),
        ("contacts-restore", boxed(ops::restore::<Contact>)),
        ("contacts-bulk-delete", boxed(ops::bulk_delete::<Contact>)),
        ("appointments-list", boxed(ops::list::<hub_appointments::Appointment>)),
        ("appointments-create", boxed(ops::create::<hub_appointments::Appointment>)),
        ("appointments-get", boxed(ops::get::<hub_appointments::Appointment>)),
        ("appointments-replace", boxed(ops::replace::<hub_appointments::Appointment>)),
        ("appointments-patch", boxed(ops::patch::<hub_appointments::Appointment>)),
        ("appointments-delete", boxed(ops::delete::<hub_appointments::Appointment>)),
        ("appointments-restore", boxed(ops::restore::<hub_appointments::Appointment>)),
        ("appointments-confirm", boxed(hub_appointments::confirm)),
        ("appointments-cancel", boxed(hub_appointments::cancel)),
        ("transactions-list", boxed(ops::list::<hub_transactions::Transaction>)),
        ("transactions-create", boxed(ops::create::<hub_transactions::Transaction>)),
        ("transactions-get", boxed(ops::get::<hub_transactions::Transaction>)),
        ("transactions-replace", boxed(ops::replace::<hub_transactions::Transaction>)),
        ("transactions-patch", boxed(ops::patch::<hub_transactions::Transaction>)),
        ("transactions-delete", boxed(ops::delete::<hub_transactions::Transaction>)),
        ("transactions-restore", boxed(ops::restore::<hub_transactions::Transaction>)),
        ("transactions-refund", boxed(hub_transactions::refund)),
        ("contacts-batch", boxed(|s, t, r| ops::batch::<Contact>(s, t, r, ops::BATCH_ALL))),
        ("appointments-batch", boxed(|s, t, r| ops::batch::<hub_appointments::Appointment>(s, t, r, ops::BATCH_ALL))),
        ("transactions-batch", boxed(|s, t, r| ops::batch::<hub_transactions::Transaction>(s, t, r, ops::BATCH_ALL))),
        ("documents-batch", boxed(|s, t, r| ops::batch::<hub_documents::Document>(s, t, r, ops::BATCH_UPDATES))),
    ])
}

/// The document functions' handlers: their mains build the S3 context once and close over it.
fn document_handlers(files: &Arc<hub_documents::Files>) -> HashMap<&'static str, Handler> {
    use hub_documents::Document;
    let with_files = |f: fn(Arc<Services>, Tenant, ApiRequest, Arc<hub_documents::Files>) -> DocumentFuture| {
        let files = Arc::clone(files);
        boxed(move |s, t, r| f(s, t, r, Arc::clone(&files)))
    };
    HashMap::from([
        ("documents-list", boxed(ops::list::<Document>)),
        ("documents-create", with_files(|s, t, r, f| Box::pin(hub_documents::create(s, t, r, f)))),
        ("documents-get", boxed(ops::get::<Document>)),
        ("documents-replace", boxed(ops::replace::<Document>)),
        ("documents-patch", boxed(ops::patch::<Document>)),
        ("documents-delete", boxed(ops::delete::<Document>)),
        ("documents-restore", boxed(ops::restore::<Document>)),
        ("documents-complete", with_files(|s, t, r, f| Box::pin(hub_documents::complete(s, t, r, f)))),
        ("documents-download", with_files(|s, t, r, f| Box::pin(hub_documents::download(s, t, r, f)))),
        ("documents-versions-create", with_files(|s, t, r, f| Box::pin(hub_documents::versions_create(s, t, r, f)))),
        ("documents-versions-list", boxed(hub_documents::versions_list)),
        ("documents-approve", boxed(hub_documents::approve)),
    ])
}

type DocumentFuture = Pin<Box<dyn Future<Output = AppResult<Reply>> + Send>>;

/// The audit API and the RGPD export (the export's main builds the S3 context, as documents do).
fn audit_handlers(files: &Arc<hub_documents::Files>) -> HashMap<&'static str, Handler> {
    let files = Arc::clone(files);
    HashMap::from([
        ("audit-logs", boxed(hub_shared::audit::api::logs)),
        ("contacts-history", boxed(hub_shared::audit::api::history::<hub_contacts::Contact>)),
        ("contacts-export", boxed(move |s, t, r| hub_portability::export(s, t, r, Arc::clone(&files)))),
    ])
}

/// Analytics: the records' generic operations, and the summary, whose main builds the analytics
/// table's client once.
fn analytics_handlers(table: &Arc<hub_analytics::AnalyticsTable>) -> HashMap<&'static str, Handler> {
    use hub_analytics::AnalyticsRecord;
    let table = Arc::clone(table);
    HashMap::from([
        ("analytics-records-list", boxed(ops::list::<AnalyticsRecord>)),
        ("analytics-records-create", boxed(ops::create::<AnalyticsRecord>)),
        ("analytics-records-get", boxed(ops::get::<AnalyticsRecord>)),
        ("analytics-records-replace", boxed(ops::replace::<AnalyticsRecord>)),
        ("analytics-records-patch", boxed(ops::patch::<AnalyticsRecord>)),
        ("analytics-records-delete", boxed(ops::delete::<AnalyticsRecord>)),
        ("analytics-records-restore", boxed(ops::restore::<AnalyticsRecord>)),
        ("analytics-summary", boxed(move |s, t, r| hub_analytics::summary(s, t, r, Arc::clone(&table)))),
    ])
}

/// The realtime ticket: its main builds the realtime table's client once. (The WebSocket side
/// runs only in the local stack: tests/tests/realtime.rs.)
fn realtime_handlers(client: &Client, table: &str) -> HashMap<&'static str, Handler> {
    let issuer = Arc::new(hub_realtime::ticket::Issuer {
        table: hub_realtime::RealtimeTable::new(client.clone(), table),
        url: "wss://realtime.example/live".to_string(),
    });
    HashMap::from([("realtime-tickets", boxed(move |_s, t, r| hub_realtime::ticket::issue(Arc::clone(&issuer), t, r)))])
}

/// RGPD erasure: its main builds the audit writer and the S3 client once, as documents do.
async fn privacy_handlers(audit_table: &str, bucket: &str) -> HashMap<&'static str, Handler> {
    let erasure = Arc::new(hub_privacy::Erasure::new(
        hub_shared::audit::AuditWriter::new(dynamodb_client(), audit_table),
        hub_privacy::Objects::new(&moto_sdk_config(), bucket),
    ));
    HashMap::from([("contacts-anonymize", boxed(move |s, t, r| hub_privacy::anonymize(s, t, r, Arc::clone(&erasure))))])
}

/// template.yaml's routes, as API Gateway (and the local gateway) route them.
fn routes() -> &'static hub_infra::apigw::Routes {
    static ROUTES: OnceLock<hub_infra::apigw::Routes> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let template = hub_infra::template::Template::load(workspace_root().join("template.yaml"))
            .unwrap_or_else(|e| panic!("template.yaml: {e}"));
        hub_infra::apigw::Routes::from_template(&template)
    })
}

/// The caller every harness request comes from, as API Gateway reports it.
pub const SOURCE_IP: &str = "203.0.113.7";
pub const USER_AGENT: &str = "hub-tests/1.0";

/// The payload 2.0 event API Gateway sends the function `path_and_query` routes to (the
/// `$default` route's `fallback` when no other does): the gateway's own event builder
/// (`hub_infra::apigw`), from [`SOURCE_IP`] with [`USER_AGENT`] unless the headers say otherwise.
pub fn event(method: &str, path_and_query: &str, headers: &[(String, Vec<u8>)], body: &[u8]) -> (String, Value) {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let (route, params) = routes().find(method, path).unwrap_or_else(|| panic!("no route for {method} {path}"));
    let mut headers = headers.to_vec();
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("user-agent")) {
        headers.push(("user-agent".into(), USER_AGENT.as_bytes().to_vec()));
    }
    let incoming = hub_infra::apigw::Incoming { method, path, query, headers, body, source_ip: SOURCE_IP };
    (route.binary.clone(), hub_infra::apigw::event(route, &params, &incoming, chrono::Utc::now().timestamp_millis()))
}

struct Moto {
    endpoint: String,
    // Kept alive for the whole test binary.
    _server: hub_infra::moto::MotoServer,
}

fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let server = hub_infra::moto::MotoServer::start().unwrap_or_else(|e| panic!("moto: {e}"));
        Moto { endpoint: server.endpoint().to_string(), _server: server }
    })
}

/// The emulator's endpoint (S3 presigned URLs point at it).
pub fn moto_endpoint() -> &'static str {
    &moto().endpoint
}

/// An SDK configuration for the emulator, built by the functions' own `sdk_config_from`
/// (not `aws-config`, which no function links) from the environment a function gets locally.
pub fn moto_sdk_config() -> aws_types::SdkConfig {
    let env = Env::from_pairs([
        ("AWS_ENDPOINT_URL", moto().endpoint.as_str()),
        ("AWS_REGION", "eu-west-3"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]);
    hub_shared::aws::sdk_config_from(&env).unwrap_or_else(|e| panic!("the emulator's SDK configuration: {e}"))
}

pub fn dynamodb_client() -> Client {
    Client::new(&moto_sdk_config())
}

/// Claims for a test token; `org: None` mints a token without an organization.
#[derive(Debug, Clone)]
pub struct Who {
    pub user: Uuid,
    pub org: Option<Uuid>,
    pub roles: Vec<String>,
}

impl Who {
    pub fn member(org: Uuid) -> Self {
        Self { user: Uuid::new_v4(), org: Some(org), roles: vec!["member".into()] }
    }
    pub fn admin(org: Uuid) -> Self {
        Self { user: Uuid::new_v4(), org: Some(org), roles: vec!["admin".into()] }
    }
    pub fn viewer(org: Uuid) -> Self {
        Self { user: Uuid::new_v4(), org: Some(org), roles: vec!["viewer".into()] }
    }
}

/// A response as a client sees it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// A function's response as a test reads it: JSON bodies parsed, a text answer (a CSV
    /// export, a page, a script) kept as one JSON string.
    pub fn from_response(response: &lambda_http::Response<lambda_http::Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let is_text = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/") || t.starts_with("application/javascript"));
        let body = match response.body() {
            // A text answer (a CSV export) is kept as one JSON string.
            lambda_http::Body::Text(t) if is_text => Value::String(t.clone()),
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or_else(|e| panic!("response body: {e}: {t}")),
            lambda_http::Body::Binary(b) => serde_json::from_slice(b).unwrap_or_else(|e| panic!("response body: {e}")),
            _ => Value::Null,
        };
        Answer { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem response with this status and code, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status);
        assert!(self.body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        &self.body
    }
}

/// One test's world: its own table, its own secrets, the real handlers.
pub struct TestApp {
    pub services: Arc<Services>,
    pub client: Client,
    pub table: String,
    /// This app's documents bucket, created from template.yaml's `DocumentsBucket`.
    pub bucket: String,
    /// This app's audit table, created from template.yaml's `AuditTable`.
    pub audit_table: String,
    /// This app's analytics counters, in a table created from template.yaml's `AnalyticsTable`.
    pub analytics: Arc<hub_analytics::AnalyticsTable>,
    /// The DynamoDB requests of this app's functions, while recording.
    pub requests: hub_shared::aws::RequestLog,
    secret: String,
    handlers: HashMap<&'static str, Handler>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        // `HUB_TEST_LOG=debug` shows the functions' logs (their causes behind a 503, say).
        if let Ok(level) = std::env::var("HUB_TEST_LOG") {
            hub_shared::telemetry::init_with_level("tests", &level);
        }
        let requests = hub_shared::aws::RequestLog::default();
        let client = {
            let plain = dynamodb_client();
            Client::from_conf(plain.config().to_builder().interceptor(requests.clone()).build())
        };
        let table = format!("hub-test-{}", Uuid::new_v4().simple());
        let template = hub_infra::template::Template::load(workspace_root().join("template.yaml"))
            .unwrap_or_else(|e| panic!("template.yaml: {e}"));
        let audit_table = format!("hub-test-audit-{}", Uuid::new_v4().simple());
        let analytics_table = format!("hub-test-analytics-{}", Uuid::new_v4().simple());
        let analytics = Arc::new(hub_analytics::AnalyticsTable::new(client.clone(), analytics_table.clone()));
        let realtime_table = format!("hub-test-realtime-{}", Uuid::new_v4().simple());
        let names = HashMap::from([
            ("BusinessTable".to_string(), table.clone()),
            ("AuditTable".to_string(), audit_table.clone()),
            ("AnalyticsTable".to_string(), analytics_table.clone()),
            ("RealtimeTable".to_string(), realtime_table.clone()),
        ]);
        hub_infra::provision::provision(&client, &template, &names).await.unwrap_or_else(|e| panic!("provision: {e}"));
        let bucket = format!("hub-test-{}", Uuid::new_v4().simple());
        let bucket_ctx = hub_infra::localenv::Context {
            // Every bucket of the template must have a local name; the imports' and exports'
            // functions are tested through the local stack, which names its own.
            names: [
                ("DocumentsBucket".to_string(), bucket.clone()),
                ("BulkBucket".to_string(), format!("hub-test-bulk-{}", Uuid::new_v4().simple())),
            ]
            .into(),
            ..Default::default()
        };
        hub_infra::provision::provision_buckets(&hub_infra::moto::s3_client(&moto().endpoint), &template, &bucket_ctx)
            .await
            .unwrap_or_else(|e| panic!("provision buckets: {e}"));
        let files = Arc::new(hub_documents::Files::new(&moto_sdk_config(), bucket.clone()));
        let mut handlers = handlers();
        handlers.extend(document_handlers(&files));
        handlers.extend(privacy_handlers(&audit_table, &bucket).await);
        handlers.extend(audit_handlers(&files));
        handlers.extend(analytics_handlers(&analytics));
        handlers.extend(realtime_handlers(&client, &realtime_table));
        let secret = format!("test-secret-{}", Uuid::new_v4().simple());
        let env = Env::from_pairs([
            ("HUB_TABLE", table.clone()),
            ("HUB_CURSOR_SECRET", format!("cursor-secret-{}", Uuid::new_v4().simple())),
            ("JWT_HS256_SECRET", secret.clone()),
            ("JWT_ISSUER", ISSUER.to_string()),
            ("JWT_AUDIENCE", AUDIENCE.to_string()),
            ("HUB_CORS_ALLOWED_ORIGINS", ALLOWED_ORIGIN.to_string()),
            ("HUB_MAX_BODY_BYTES", "65536".to_string()),
        ]);
        let services = Services {
            http: HttpConfig::from_env(&env).unwrap_or_else(|e| panic!("{e}")),
            auth: Authenticator::new(AuthConfig::from_env(&env).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}")),
            store: Store::new(client.clone(), &StoreConfig::from_env(&env).unwrap_or_else(|e| panic!("{e}"))),
            audit: hub_shared::audit::AuditWriter::new(client.clone(), &audit_table),
        };
        Self { services: Arc::new(services), client, table, bucket, audit_table, analytics, requests, secret, handlers }
    }

    /// A valid HS256 token for `who`, expiring in an hour.
    pub fn token(&self, who: &Who) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "sub": who.user.to_string(),
            "email": format!("{}@staff.example", who.user.simple()),
            "roles": who.roles,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 3600,
        });
        if let Some(org) = who.org {
            claims["organization_id"] = json!(org.to_string());
        }
        self.sign(&claims)
    }

    /// Signs arbitrary claims with this app's secret.
    pub fn sign(&self, claims: &Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), claims, &key)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every record the business table's stream holds so far, as Lambda would deliver them.
    pub async fn stream_records(&self) -> Vec<Value> {
        let description =
            self.client.describe_table().table_name(&self.table).send().await.unwrap_or_else(|e| panic!("{e}"));
        let arn =
            description.table.and_then(|t| t.latest_stream_arn).unwrap_or_else(|| panic!("the business table streams"));
        let client = hub_infra::relay::streams_client(moto_endpoint(), "eu-west-3");
        let mut records = Vec::new();
        let shards = hub_infra::relay::ShardReader::all(&client, &arn).await.unwrap_or_else(|e| panic!("{e}"));
        for mut reader in shards {
            loop {
                let batch = reader.next_batch(1000).await.unwrap_or_else(|e| panic!("{e}"));
                if batch.is_empty() {
                    break;
                }
                records.extend(batch);
            }
        }
        records
    }

    /// Feeds the business table's whole stream so far to `audit-stream` (records already
    /// audited add nothing), as the event source mapping would.
    pub async fn run_audit_stream(&self) {
        let records = self.stream_records().await;
        let outcome = hub_audit::stream::handle(&self.audit_writer(), &json!({ "Records": records }))
            .await
            .unwrap_or_else(|e| panic!("audit-stream: {e}"));
        assert_eq!(outcome.failed_at, None, "{outcome:?}");
    }

    /// Every item of `table` (test tables are small).
    pub async fn scan(&self, table: &str) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap_or_else(|e| panic!("scan {table}: {e}"));
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return items;
            }
        }
    }

    /// An S3 client on the emulator, path-style as the functions' is.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = moto_sdk_config();
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
    }

    /// A writer on this app's audit table, as `audit-stream` builds it.
    pub fn audit_writer(&self) -> hub_shared::audit::AuditWriter {
        hub_shared::audit::AuditWriter::new(self.client.clone(), &self.audit_table)
    }

    /// A reader on this app's audit table.
    pub fn audit_reader(&self) -> hub_shared::audit::AuditReader {
        hub_shared::audit::AuditReader::new(self.client.clone(), &self.audit_table)
    }

    /// Sends a request as API Gateway would deliver it to the function its route names.
    pub async fn send(&self, method: &str, path_and_query: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut headers = HashMap::new();
        if let Some(token) = token {
            headers.insert("authorization".to_string(), format!("Bearer {token}"));
        }
        let raw_body = body.map(|b| {
            headers.insert("content-type".to_string(), "application/json".to_string());
            b.to_string()
        });
        self.send_raw(method, path_and_query, headers, raw_body).await
    }

    pub async fn send_raw(
        &self,
        method: &str,
        path_and_query: &str,
        headers: HashMap<String, String>,
        body: Option<String>,
    ) -> Answer {
        let headers: Vec<(String, Vec<u8>)> = headers.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        self.send_bytes(method, path_and_query, &headers, body.unwrap_or_default().as_bytes()).await
    }

    /// Sends any bytes as headers and body (a body that is not UTF-8 travels base64-encoded, as
    /// API Gateway sends it).
    pub async fn send_bytes(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(String, Vec<u8>)],
        body: &[u8],
    ) -> Answer {
        let (binary, event) = event(method, path_and_query, headers, body);
        let request = lambda_http::request::from_str(&event.to_string()).unwrap_or_else(|e| panic!("event: {e}"));
        let function: &'static str = Box::leak(binary.clone().into_boxed_str());
        // The public functions of the API contract (the document and its docs page).
        let response = match function {
            "openapi-json" | "docs" => hub_openapi::serve::respond(&self.services.http, function, request)
                .await
                .unwrap_or_else(|| panic!("hub-openapi does not serve {function}")),
            "fallback" => {
                hub_shared::http::handle_public(&self.services.http, function, &hub_health::fallback, request).await
            }
            _ => {
                let handler = self.handlers.get(binary.as_str()).unwrap_or_else(|| panic!("no handler for {binary}"));
                // Boxed: the runtime's future (auth, handler, access audit) is deep enough to overflow
                // the compiler's layout query depth when inlined into every test's future.
                Box::pin(hub_shared::http::handle(&self.services, function, handler.as_ref(), request)).await
            }
        };
        Answer::from_response(&response)
    }

    /// `POST path` with `body`, which must answer 201: the created record.
    pub async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let answer = self.send("POST", path, Some(token), Some(body)).await;
        assert_eq!(answer.status, 201, "{path}: {}", answer.body);
        answer.body
    }
}

/// Percent-encodes a query value.
pub fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// PUTs `bytes` to a created document's presigned upload URL with exactly the headers it lists,
/// as a browser would (the client sets `content-length` itself).
pub async fn upload(created: &Value, bytes: &[u8]) {
    let upload = &created["upload"];
    let mut request = reqwest::Client::new().put(upload["url"].as_str().unwrap_or_default()).body(bytes.to_vec());
    for (name, value) in upload["headers"].as_object().into_iter().flatten() {
        if name != "content-length" {
            request = request.header(name.as_str(), value.as_str().unwrap_or_default());
        }
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("upload: {e}"));
    assert!(response.status().is_success(), "upload: {}", response.text().await.unwrap_or_default());
}

/// A contact body with the required fields and a few more.
pub fn contact(first: &str, last: &str) -> Value {
    json!({"first_name": first, "last_name": last})
}

/// Fails every request to DynamoDB whose body mentions `marker` (an event id, a record id),
/// while armed: one table unreachable for one record, to prove a stream consumer reports it.
#[derive(Debug)]
struct FailRequestsMentioning {
    marker: String,
    armed: Arc<std::sync::Mutex<bool>>,
}

impl aws_sdk_dynamodb::config::Intercept for FailRequestsMentioning {
    fn name(&self) -> &'static str {
        "FailRequestsMentioning"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        let armed = *self.armed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if armed && String::from_utf8_lossy(body).contains(&self.marker) {
            return Err(format!("injected: a request mentioning {} failed", self.marker).into());
        }
        Ok(())
    }
}

/// `client` with [`FailRequestsMentioning`]: its requests naming `marker` fail while `armed`.
pub fn client_failing_requests_mentioning(
    client: &Client,
    marker: impl Into<String>,
    armed: &Arc<std::sync::Mutex<bool>>,
) -> Client {
    let interceptor = FailRequestsMentioning { marker: marker.into(), armed: Arc::clone(armed) };
    Client::from_conf(client.config().to_builder().interceptor(interceptor).build())
}

/// A local stack of its own (`infra/hub up`'s engine: moto, `cargo lambda watch`, the relays,
/// the gateways) and an HTTP client on its API, for the end-to-end tests that go through the
/// real path. Their harnesses deref to it.
pub struct StackApi {
    pub stack: hub_infra::spawn::LocalStack,
    pub http: reqwest::Client,
}

impl StackApi {
    pub async fn start() -> Self {
        let stack = tokio::task::spawn_blocking(|| {
            hub_infra::spawn::LocalStack::start(hub_infra::spawn::StackOptions::default())
        })
        .await
        .unwrap_or_else(|e| panic!("the local stack's start panicked: {e}"))
        .unwrap_or_else(|e| panic!("the local stack did not start: {e}"));
        Self { stack, http: reqwest::Client::new() }
    }

    /// A token the stack accepts: a new user of `org` with `roles`, for 15 minutes.
    pub fn token(&self, org: Uuid, roles: &[&str]) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "sub": Uuid::new_v4().to_string(), "organization_id": org.to_string(), "roles": roles,
            "iss": self.stack.var("JWT_ISSUER"), "aud": self.stack.var("JWT_AUDIENCE"), "iat": now, "exp": now + 900,
        });
        let key = jsonwebtoken::EncodingKey::from_secret(self.stack.var("JWT_HS256_SECRET").as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key)
            .unwrap_or_else(|e| panic!("signing a token: {e}"))
    }

    /// A request to the stack's API: the status and the body (JSON, or the text as a string).
    pub async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let (status, body, _) = self.call_with_headers(method, path, token, body).await;
        (status, body)
    }

    /// `POST path` with `body`, which must answer 201: the created record.
    pub async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let (status, created) = self.call("POST", path, token, Some(body)).await;
        assert_eq!(status, 201, "{path}: {created}");
        created
    }

    /// [`StackApi::call`], with the response's headers.
    pub async fn call_with_headers(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{method}: {e}"));
        let mut request = self.http.request(method, format!("{}{path}", self.stack.api_url())).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)), headers)
    }
}
