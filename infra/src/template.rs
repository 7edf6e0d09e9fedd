//! Reads `template.yaml`, the one description of what is deployed, so that the local stack can
//! build the same tables, routes and environment from it instead of from a copy that could drift.
//!
//! The file is YAML with CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`, ...).
//! serde_yaml keeps those as tagged values, so parsing never fails on them; values that hold
//! intrinsic functions are kept raw ([`Value`]) and resolved later by [`crate::localenv`].

use serde_yaml::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file name, at the workspace root.
pub const TEMPLATE_FILE: &str = "template.yaml";

#[derive(Debug)]
pub enum TemplateError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Yaml(serde_yaml::Error),
    /// The YAML is fine but does not say what we need; the message names the resource.
    Invalid(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Yaml(e) => write!(f, "template is not valid YAML: {e}"),
            Self::Invalid(msg) => write!(f, "template: {msg}"),
        }
    }
}

impl std::error::Error for TemplateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Yaml(e) => Some(e),
            Self::Invalid(_) => None,
        }
    }
}

fn invalid(msg: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(msg.into())
}

/// The path of the `$default` route.
pub const DEFAULT_ROUTE: &str = "$default";

/// What the local stack needs from the template.
#[derive(Debug, Clone, Default)]
pub struct Template {
    pub parameters: BTreeMap<String, Parameter>,
    pub tables: BTreeMap<String, Table>,
    pub buckets: BTreeMap<String, Bucket>,
    /// Every `AWS::SQS::Queue`, by logical id: created in the emulator, and those a function
    /// consumes ([`Function::queue_sources`]) relayed to it.
    pub queues: BTreeMap<String, Queue>,
    pub functions: BTreeMap<String, Function>,
    /// `Globals.Function.Environment.Variables`, unresolved.
    pub global_environment: BTreeMap<String, Value>,
    /// Every HTTP API route, sorted by path then method.
    pub routes: Vec<Route>,
    /// The `$default` route (an HttpApi event without `Path` and `Method`): what API Gateway
    /// invokes for a request no route takes. Its `path` is `$default`, its method `ANY`.
    pub default_route: Option<Route>,
    /// Logical ids of the `AWS::Serverless::HttpApi`s.
    pub http_apis: Vec<String>,
    /// The `AWS::ApiGatewayV2::Api`s whose `ProtocolType` is `WEBSOCKET`, by logical id, with
    /// their stage, routes and authorizers.
    pub websocket_apis: BTreeMap<String, WebSocketApi>,
    /// Every `AWS::ApiGatewayV2::Stage`, by logical id (`!Ref` of a stage is its name).
    pub stages: BTreeMap<String, Stage>,
}

/// A function of the template that an API invokes: its logical id and its binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaTarget {
    pub function: String,
    pub binary: String,
}

/// An `AWS::ApiGatewayV2::Stage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub logical_id: String,
    /// Logical id of its API.
    pub api: String,
    pub name: String,
}

/// A WebSocket API (`AWS::ApiGatewayV2::Api`, `ProtocolType: WEBSOCKET`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketApi {
    pub logical_id: String,
    /// `RouteSelectionExpression`, e.g. `$request.body.action`.
    pub route_selection_expression: String,
    /// The name of its stage; `None` when it has none (it is then reachable nowhere).
    pub stage: Option<String>,
    /// Its routes, sorted by route key.
    pub routes: Vec<WebSocketRoute>,
}

impl WebSocketApi {
    /// The route whose `RouteKey` is `key` (`$connect`, `$default`, an action...).
    pub fn route(&self, key: &str) -> Option<&WebSocketRoute> {
        self.routes.iter().find(|r| r.route_key == key)
    }
}

/// An `AWS::ApiGatewayV2::Route` of a WebSocket API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketRoute {
    pub route_key: String,
    /// `AuthorizationType`: `NONE` (also when absent), `CUSTOM` or `AWS_IAM`.
    pub authorization_type: String,
    /// The `AWS_PROXY` integration's function; `None` for a route without `Target`.
    pub integration: Option<LambdaTarget>,
    /// The `AuthorizerId`'s authorizer (API Gateway only allows one on `$connect`).
    pub authorizer: Option<WebSocketAuthorizer>,
}

/// A Lambda `REQUEST` authorizer (`AWS::ApiGatewayV2::Authorizer`) of a WebSocket API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketAuthorizer {
    pub logical_id: String,
    pub function: LambdaTarget,
    /// `IdentitySource`, e.g. `route.request.querystring.ticket` or `route.request.header.Auth`:
    /// a request missing any of them is refused with 401 before the function is invoked.
    pub identity_sources: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    /// `String`, `Number`, `CommaDelimitedList`, ...
    pub kind: String,
    pub default: Option<String>,
    pub no_echo: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub logical_id: String,
    pub key_schema: Vec<KeyElement>,
    pub attributes: Vec<AttributeDefinition>,
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    pub local_secondary_indexes: Vec<SecondaryIndex>,
    pub billing: Billing,
    /// `StreamSpecification.StreamViewType`, e.g. `NEW_AND_OLD_IMAGES`.
    pub stream_view_type: Option<String>,
    /// `TimeToLiveSpecification.AttributeName`, when enabled.
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Hash,
    Range,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hash => "HASH",
            Self::Range => "RANGE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: KeyType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDefinition {
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    PayPerRequest,
    Provisioned { read: i64, write: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub logical_id: String,
    /// `BucketName`, when the template fixes one (the local stack names buckets itself).
    pub bucket_name: Option<String>,
    /// `VersioningConfiguration.Status` is `Enabled`.
    pub versioning: bool,
    /// `CorsConfiguration.CorsRules`, origins unresolved (`!Ref CorsAllowedOrigins`).
    pub cors_rules: Vec<CorsRule>,
}

/// One CORS rule of a bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct CorsRule {
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Value,
    pub allowed_headers: Vec<String>,
    pub exposed_headers: Vec<String>,
    pub max_age: Option<i64>,
}

impl Eq for CorsRule {}

#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo bin target, which is also the name
    /// `cargo lambda watch` routes to.
    pub binary: String,
    /// `CodeUri`: the crate directory, relative to the template.
    pub code_uri: String,
    /// `Environment.Variables` of this function alone (globals are in [`Template::global_environment`]).
    pub environment: BTreeMap<String, Value>,
    pub policy_statements: Vec<PolicyStatement>,
    /// SAM policy templates and managed policies by name (`DynamoDBCrudPolicy`, ...), which
    /// grant actions this module does not expand.
    pub named_policies: Vec<String>,
    pub stream_sources: Vec<StreamSource>,
    /// `Schedule`/`ScheduleV2` events: the expression (`rate(1 day)`, `cron(...)`) of each.
    pub schedules: Vec<String>,
    /// The dead-letter queue (logical id, from `DeadLetterConfig.Arn: !GetAtt Q.Arn`) of each
    /// schedule, in the same order; `None` for a schedule without one.
    pub schedule_dead_letters: Vec<Option<String>>,
    /// `SQS` events: the queues whose messages the function is invoked with.
    pub queue_sources: Vec<QueueSource>,
    /// `Timeout` in seconds: the function's own, else `Globals.Function.Timeout`, else SAM's 3.
    pub timeout_seconds: u32,
}

/// An `AWS::SQS::Queue`: what changes what a producer or a consumer sees. Encryption and tags
/// change nothing locally and are left to the deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub logical_id: String,
    /// `QueueName`, when the template fixes one (the local stack names queues itself).
    pub queue_name: Option<String>,
    /// `FifoQueue`: its name ends in `.fifo`, and messages of a group are delivered in order.
    pub fifo: bool,
    pub content_based_deduplication: bool,
    /// `VisibilityTimeout` in seconds; SQS's default is 30 ([`Queue::visibility_timeout`]).
    pub visibility_timeout: Option<u32>,
    pub message_retention_period: Option<u32>,
    pub delay_seconds: Option<u32>,
    pub maximum_message_size: Option<u32>,
    /// `RedrivePolicy`: where a message goes once received `max_receive_count` times undeleted.
    pub redrive: Option<Redrive>,
}

/// SQS's visibility timeout when a queue does not set one.
pub const DEFAULT_VISIBILITY_TIMEOUT: u32 = 30;

impl Queue {
    /// The visibility timeout the queue has, its own or SQS's default.
    pub fn visibility_timeout(&self) -> u32 {
        self.visibility_timeout.unwrap_or(DEFAULT_VISIBILITY_TIMEOUT)
    }
}

/// A queue's `RedrivePolicy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    /// Logical id of the dead-letter queue (`deadLetterTargetArn: !GetAtt Dlq.Arn`).
    pub dead_letter_queue: String,
    pub max_receive_count: u32,
}

/// An `SQS` event of a function: Lambda's event source mapping polls `queue` and invokes the
/// function with batches of its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSource {
    pub event: String,
    /// Logical id of the queue (`Queue: !GetAtt Q.Arn`).
    pub queue: String,
    /// `BatchSize`: 10 by default, as Lambda's.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds`: how long a batch may gather; 0 by default.
    pub maximum_batching_window_seconds: u32,
    /// `FunctionResponseTypes` holds `ReportBatchItemFailures`.
    pub reports_batch_item_failures: bool,
    /// `ScalingConfig.MaximumConcurrency`: invocations in flight at most.
    pub maximum_concurrency: Option<u32>,
    /// `Enabled` (true unless the template says false).
    pub enabled: bool,
}

/// SAM's function timeout when neither the function nor `Globals` sets one.
pub const DEFAULT_FUNCTION_TIMEOUT: u32 = 3;

#[derive(Debug, Clone)]
pub struct PolicyStatement {
    pub effect: String,
    pub actions: Vec<String>,
    /// Unresolved (`!GetAtt Table.Arn`, `!Sub ...`).
    pub resources: Vec<Value>,
    /// The statement's `Condition` block as written, if any.
    pub condition: Option<Value>,
}

/// A `DynamoDB` event: the function reads the stream of `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSource {
    pub event: String,
    pub table: String,
    pub starting_position: Option<String>,
    pub batch_size: Option<u64>,
    /// `FunctionResponseTypes` holds `ReportBatchItemFailures`.
    pub reports_batch_item_failures: bool,
    pub bisect_on_error: bool,
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_record_age_seconds: Option<i64>,
    /// `DestinationConfig.OnFailure.Destination`, as the logical id its `!GetAtt` names.
    pub on_failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub path: String,
    /// Upper case; `ANY` when the event says so.
    pub method: String,
    /// Logical id of the function.
    pub function: String,
    pub binary: String,
}

impl Template {
    /// Reads and parses a template file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|source| TemplateError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text)
    }

    /// Reads `template.yaml` at the workspace root.
    pub fn load_workspace() -> Result<Self, TemplateError> {
        Self::load(crate::workspace_root().join(TEMPLATE_FILE))
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let doc: Value = serde_yaml::from_str(text).map_err(TemplateError::Yaml)?;
        let mut template = Template::default();

        if let Some(params) = doc.get("Parameters") {
            for (name, spec) in mapping(params, "Parameters")? {
                let parameter = Parameter {
                    name: name.clone(),
                    kind: opt_str(&spec, "Type")?.unwrap_or_else(|| "String".into()),
                    default: opt_scalar(spec.get("Default")),
                    no_echo: spec.get("NoEcho").map(truthy).unwrap_or(false),
                };
                template.parameters.insert(name, parameter);
            }
        }

        if let Some(vars) = doc
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables"))
        {
            template.global_environment =
                mapping(vars, "Globals.Function.Environment.Variables")?.into_iter().collect();
        }

        let default_timeout = match doc.get("Globals").and_then(|g| g.get("Function")) {
            Some(globals) => opt_u32(globals, "Timeout", "Globals.Function")?,
            None => None,
        }
        .unwrap_or(DEFAULT_FUNCTION_TIMEOUT);

        let resources = doc.get("Resources").ok_or_else(|| invalid("no Resources section"))?;
        // API Gateway v2 resources name each other (route -> integration -> function), in any
        // order: they are joined once every resource has been read.
        let mut v2 = ApiGatewayV2::default();
        for (logical_id, resource) in mapping(resources, "Resources")? {
            let kind =
                opt_str(&resource, "Type")?.ok_or_else(|| invalid(format!("resource {logical_id} has no Type")))?;
            let empty = Value::Mapping(Default::default());
            let props = resource.get("Properties").unwrap_or(&empty);
            match kind.as_str() {
                "AWS::DynamoDB::Table" => {
                    let table = parse_table(&logical_id, props)?;
                    template.tables.insert(logical_id, table);
                }
                "AWS::S3::Bucket" => {
                    let bucket = parse_bucket(&logical_id, props)?;
                    template.buckets.insert(logical_id, bucket);
                }
                "AWS::SQS::Queue" => {
                    let queue = parse_queue(&logical_id, props)?;
                    template.queues.insert(logical_id, queue);
                }
                "AWS::Serverless::Function" => {
                    let (function, routes) = parse_function(&logical_id, &resource, props, default_timeout)?;
                    for route in routes {
                        if route.path != DEFAULT_ROUTE {
                            template.routes.push(route);
                        } else if let Some(first) = template.default_route.replace(route) {
                            return Err(invalid(format!("two $default routes ({} and {logical_id})", first.function)));
                        }
                    }
                    template.functions.insert(logical_id, function);
                }
                "AWS::Serverless::HttpApi" => template.http_apis.push(logical_id),
                "AWS::ApiGatewayV2::Api" if opt_str(props, "ProtocolType")?.as_deref() == Some("WEBSOCKET") => {
                    let api = WebSocketApi {
                        route_selection_expression: opt_str(props, "RouteSelectionExpression")?.ok_or_else(|| {
                            invalid(format!("WebSocket API {logical_id}: no RouteSelectionExpression"))
                        })?,
                        logical_id: logical_id.clone(),
                        stage: None,
                        routes: Vec::new(),
                    };
                    template.websocket_apis.insert(logical_id, api);
                }
                "AWS::ApiGatewayV2::Stage" => {
                    let ctx = format!("stage {logical_id}");
                    let stage = Stage {
                        api: api_id(props, &ctx)?,
                        name: req_str(props, "StageName", &ctx)?,
                        logical_id: logical_id.clone(),
                    };
                    template.stages.insert(logical_id, stage);
                }
                "AWS::ApiGatewayV2::Route" => v2.routes.push((logical_id, props.clone())),
                "AWS::ApiGatewayV2::Integration" => {
                    v2.integrations.insert(logical_id, props.clone());
                }
                "AWS::ApiGatewayV2::Authorizer" => {
                    v2.authorizers.insert(logical_id, props.clone());
                }
                _ => {}
            }
        }
        template.routes.sort();
        v2.join(&mut template)?;
        template.check_queue_references()?;
        Ok(template)
    }

    /// Every queue a redrive policy or an SQS event names is a queue of the template: the
    /// emulator could not create the one, nor the relay poll the other.
    fn check_queue_references(&self) -> Result<(), TemplateError> {
        for queue in self.queues.values() {
            if let Some(redrive) = &queue.redrive
                && !self.queues.contains_key(&redrive.dead_letter_queue)
            {
                return Err(invalid(format!(
                    "queue {}: RedrivePolicy names {}, which is not an AWS::SQS::Queue of the template",
                    queue.logical_id, redrive.dead_letter_queue
                )));
            }
        }
        for function in self.functions.values() {
            for source in &function.queue_sources {
                let Some(queue) = self.queues.get(&source.queue) else {
                    return Err(invalid(format!(
                        "function {}: event {} names {}, which is not an AWS::SQS::Queue of the template",
                        function.logical_id, source.event, source.queue
                    )));
                };
                // Lambda refuses these at deploy time; refused here, they fail before a deploy.
                if queue.fifo && source.batch_size > 10 {
                    return Err(invalid(format!(
                        "function {}: event {}: BatchSize {} on FIFO queue {} (at most 10)",
                        function.logical_id, source.event, source.batch_size, queue.logical_id
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn table(&self, logical_id: &str) -> Result<&Table, TemplateError> {
        self.tables.get(logical_id).ok_or_else(|| invalid(format!("no AWS::DynamoDB::Table named {logical_id}")))
    }

    /// The environment a function sees when deployed: globals overridden by its own variables.
    pub fn function_environment(&self, function: &Function) -> BTreeMap<String, Value> {
        let mut env = self.global_environment.clone();
        env.extend(function.environment.clone());
        env
    }

    /// The HTTP routes (a copy of [`Template::routes`]), sorted by path then method.
    pub fn routes(&self) -> Vec<Route> {
        self.routes.clone()
    }

    /// Binary names of all functions, sorted.
    pub fn binaries(&self) -> Vec<String> {
        let mut bins: Vec<String> = self.functions.values().map(|f| f.binary.clone()).collect();
        bins.sort();
        bins.dedup();
        bins
    }
}

/// The API Gateway v2 routes, integrations and authorizers, as read, before they are joined.
#[derive(Default)]
struct ApiGatewayV2 {
    routes: Vec<(String, Value)>,
    integrations: BTreeMap<String, Value>,
    authorizers: BTreeMap<String, Value>,
}

impl ApiGatewayV2 {
    /// Attaches stages and routes to their WebSocket APIs, each route with its integration's
    /// function and its authorizer. Routes of other (HTTP) v2 APIs are left alone.
    fn join(self, template: &mut Template) -> Result<(), TemplateError> {
        for stage in template.stages.values() {
            if let Some(api) = template.websocket_apis.get_mut(&stage.api)
                && let Some(first) = api.stage.replace(stage.name.clone())
            {
                return Err(invalid(format!(
                    "WebSocket API {}: two stages ({first} and {}); the local stack serves one",
                    api.logical_id, stage.name
                )));
            }
        }
        for (logical_id, props) in &self.routes {
            let ctx = format!("route {logical_id}");
            let api = api_id(props, &ctx)?;
            let Some(websocket) = template.websocket_apis.get(&api) else {
                continue;
            };
            let integration = match props.get("Target") {
                None => None,
                Some(target) => {
                    let id = integration_of(target).ok_or_else(|| {
                        invalid(format!("{ctx}: Target must be !Sub \"integrations/${{Integration}}\""))
                    })?;
                    let integration = self
                        .integrations
                        .get(&id)
                        .ok_or_else(|| invalid(format!("{ctx}: no AWS::ApiGatewayV2::Integration named {id}")))?;
                    let ictx = format!("integration {id}");
                    let kind = req_str(integration, "IntegrationType", &ictx)?;
                    if kind != "AWS_PROXY" {
                        return Err(invalid(format!("{ictx}: IntegrationType {kind} is not emulated locally")));
                    }
                    Some(lambda_target(template, integration.get("IntegrationUri"), &ictx)?)
                }
            };
            let authorizer = match props.get("AuthorizerId") {
                None => None,
                Some(reference) => {
                    let id =
                        ref_target(reference).ok_or_else(|| invalid(format!("{ctx}: AuthorizerId must be !Ref")))?;
                    let authorizer = self
                        .authorizers
                        .get(&id)
                        .ok_or_else(|| invalid(format!("{ctx}: no AWS::ApiGatewayV2::Authorizer named {id}")))?;
                    let actx = format!("authorizer {id}");
                    let kind = req_str(authorizer, "AuthorizerType", &actx)?;
                    if kind != "REQUEST" {
                        return Err(invalid(format!("{actx}: AuthorizerType {kind} is not emulated locally")));
                    }
                    Some(WebSocketAuthorizer {
                        logical_id: id.clone(),
                        function: lambda_target(template, authorizer.get("AuthorizerUri"), &actx)?,
                        identity_sources: string_or_list(authorizer.get("IdentitySource"), &actx)?,
                    })
                }
            };
            let route = WebSocketRoute {
                route_key: req_str(props, "RouteKey", &ctx)?,
                authorization_type: opt_str(props, "AuthorizationType")?.unwrap_or_else(|| "NONE".into()),
                integration,
                authorizer,
            };
            if websocket.route(&route.route_key).is_some() {
                return Err(invalid(format!("{ctx}: WebSocket API {api} has two {} routes", route.route_key)));
            }
            if let Some(websocket) = template.websocket_apis.get_mut(&api) {
                websocket.routes.push(route);
            }
        }
        for api in template.websocket_apis.values_mut() {
            api.routes.sort_by(|a, b| a.route_key.cmp(&b.route_key));
        }
        Ok(())
    }
}

/// `ApiId: !Ref Api`.
fn api_id(props: &Value, ctx: &str) -> Result<String, TemplateError> {
    props.get("ApiId").and_then(ref_target).ok_or_else(|| invalid(format!("{ctx}: ApiId must be !Ref <Api>")))
}

/// The logical id a `Ref` names.
fn ref_target(value: &Value) -> Option<String> {
    match intrinsic(value)? {
        (name, Value::String(target)) if name == "Ref" => Some(target.clone()),
        _ => None,
    }
}

/// The integration a route's `Target` names: `!Sub "integrations/${Integration}"`, or
/// `!Join ["/", [integrations, !Ref Integration]]`.
fn integration_of(target: &Value) -> Option<String> {
    let (name, arg) = intrinsic(target)?;
    match name.as_str() {
        "Fn::Sub" => {
            let inner = arg.as_str()?.strip_prefix("integrations/${")?.strip_suffix('}')?;
            (!inner.contains(['$', '{', '}', '.'])).then(|| inner.to_string())
        }
        "Fn::Join" => match arg.as_sequence()?.as_slice() {
            [_, Value::Sequence(parts)] if parts.len() == 2 && parts[0].as_str() == Some("integrations") => {
                ref_target(&parts[1])
            }
            _ => None,
        },
        _ => None,
    }
}

/// The function of a Lambda integration or authorizer URI: the `${Function.Arn}` of a `!Sub`
/// (`arn:...:lambda:path/2015-03-31/functions/${F.Arn}/invocations`), or a `!GetAtt F.Arn`.
fn lambda_target(template: &Template, uri: Option<&Value>, ctx: &str) -> Result<LambdaTarget, TemplateError> {
    let uri = uri.ok_or_else(|| invalid(format!("{ctx}: no function URI")))?;
    let function = match intrinsic(uri) {
        Some((name, Value::String(text))) if name == "Fn::Sub" => {
            text.split("${").skip(1).find_map(|part| part.split_once('}')?.0.strip_suffix(".Arn").map(String::from))
        }
        Some((name, _)) if name == "Fn::GetAtt" => get_att(uri).filter(|(_, attr)| attr == "Arn").map(|(id, _)| id),
        _ => None,
    }
    .ok_or_else(|| invalid(format!("{ctx}: the URI must name a function's ${{Function.Arn}}")))?;
    let binary = template
        .functions
        .get(&function)
        .map(|f| f.binary.clone())
        .ok_or_else(|| invalid(format!("{ctx}: {function} is not an AWS::Serverless::Function of the template")))?;
    Ok(LambdaTarget { function, binary })
}

fn parse_table(logical_id: &str, props: &Value) -> Result<Table, TemplateError> {
    let ctx = |what: &str| format!("table {logical_id}: {what}");

    let key_schema = parse_key_schema(props.get("KeySchema"), &ctx("KeySchema"))?;
    let mut attributes = Vec::new();
    for attr in sequence(props.get("AttributeDefinitions"), &ctx("AttributeDefinitions"))? {
        attributes.push(AttributeDefinition {
            attribute_name: req_str(attr, "AttributeName", &ctx("AttributeDefinitions"))?,
            attribute_type: req_str(attr, "AttributeType", &ctx("AttributeDefinitions"))?,
        });
    }
    for attr in &attributes {
        if !matches!(attr.attribute_type.as_str(), "S" | "N" | "B") {
            return Err(invalid(ctx(&format!(
                "attribute {} has type {}, expected S, N or B",
                attr.attribute_name, attr.attribute_type
            ))));
        }
    }

    let billing = match opt_str(props, "BillingMode")?.as_deref() {
        Some("PAY_PER_REQUEST") => Billing::PayPerRequest,
        None | Some("PROVISIONED") => {
            let throughput = props
                .get("ProvisionedThroughput")
                .ok_or_else(|| invalid(ctx("PROVISIONED billing without ProvisionedThroughput")))?;
            Billing::Provisioned {
                read: req_int(throughput, "ReadCapacityUnits", &ctx("ProvisionedThroughput"))?,
                write: req_int(throughput, "WriteCapacityUnits", &ctx("ProvisionedThroughput"))?,
            }
        }
        Some(other) => return Err(invalid(ctx(&format!("unknown BillingMode {other}")))),
    };

    let parse_indexes = |key: &str| -> Result<Vec<SecondaryIndex>, TemplateError> {
        let Some(list) = props.get(key) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for index in sequence(Some(list), &ctx(key))? {
            let projection =
                index.get("Projection").ok_or_else(|| invalid(ctx(&format!("{key} entry without Projection"))))?;
            out.push(SecondaryIndex {
                index_name: req_str(index, "IndexName", &ctx(key))?,
                key_schema: parse_key_schema(index.get("KeySchema"), &ctx(key))?,
                projection_type: opt_str(projection, "ProjectionType")?.unwrap_or_else(|| "KEYS_ONLY".into()),
                non_key_attributes: match projection.get("NonKeyAttributes") {
                    None => Vec::new(),
                    Some(list) => sequence(Some(list), &ctx("NonKeyAttributes"))?
                        .iter()
                        .map(|v| scalar(v).ok_or_else(|| invalid(ctx("NonKeyAttributes entry"))))
                        .collect::<Result<_, _>>()?,
                },
            });
        }
        Ok(out)
    };

    let stream_view_type = match props.get("StreamSpecification") {
        None => None,
        Some(spec) => Some(req_str(spec, "StreamViewType", &ctx("StreamSpecification"))?),
    };
    let ttl_attribute = match props.get("TimeToLiveSpecification") {
        Some(spec) if spec.get("Enabled").map(truthy).unwrap_or(false) => {
            Some(req_str(spec, "AttributeName", &ctx("TimeToLiveSpecification"))?)
        }
        _ => None,
    };

    Ok(Table {
        logical_id: logical_id.to_string(),
        key_schema,
        attributes,
        global_secondary_indexes: parse_indexes("GlobalSecondaryIndexes")?,
        local_secondary_indexes: parse_indexes("LocalSecondaryIndexes")?,
        billing,
        stream_view_type,
        ttl_attribute,
    })
}

fn parse_bucket(logical_id: &str, props: &Value) -> Result<Bucket, TemplateError> {
    let ctx = |what: &str| format!("bucket {logical_id}: {what}");
    let versioning = match props.get("VersioningConfiguration") {
        None => false,
        Some(v) => req_str(v, "Status", &ctx("VersioningConfiguration"))? == "Enabled",
    };
    let mut cors_rules = Vec::new();
    if let Some(cors) = props.get("CorsConfiguration") {
        for rule in sequence(cors.get("CorsRules"), &ctx("CorsRules"))? {
            let list = |key: &str| -> Result<Vec<String>, TemplateError> {
                match rule.get(key) {
                    None => Ok(Vec::new()),
                    some => string_or_list(some, &ctx(key)),
                }
            };
            cors_rules.push(CorsRule {
                allowed_methods: list("AllowedMethods")?,
                allowed_origins: rule
                    .get("AllowedOrigins")
                    .cloned()
                    .ok_or_else(|| invalid(ctx("a CORS rule without AllowedOrigins")))?,
                allowed_headers: list("AllowedHeaders")?,
                exposed_headers: list("ExposedHeaders")?,
                max_age: match rule.get("MaxAge") {
                    None => None,
                    Some(_) => Some(req_int(rule, "MaxAge", &ctx("CorsRules"))?),
                },
            });
        }
    }
    Ok(Bucket {
        logical_id: logical_id.to_string(),
        bucket_name: opt_str(props, "BucketName")?,
        versioning,
        cors_rules,
    })
}

fn parse_queue(logical_id: &str, props: &Value) -> Result<Queue, TemplateError> {
    let ctx = format!("queue {logical_id}");
    let redrive = match props.get("RedrivePolicy") {
        None => None,
        Some(policy) => {
            let rctx = format!("{ctx}: RedrivePolicy");
            let target = policy
                .get("deadLetterTargetArn")
                .and_then(get_att)
                .filter(|(_, attr)| attr == "Arn")
                .map(|(id, _)| id)
                .ok_or_else(|| invalid(format!("{rctx}: deadLetterTargetArn must be !GetAtt <Queue>.Arn")))?;
            let max_receive_count = opt_u32(policy, "maxReceiveCount", &rctx)?
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| invalid(format!("{rctx}: maxReceiveCount must be 1 to 1000")))?;
            Some(Redrive { dead_letter_queue: target, max_receive_count })
        }
    };
    Ok(Queue {
        logical_id: logical_id.to_string(),
        queue_name: opt_str(props, "QueueName")?,
        fifo: props.get("FifoQueue").is_some_and(truthy),
        content_based_deduplication: props.get("ContentBasedDeduplication").is_some_and(truthy),
        visibility_timeout: opt_u32(props, "VisibilityTimeout", &ctx)?,
        message_retention_period: opt_u32(props, "MessageRetentionPeriod", &ctx)?,
        delay_seconds: opt_u32(props, "DelaySeconds", &ctx)?,
        maximum_message_size: opt_u32(props, "MaximumMessageSize", &ctx)?,
        redrive,
    })
}

/// An `SQS` event's properties, with Lambda's defaults and limits.
fn parse_queue_source(event: &str, props: &Value, ctx: &str) -> Result<QueueSource, TemplateError> {
    let queue = props
        .get("Queue")
        .and_then(get_att)
        .filter(|(_, attr)| attr == "Arn")
        .map(|(id, _)| id)
        .ok_or_else(|| invalid(format!("{ctx}: Queue must be !GetAtt <Queue>.Arn")))?;
    let batch_size = opt_u32(props, "BatchSize", ctx)?.unwrap_or(10);
    let window = opt_u32(props, "MaximumBatchingWindowInSeconds", ctx)?.unwrap_or(0);
    if !(1..=10_000).contains(&batch_size) || window > 300 {
        return Err(invalid(format!("{ctx}: BatchSize must be 1 to 10000 and the batching window at most 300 s")));
    }
    if batch_size > 10 && window == 0 {
        return Err(invalid(format!(
            "{ctx}: a BatchSize over 10 needs MaximumBatchingWindowInSeconds (Lambda's rule)"
        )));
    }
    let maximum_concurrency = match props.get("ScalingConfig") {
        Some(scaling) => opt_u32(scaling, "MaximumConcurrency", ctx)?,
        None => None,
    };
    if maximum_concurrency.is_some_and(|n| !(2..=1000).contains(&n)) {
        return Err(invalid(format!("{ctx}: ScalingConfig.MaximumConcurrency must be 2 to 1000")));
    }
    Ok(QueueSource {
        event: event.to_string(),
        queue,
        batch_size,
        maximum_batching_window_seconds: window,
        reports_batch_item_failures: reports_batch_item_failures(props, ctx)?,
        maximum_concurrency,
        enabled: props.get("Enabled").is_none_or(truthy),
    })
}

/// `FunctionResponseTypes` holds `ReportBatchItemFailures` (stream and queue events alike).
fn reports_batch_item_failures(props: &Value, ctx: &str) -> Result<bool, TemplateError> {
    Ok(string_or_list(props.get("FunctionResponseTypes"), &format!("{ctx}: FunctionResponseTypes"))?
        .iter()
        .any(|t| t == "ReportBatchItemFailures"))
}

fn parse_key_schema(value: Option<&Value>, ctx: &str) -> Result<Vec<KeyElement>, TemplateError> {
    let mut out = Vec::new();
    for key in sequence(value, ctx)? {
        let key_type = match req_str(key, "KeyType", ctx)?.as_str() {
            "HASH" => KeyType::Hash,
            "RANGE" => KeyType::Range,
            other => return Err(invalid(format!("{ctx}: unknown KeyType {other}"))),
        };
        out.push(KeyElement { attribute_name: req_str(key, "AttributeName", ctx)?, key_type });
    }
    if out.is_empty() {
        return Err(invalid(format!("{ctx}: empty key schema")));
    }
    Ok(out)
}

fn parse_function(
    logical_id: &str,
    resource: &Value,
    props: &Value,
    default_timeout: u32,
) -> Result<(Function, Vec<Route>), TemplateError> {
    let ctx = |what: &str| format!("function {logical_id}: {what}");
    let binary = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(scalar)
        .ok_or_else(|| invalid(ctx("no Metadata.BuildProperties.Binary (the cargo bin that implements it)")))?;
    let code_uri = opt_str(props, "CodeUri")?.ok_or_else(|| invalid(ctx("no CodeUri")))?;

    let environment = match props.get("Environment").and_then(|e| e.get("Variables")) {
        None => BTreeMap::new(),
        Some(vars) => mapping(vars, &ctx("Environment.Variables"))?.into_iter().collect(),
    };

    let mut policy_statements = Vec::new();
    let mut named_policies = Vec::new();
    let policies: Vec<Value> = match props.get("Policies") {
        None => Vec::new(),
        Some(Value::Sequence(list)) => list.clone(),
        Some(single) => vec![single.clone()],
    };
    for policy in &policies {
        match policy {
            Value::String(name) => named_policies.push(name.clone()),
            Value::Mapping(map) => {
                if let Some(statements) = policy.get("Statement") {
                    let statements = match statements {
                        Value::Sequence(list) => list.clone(),
                        single => vec![single.clone()],
                    };
                    for statement in &statements {
                        policy_statements.push(PolicyStatement {
                            effect: opt_str(statement, "Effect")?.unwrap_or_else(|| "Allow".into()),
                            actions: string_or_list(statement.get("Action"), &ctx("Action"))?,
                            resources: match statement.get("Resource") {
                                None => Vec::new(),
                                Some(Value::Sequence(list)) => list.clone(),
                                Some(single) => vec![single.clone()],
                            },
                            condition: statement.get("Condition").cloned(),
                        });
                    }
                } else {
                    // A SAM policy template: `- DynamoDBReadPolicy: {TableName: ...}`.
                    named_policies.extend(map.keys().filter_map(scalar));
                }
            }
            // `!Ref SomePolicy` and other intrinsics: a managed policy we cannot see into.
            other => named_policies.push(format!("{other:?}")),
        }
    }

    let mut routes = Vec::new();
    let mut stream_sources = Vec::new();
    let mut schedules = Vec::new();
    let mut schedule_dead_letters = Vec::new();
    let mut queue_sources = Vec::new();
    if let Some(events) = props.get("Events") {
        for (event_name, event) in mapping(events, &ctx("Events"))? {
            let event_ctx = ctx(&format!("event {event_name}"));
            let kind = req_str(&event, "Type", &event_ctx)?;
            let empty = Value::Mapping(Default::default());
            let event_props = event.get("Properties").unwrap_or(&empty);
            match kind.as_str() {
                "HttpApi" => {
                    // Without Path and Method, SAM makes the event the API's $default route.
                    let (path, method) = if event_props.get("Path").is_none() && event_props.get("Method").is_none() {
                        (DEFAULT_ROUTE.to_string(), "ANY".to_string())
                    } else {
                        (
                            req_str(event_props, "Path", &event_ctx)?,
                            req_str(event_props, "Method", &event_ctx)?.to_ascii_uppercase(),
                        )
                    };
                    routes.push(Route { path, method, function: logical_id.to_string(), binary: binary.clone() });
                }
                "DynamoDB" => {
                    let stream = event_props.get("Stream").ok_or_else(|| invalid(format!("{event_ctx}: no Stream")))?;
                    let table = get_att_target(stream)
                        .ok_or_else(|| invalid(format!("{event_ctx}: Stream must be !GetAtt <Table>.StreamArn")))?;
                    stream_sources.push(StreamSource {
                        event: event_name.clone(),
                        table,
                        starting_position: opt_str(event_props, "StartingPosition")?,
                        batch_size: event_props.get("BatchSize").and_then(Value::as_u64),
                        reports_batch_item_failures: reports_batch_item_failures(event_props, &event_ctx)?,
                        bisect_on_error: event_props.get("BisectBatchOnFunctionError").map(truthy).unwrap_or(false),
                        maximum_retry_attempts: event_props.get("MaximumRetryAttempts").and_then(Value::as_i64),
                        maximum_record_age_seconds: event_props
                            .get("MaximumRecordAgeInSeconds")
                            .and_then(Value::as_i64),
                        on_failure: event_props
                            .get("DestinationConfig")
                            .and_then(|d| d.get("OnFailure"))
                            .and_then(|o| o.get("Destination"))
                            .and_then(get_att_target),
                    });
                }
                "SQS" => queue_sources.push(parse_queue_source(&event_name, event_props, &event_ctx)?),
                "Schedule" | "ScheduleV2" => {
                    let key = if kind == "Schedule" { "Schedule" } else { "ScheduleExpression" };
                    schedules.push(req_str(event_props, key, &event_ctx)?);
                    schedule_dead_letters
                        .push(event_props.get("DeadLetterConfig").and_then(|d| d.get("Arn")).and_then(get_att_target));
                }
                _ => {}
            }
        }
    }

    Ok((
        Function {
            logical_id: logical_id.to_string(),
            binary,
            code_uri,
            environment,
            policy_statements,
            named_policies,
            stream_sources,
            schedules,
            schedule_dead_letters,
            queue_sources,
            timeout_seconds: opt_u32(props, "Timeout", &format!("function {logical_id}"))?.unwrap_or(default_timeout),
        },
        routes,
    ))
}

/// An intrinsic function call, in short (`!GetAtt A.B`) or long (`{"Fn::GetAtt": [A, B]}`) form,
/// as its long name (`Ref`, `Fn::GetAtt`, `Fn::Sub`, ...) and argument.
pub fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = if name == "Ref" || name == "Condition" { name.to_string() } else { format!("Fn::{name}") };
            Some((long, &tagged.value))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, arg) = map.iter().next()?;
            let key = key.as_str()?;
            (key == "Ref" || key.starts_with("Fn::")).then(|| (key.to_string(), arg))
        }
        _ => None,
    }
}

/// `(logical id, attribute)` of a `GetAtt`, either form.
pub fn get_att(value: &Value) -> Option<(String, String)> {
    let (name, arg) = intrinsic(value)?;
    if name != "Fn::GetAtt" {
        return None;
    }
    match arg {
        Value::String(s) => {
            let (id, attr) = s.split_once('.')?;
            Some((id.to_string(), attr.to_string()))
        }
        Value::Sequence(list) if list.len() == 2 => Some((scalar(&list[0])?, scalar(&list[1])?)),
        _ => None,
    }
}

fn get_att_target(value: &Value) -> Option<String> {
    get_att(value).map(|(id, _)| id)
}

/// A plain scalar as a string (numbers and booleans included); `None` for anything else.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn opt_scalar(value: Option<&Value>) -> Option<String> {
    value.and_then(scalar)
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn mapping(value: &Value, ctx: &str) -> Result<Vec<(String, Value)>, TemplateError> {
    let map = value.as_mapping().ok_or_else(|| invalid(format!("{ctx} is not a mapping")))?;
    map.iter()
        .map(|(k, v)| {
            let key = scalar(k).ok_or_else(|| invalid(format!("{ctx}: non-scalar key")))?;
            Ok((key, v.clone()))
        })
        .collect()
}

fn sequence<'a>(value: Option<&'a Value>, ctx: &str) -> Result<&'a [Value], TemplateError> {
    value
        .and_then(Value::as_sequence)
        .map(Vec::as_slice)
        .ok_or_else(|| invalid(format!("{ctx} is missing or not a list")))
}

fn opt_str(value: &Value, key: &str) -> Result<Option<String>, TemplateError> {
    match value.get(key) {
        None => Ok(None),
        Some(v) => scalar(v).map(Some).ok_or_else(|| invalid(format!("{key} must be a plain value here"))),
    }
}

fn req_str(value: &Value, key: &str, ctx: &str) -> Result<String, TemplateError> {
    value.get(key).and_then(scalar).ok_or_else(|| invalid(format!("{ctx}: {key} is missing or not a plain value")))
}

fn req_int(value: &Value, key: &str, ctx: &str) -> Result<i64, TemplateError> {
    value
        .get(key)
        .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
        .ok_or_else(|| invalid(format!("{ctx}: {key} is missing or not an integer")))
}

/// An optional non-negative integer that fits SQS's and Lambda's settings.
fn opt_u32(value: &Value, key: &str, ctx: &str) -> Result<Option<u32>, TemplateError> {
    match value.get(key) {
        None => Ok(None),
        Some(_) => {
            let n = req_int(value, key, ctx)?;
            u32::try_from(n).map(Some).map_err(|_| invalid(format!("{ctx}: {key} {n} is out of range")))
        }
    }
}

fn string_or_list(value: Option<&Value>, ctx: &str) -> Result<Vec<String>, TemplateError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Sequence(list)) => {
            list.iter().map(|v| scalar(v).ok_or_else(|| invalid(format!("{ctx}: non-scalar entry")))).collect()
        }
        Some(v) => scalar(v).map(|s| vec![s]).ok_or_else(|| invalid(format!("{ctx}: not a string or list"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SAMPLE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Origins: {Type: CommaDelimitedList, Default: "http://a,http://b"}
  Secret: {Type: String, NoEcho: true}
Globals:
  Function:
    Environment:
      Variables:
        TABLE: !Ref Things
        ORIGINS: !Join [",", !Ref Origins]
Resources:
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: gsi1pk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema: [{AttributeName: gsi1pk, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [name]}
      StreamSpecification: {StreamViewType: NEW_IMAGE}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Files:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      CorsConfiguration:
        CorsRules:
          - AllowedMethods: [PUT]
            AllowedOrigins: !Ref Origins
            AllowedHeaders: [content-type]
            MaxAge: 600
  GetThing:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: things-get}}
    Properties:
      CodeUri: functions/things
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:GetItem
              Resource: !GetAtt Things.Arn
        - DynamoDBReadPolicy: {TableName: !Ref Things}
      Events:
        Api:
          Type: HttpApi
          Properties: {Path: "/things/{id}", Method: get}
  Relay:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: relay}}
    Properties:
      CodeUri: functions/relay
      Environment: {Variables: {MODE: fast}}
      Events:
        S:
          Type: DynamoDB
          Properties:
            Stream: {"Fn::GetAtt": [Things, StreamArn]}
            StartingPosition: TRIM_HORIZON
            BatchSize: 10
"#;

    #[test]
    fn short_form_tags_do_not_break_parsing_and_are_kept() {
        let t = Template::parse(SAMPLE).unwrap();
        let table = intrinsic(&t.global_environment["TABLE"]).unwrap();
        assert_eq!(table.0, "Ref");
        assert_eq!(table.1.as_str(), Some("Things"));
        assert_eq!(intrinsic(&t.global_environment["ORIGINS"]).unwrap().0, "Fn::Join");
    }

    #[test]
    fn tables_carry_keys_indexes_stream_and_ttl() {
        let t = Template::parse(SAMPLE).unwrap();
        let table = t.table("Things").unwrap();
        assert_eq!(table.key_schema.len(), 1);
        assert_eq!(table.key_schema[0].key_type, KeyType::Hash);
        assert_eq!(table.attributes.len(), 2);
        assert_eq!(table.billing, Billing::PayPerRequest);
        assert_eq!(table.global_secondary_indexes[0].index_name, "gsi1");
        assert_eq!(table.global_secondary_indexes[0].projection_type, "INCLUDE");
        assert_eq!(table.global_secondary_indexes[0].non_key_attributes, ["name"]);
        assert_eq!(table.stream_view_type.as_deref(), Some("NEW_IMAGE"));
        assert_eq!(table.ttl_attribute.as_deref(), Some("ttl"));
        assert!(t.buckets.contains_key("Files"));
    }

    #[test]
    fn buckets_carry_versioning_and_cors_rules_with_origins_unresolved() {
        let t = Template::parse(SAMPLE).unwrap();
        let files = &t.buckets["Files"];
        assert!(files.versioning);
        assert_eq!(files.bucket_name, None);
        assert_eq!(files.cors_rules.len(), 1);
        let rule = &files.cors_rules[0];
        assert_eq!(rule.allowed_methods, ["PUT"]);
        assert_eq!(rule.allowed_headers, ["content-type"]);
        assert_eq!(rule.max_age, Some(600));
        assert_eq!(intrinsic(&rule.allowed_origins).unwrap().0, "Ref");
    }

    #[test]
    fn routes_name_method_path_function_and_binary() {
        let t = Template::parse(SAMPLE).unwrap();
        assert_eq!(
            t.routes,
            vec![Route {
                path: "/things/{id}".into(),
                method: "GET".into(),
                function: "GetThing".into(),
                binary: "things-get".into(),
            }]
        );
    }

    #[test]
    fn policies_and_stream_sources_are_read() {
        let t = Template::parse(SAMPLE).unwrap();
        let get = &t.functions["GetThing"];
        assert_eq!(get.policy_statements[0].actions, ["dynamodb:GetItem"]);
        assert_eq!(get_att(&get.policy_statements[0].resources[0]), Some(("Things".into(), "Arn".into())));
        assert_eq!(get.named_policies, ["DynamoDBReadPolicy"]);
        let relay = &t.functions["Relay"];
        assert_eq!(relay.stream_sources[0].table, "Things");
        assert_eq!(relay.stream_sources[0].batch_size, Some(10));
        assert_eq!(t.function_environment(relay).len(), 3);
    }

    #[test]
    fn parameters_keep_defaults_and_no_echo() {
        let t = Template::parse(SAMPLE).unwrap();
        assert_eq!(t.parameters["Origins"].default.as_deref(), Some("http://a,http://b"));
        assert!(t.parameters["Secret"].no_echo);
        assert_eq!(t.parameters["Secret"].default, None);
    }

    #[test]
    fn a_function_without_a_binary_is_refused() {
        let text = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: x}\n";
        let err = Template::parse(text).unwrap_err().to_string();
        assert!(err.contains("BuildProperties.Binary"), "{err}");
    }

    #[test]
    fn the_workspace_websocket_api_has_its_stage_routes_functions_and_ticket_authorizer() {
        let t = Template::load_workspace().unwrap();
        assert_eq!(t.websocket_apis.len(), 1);
        let api = &t.websocket_apis["RealtimeApi"];
        assert_eq!(api.route_selection_expression, "$request.body.action");
        assert_eq!(api.stage.as_deref(), Some("live"));
        assert_eq!(t.stages["RealtimeStage"].name, "live");
        assert_eq!(t.stages["RealtimeStage"].api, "RealtimeApi");
        let keys: Vec<&str> = api.routes.iter().map(|r| r.route_key.as_str()).collect();
        assert_eq!(keys, ["$connect", "$default", "$disconnect"]);
        let binary = |key: &str| api.route(key).and_then(|r| r.integration.as_ref()).map(|i| i.binary.clone());
        assert_eq!(binary("$connect").as_deref(), Some("realtime-connect"));
        assert_eq!(binary("$disconnect").as_deref(), Some("realtime-disconnect"));
        assert_eq!(binary("$default").as_deref(), Some("realtime-message"));

        let connect = api.route("$connect").unwrap();
        assert_eq!(connect.authorization_type, "CUSTOM");
        let authorizer = connect.authorizer.as_ref().unwrap();
        assert_eq!(authorizer.logical_id, "RealtimeAuthorizer");
        assert_eq!(
            authorizer.function,
            LambdaTarget { function: "RealtimeAuthorizeFunction".into(), binary: "realtime-authorize".into() }
        );
        assert_eq!(authorizer.identity_sources, ["route.request.querystring.ticket"]);
        for key in ["$disconnect", "$default"] {
            let route = api.route(key).unwrap();
            assert_eq!((route.authorization_type.as_str(), route.authorizer.is_none()), ("NONE", true), "{key}");
        }
        assert!(t.http_apis.contains(&"HubApi".to_string()));
    }

    const WEBSOCKET: &str = r#"
Resources:
  Ws:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.op}
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {ProtocolType: HTTP}
  WsStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Ws, StageName: dev}
  Echo:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: echo}}
    Properties: {CodeUri: x}
  Auth:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: auth}}
    Properties: {CodeUri: x}
  EchoRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: echo
      Target: !Join ["/", [integrations, !Ref EchoIntegration]]
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Ws, RouteKey: $connect, AuthorizationType: CUSTOM, AuthorizerId: !Ref Authorizer}
  HttpRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Http, RouteKey: GET /x, Target: !Sub "integrations/${Nowhere}"}
  EchoIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Ws, IntegrationType: AWS_PROXY, IntegrationUri: !GetAtt Echo.Arn}
  Authorizer:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Ws
      AuthorizerType: REQUEST
      AuthorizerUri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Auth.Arn}/invocations"
      IdentitySource: [route.request.header.Auth, route.request.querystring.t]
"#;

    #[test]
    fn websocket_routes_take_either_target_form_and_a_route_without_target_has_no_integration() {
        let t = Template::parse(WEBSOCKET).unwrap();
        assert_eq!(t.websocket_apis.keys().collect::<Vec<_>>(), ["Ws"], "an HTTP v2 API is not a WebSocket one");
        let api = &t.websocket_apis["Ws"];
        assert_eq!((api.stage.as_deref(), api.route_selection_expression.as_str()), (Some("dev"), "$request.body.op"));
        assert_eq!(api.route("echo").unwrap().integration.as_ref().unwrap().binary, "echo");
        let connect = api.route("$connect").unwrap();
        assert_eq!(connect.integration, None);
        let authorizer = connect.authorizer.as_ref().unwrap();
        assert_eq!(authorizer.function.binary, "auth");
        assert_eq!(authorizer.identity_sources, ["route.request.header.Auth", "route.request.querystring.t"]);
    }

    #[test]
    fn a_websocket_route_to_a_missing_integration_or_function_is_refused_by_name() {
        let text = WEBSOCKET.replace("!Ref EchoIntegration", "!Ref Missing");
        let err = Template::parse(&text).unwrap_err().to_string();
        assert!(err.contains("EchoRoute") && err.contains("Missing"), "{err}");
        let text = WEBSOCKET.replace("!GetAtt Echo.Arn", "!GetAtt Gone.Arn");
        let err = Template::parse(&text).unwrap_err().to_string();
        assert!(err.contains("Gone"), "{err}");
        let text = WEBSOCKET.replace("IntegrationType: AWS_PROXY", "IntegrationType: MOCK");
        let err = Template::parse(&text).unwrap_err().to_string();
        assert!(err.contains("MOCK"), "{err}");
    }

    const QUEUES: &str = r#"
Globals:
  Function: {Timeout: 20}
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      MessageRetentionPeriod: 86400
      RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDlq.Arn, maxReceiveCount: 3}
  JobsDlq:
    Type: AWS::SQS::Queue
    Properties: {MessageRetentionPeriod: 1209600}
  Ordered:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true, ContentBasedDeduplication: true}
  Worker:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: worker}}
    Properties:
      CodeUri: x
      Timeout: 30
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: 3}
  Plain:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: plain}}
    Properties:
      CodeUri: x
      Events:
        Ordered: {Type: SQS, Properties: {Queue: !GetAtt Ordered.Arn, Enabled: false}}
"#;

    #[test]
    fn queues_carry_their_attributes_and_redrive_policy() {
        let t = Template::parse(QUEUES).unwrap();
        let jobs = &t.queues["Jobs"];
        assert_eq!((jobs.visibility_timeout, jobs.message_retention_period), (Some(180), Some(86400)));
        assert_eq!(jobs.redrive, Some(Redrive { dead_letter_queue: "JobsDlq".into(), max_receive_count: 3 }));
        assert!(!jobs.fifo);
        let dlq = &t.queues["JobsDlq"];
        assert_eq!((dlq.redrive.as_ref(), dlq.visibility_timeout()), (None, DEFAULT_VISIBILITY_TIMEOUT));
        let ordered = &t.queues["Ordered"];
        assert!(ordered.fifo && ordered.content_based_deduplication);
    }

    #[test]
    fn sqs_events_carry_batching_failures_and_concurrency_with_lambdas_defaults() {
        let t = Template::parse(QUEUES).unwrap();
        let worker = &t.functions["Worker"];
        assert_eq!(worker.timeout_seconds, 30);
        assert_eq!(
            worker.queue_sources,
            [QueueSource {
                event: "Jobs".into(),
                queue: "Jobs".into(),
                batch_size: 5,
                maximum_batching_window_seconds: 2,
                reports_batch_item_failures: true,
                maximum_concurrency: Some(3),
                enabled: true,
            }]
        );
        let plain = &t.functions["Plain"];
        assert_eq!(plain.timeout_seconds, 20, "the global Timeout");
        let source = &plain.queue_sources[0];
        assert_eq!((source.batch_size, source.maximum_batching_window_seconds), (10, 0));
        assert!(!source.reports_batch_item_failures && !source.enabled);
        assert_eq!(source.maximum_concurrency, None);
    }

    #[test]
    fn queue_settings_aws_would_refuse_are_refused_by_name() {
        for (changes, expected) in [
            (&[("!GetAtt JobsDlq.Arn", "!GetAtt Nowhere.Arn")][..], "Nowhere"),
            (&[("!GetAtt Jobs.Arn", "!GetAtt Missing.Arn")], "Missing"),
            (&[("!GetAtt Jobs.Arn", "!Ref Jobs")], "Queue must be !GetAtt"),
            (&[("maxReceiveCount: 3", "maxReceiveCount: 0")], "maxReceiveCount"),
            (&[("BatchSize: 5", "BatchSize: 0")], "BatchSize"),
            (&[("MaximumConcurrency: 3", "MaximumConcurrency: 1")], "MaximumConcurrency"),
            (&[("Enabled: false", "BatchSize: 20, MaximumBatchingWindowInSeconds: 1")], "FIFO"),
            (
                &[("BatchSize: 5", "BatchSize: 11"), ("BatchingWindowInSeconds: 2", "BatchingWindowInSeconds: 0")],
                "needs MaximumBatchingWindowInSeconds",
            ),
        ] {
            let text = changes.iter().fold(QUEUES.to_string(), |text, (from, to)| text.replacen(from, to, 1));
            let err = Template::parse(&text).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(expected), "{changes:?}: {err}");
        }
    }

    #[test]
    fn the_workspace_template_parses() {
        let t = Template::load_workspace().unwrap();
        assert!(t.tables.contains_key("BusinessTable"));
        assert!(!t.routes.is_empty());
    }
}
