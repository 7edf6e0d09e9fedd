//! The functions' environment for the local stack, computed from template.yaml.
//!
//! The template's `Environment.Variables` say which variable holds which table name or parameter
//! (`HUB_TABLE: !Ref BusinessTable`). Resolving those same expressions against local names and
//! local parameter values means a variable added to the template reaches local functions too,
//! with no second list to keep in step.
//!
//! Supported: plain scalars, `Ref` (parameters, pseudo parameters, tables, buckets, queues (their
//! URL, as CloudFormation gives), APIs and their stages), `GetAtt` (`Arn`, `StreamArn` of tables;
//! `Arn` of buckets; `Arn`, `QueueName`, `QueueUrl` of queues), `Join`, `Sub` (both forms),
//! `Select`.
//! Anything else is an error that names the variable, never a silently wrong value.
//!
//! An API's deployed URL (`https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/...`, or
//! `wss://` for a WebSocket API) becomes the URL of the local gateway that serves that API
//! (`http://127.0.0.1:<port>/...`, `ws://`), whichever variable holds it: a function that calls
//! an API of the stack calls the local one.

use crate::template::{Template, intrinsic, scalar};
use serde_yaml::Value;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug)]
pub struct ResolveError(pub String);

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ResolveError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ResolveError> {
    Err(ResolveError(msg.into()))
}

/// Local stand-ins for what CloudFormation would know at deploy time.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Parameter values; a parameter missing here takes its template `Default`.
    pub parameters: BTreeMap<String, String>,
    /// Physical names of tables and buckets, by logical id.
    pub names: BTreeMap<String, String>,
    /// Stream ARNs of tables, by logical id (known once the tables exist).
    pub stream_arns: BTreeMap<String, String>,
    /// URLs of queues, by logical id (known once the queues exist: the emulator's endpoint is in
    /// them).
    pub queue_urls: BTreeMap<String, String>,
    pub stack_name: String,
    /// Where each API of the template is served locally, by logical id (see [`local_apis`]).
    pub apis: BTreeMap<String, LocalApi>,
}

/// An API of the template as the local stack serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalApi {
    /// What `!Ref` of the API gives, deployed its generated id: [`local_api_id`].
    pub id: String,
    /// `host:port` of the local gateway that serves it.
    pub authority: String,
}

/// The local id of an API: its logical id in lower case, so that events, ARNs and URLs name it
/// recognizably (`RealtimeApi` -> `realtimeapi`).
pub fn local_api_id(logical_id: &str) -> String {
    logical_id.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// Every API of the template served locally: the HTTP APIs on `http_authority` (the API port),
/// the WebSocket APIs on `websocket_authority`.
pub fn local_apis(template: &Template, http_authority: &str, websocket_authority: &str) -> BTreeMap<String, LocalApi> {
    let http = template.http_apis.iter().map(|id| (id, http_authority));
    let websocket = template.websocket_apis.keys().map(|id| (id, websocket_authority));
    http.chain(websocket)
        .map(|(id, authority)| (id.clone(), LocalApi { id: local_api_id(id), authority: authority.to_string() }))
        .collect()
}

/// A resolved value: CloudFormation values are strings or lists of strings, or nothing at all
/// (`AWS::NoValue`, which removes the variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Str(String),
    List(Vec<String>),
    NoValue,
}

/// The environment every local function gets: the union of all functions' environments. Since
/// `cargo lambda watch` gives one environment to all functions, two functions that would see
/// different values for the same variable are reported rather than guessed at.
pub fn functions_environment(template: &Template, ctx: &Context) -> Result<BTreeMap<String, String>, ResolveError> {
    let mut env: BTreeMap<String, (String, String)> = BTreeMap::new();
    for function in template.functions.values() {
        for (key, raw) in template.function_environment(function) {
            let value = match resolve(template, ctx, &raw)
                .map_err(|e| ResolveError(format!("{key} of {}: {e}", function.logical_id)))?
            {
                Resolved::Str(s) => s,
                Resolved::List(items) => items.join(","),
                Resolved::NoValue => continue,
            };
            if let Some((other_fn, other)) = env.get(&key)
                && *other != value
            {
                return err(format!(
                    "{key} differs between {other_fn} and {}; the local stack gives all functions one environment",
                    function.logical_id
                ));
            }
            env.insert(key, (function.logical_id.clone(), value));
        }
    }
    Ok(env.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

pub fn resolve(template: &Template, ctx: &Context, value: &Value) -> Result<Resolved, ResolveError> {
    Ok(match resolve_raw(template, ctx, value)? {
        Resolved::Str(s) => Resolved::Str(localize_api_urls(ctx, &s)),
        Resolved::List(items) => Resolved::List(items.iter().map(|s| localize_api_urls(ctx, s)).collect()),
        Resolved::NoValue => Resolved::NoValue,
    })
}

/// Deployed URLs of the stack's APIs turned into their local gateways' URLs (TLS schemes to
/// their plain-text local counterparts).
fn localize_api_urls(ctx: &Context, text: &str) -> String {
    let mut out = text.to_string();
    for api in ctx.apis.values() {
        let host = format!("{}.execute-api.{}.amazonaws.com", api.id, crate::LOCAL_REGION);
        for (deployed, local) in [("https", "http"), ("wss", "ws"), ("http", "http"), ("ws", "ws")] {
            out = out.replace(&format!("{deployed}://{host}"), &format!("{local}://{}", api.authority));
        }
    }
    out
}

fn resolve_raw(template: &Template, ctx: &Context, value: &Value) -> Result<Resolved, ResolveError> {
    if let Some(s) = scalar(value) {
        return Ok(Resolved::Str(s));
    }
    if let Value::Sequence(items) = value {
        let mut out = Vec::new();
        for item in items {
            match resolve_raw(template, ctx, item)? {
                Resolved::Str(s) => out.push(s),
                Resolved::List(list) => out.extend(list),
                Resolved::NoValue => {}
            }
        }
        return Ok(Resolved::List(out));
    }
    let Some((name, arg)) = intrinsic(value) else {
        return err(format!("cannot resolve {value:?}"));
    };
    match name.as_str() {
        "Ref" => {
            let Some(target) = arg.as_str() else {
                return err("Ref takes a name");
            };
            reference(template, ctx, target)
        }
        "Fn::GetAtt" => {
            let Some((id, attr)) = crate::template::get_att(value) else {
                return err("GetAtt takes Resource.Attribute");
            };
            get_att(template, ctx, &id, &attr).map(Resolved::Str)
        }
        "Fn::Join" => {
            let Some([delimiter, list]) = arg.as_sequence().map(Vec::as_slice).and_then(pair) else {
                return err("Join takes [delimiter, list]");
            };
            let delimiter = scalar(delimiter).unwrap_or_default();
            match resolve_raw(template, ctx, list)? {
                Resolved::List(items) => Ok(Resolved::Str(items.join(&delimiter))),
                Resolved::Str(s) => Ok(Resolved::Str(s)),
                Resolved::NoValue => Ok(Resolved::Str(String::new())),
            }
        }
        "Fn::Select" => {
            let Some([index, list]) = arg.as_sequence().map(Vec::as_slice).and_then(pair) else {
                return err("Select takes [index, list]");
            };
            let index: usize = match resolve_raw(template, ctx, index)? {
                Resolved::Str(s) => s.parse().map_err(|_| ResolveError("Select index".into()))?,
                _ => return err("Select index"),
            };
            match resolve_raw(template, ctx, list)? {
                Resolved::List(items) => items
                    .get(index)
                    .cloned()
                    .map(Resolved::Str)
                    .ok_or_else(|| ResolveError("Select index out of range".into())),
                _ => err("Select takes a list"),
            }
        }
        "Fn::Sub" => {
            let (text, vars) = match arg {
                Value::String(s) => (s.clone(), None),
                Value::Sequence(items) if items.len() == 2 => match (scalar(&items[0]), &items[1]) {
                    (Some(s), Value::Mapping(map)) => (s, Some(map)),
                    _ => return err("Sub takes a string or [string, mapping]"),
                },
                _ => return err("Sub takes a string or [string, mapping]"),
            };
            substitute(template, ctx, &text, vars).map(Resolved::Str)
        }
        other => err(format!("{other} is not supported by the local stack")),
    }
}

fn pair(items: &[Value]) -> Option<[&Value; 2]> {
    match items {
        [a, b] => Some([a, b]),
        _ => None,
    }
}

fn reference(template: &Template, ctx: &Context, target: &str) -> Result<Resolved, ResolveError> {
    match target {
        "AWS::Region" => return Ok(Resolved::Str(crate::LOCAL_REGION.into())),
        "AWS::AccountId" => return Ok(Resolved::Str(crate::LOCAL_ACCOUNT_ID.into())),
        "AWS::Partition" => return Ok(Resolved::Str("aws".into())),
        "AWS::URLSuffix" => return Ok(Resolved::Str("amazonaws.com".into())),
        "AWS::StackName" => return Ok(Resolved::Str(ctx.stack_name.clone())),
        "AWS::NoValue" => return Ok(Resolved::NoValue),
        _ => {}
    }
    if let Some(parameter) = template.parameters.get(target) {
        let value = ctx
            .parameters
            .get(target)
            .cloned()
            .or_else(|| parameter.default.clone())
            .ok_or_else(|| ResolveError(format!("parameter {target} has no local value and no Default")))?;
        return Ok(if parameter.kind.starts_with("CommaDelimitedList") || parameter.kind.starts_with("List<") {
            Resolved::List(value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        } else {
            Resolved::Str(value)
        });
    }
    if template.queues.contains_key(target) {
        return queue_url(ctx, target).map(Resolved::Str);
    }
    if let Some(name) = ctx.names.get(target) {
        return Ok(Resolved::Str(name.clone()));
    }
    if let Some(api) = ctx.apis.get(target) {
        return Ok(Resolved::Str(api.id.clone()));
    }
    if let Some(stage) = template.stages.get(target) {
        return Ok(Resolved::Str(stage.name.clone()));
    }
    err(format!("Ref {target}: no such parameter, or no local name for that resource"))
}

fn get_att(template: &Template, ctx: &Context, id: &str, attr: &str) -> Result<String, ResolveError> {
    let name = ctx.names.get(id).ok_or_else(|| ResolveError(format!("GetAtt {id}.{attr}: no local name for {id}")))?;
    let (region, account) = (crate::LOCAL_REGION, crate::LOCAL_ACCOUNT_ID);
    if template.tables.contains_key(id) {
        return match attr {
            "Arn" => Ok(format!("arn:aws:dynamodb:{region}:{account}:table/{name}")),
            "StreamArn" => ctx
                .stream_arns
                .get(id)
                .cloned()
                .ok_or_else(|| ResolveError(format!("GetAtt {id}.StreamArn: no stream yet"))),
            _ => err(format!("GetAtt {id}.{attr} is not supported locally")),
        };
    }
    if template.buckets.contains_key(id) {
        return match attr {
            "Arn" => Ok(format!("arn:aws:s3:::{name}")),
            _ => err(format!("GetAtt {id}.{attr} is not supported locally")),
        };
    }
    if template.queues.contains_key(id) {
        return match attr {
            "Arn" => Ok(queue_arn(name)),
            "QueueName" => Ok(name.clone()),
            "QueueUrl" => queue_url(ctx, id),
            _ => err(format!("GetAtt {id}.{attr} is not supported locally")),
        };
    }
    err(format!("GetAtt {id}.{attr}: unknown resource"))
}

/// The ARN of the local queue named `name`, as SQS (and the emulator) forms it.
pub fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{name}", crate::LOCAL_REGION, crate::LOCAL_ACCOUNT_ID)
}

fn queue_url(ctx: &Context, id: &str) -> Result<String, ResolveError> {
    ctx.queue_urls.get(id).cloned().ok_or_else(|| ResolveError(format!("queue {id} has no URL yet (not provisioned)")))
}

fn substitute(
    template: &Template,
    ctx: &Context,
    text: &str,
    vars: Option<&serde_yaml::Mapping>,
) -> Result<String, ResolveError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        // `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
        if let Some(literal) = after.strip_prefix('!') {
            out.push_str("${");
            rest = literal;
            continue;
        }
        let Some(end) = after.find('}') else {
            return err(format!("unclosed ${{ in Sub {text:?}"));
        };
        let name = &after[..end];
        let local = vars.and_then(|m| m.get(name));
        let value = match local {
            Some(v) => resolve_raw(template, ctx, v)?,
            None => match name.split_once('.') {
                Some((id, attr)) if !name.starts_with("AWS::") => Resolved::Str(get_att(template, ctx, id, attr)?),
                _ => reference(template, ctx, name)?,
            },
        };
        match value {
            Resolved::Str(s) => out.push_str(&s),
            Resolved::List(items) => out.push_str(&items.join(",")),
            Resolved::NoValue => {}
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SAMPLE: &str = r#"
Parameters:
  Origins: {Type: CommaDelimitedList, Default: "http://a, http://b"}
  Secret: {Type: String, NoEcho: true}
  Empty: {Type: String, Default: ""}
Globals:
  Function:
    Environment:
      Variables:
        TABLE: !Ref Things
        ORIGINS: !Join [",", !Ref Origins]
        SECRET: !Ref Secret
        EMPTY: !Ref Empty
        ARN: !GetAtt Things.Arn
        SUBBED: !Sub "${AWS::Region}/${Things}/${Things.Arn}/${!Literal}"
        FIRST: !Select [0, !Ref Origins]
        GONE: !Ref AWS::NoValue
Resources:
  Things:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  A:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: a}}
    Properties: {CodeUri: x, Environment: {Variables: {ONLY_A: "1"}}}
  B:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: b}}
    Properties: {CodeUri: x, Environment: {Variables: {SECRET: !Sub "${Secret}"}}}
"#;

    fn ctx() -> Context {
        Context {
            parameters: [("Secret".to_string(), "s3cr3t".to_string())].into(),
            names: [("Things".to_string(), "local-things".to_string())].into(),
            stream_arns: BTreeMap::new(),
            queue_urls: BTreeMap::new(),
            stack_name: "hub-local".into(),
            apis: BTreeMap::new(),
        }
    }

    #[test]
    fn a_queue_resolves_to_its_local_url_arn_and_name() {
        let text = r#"
Resources:
  Jobs: {Type: AWS::SQS::Queue}
  F:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: f}}
    Properties:
      CodeUri: x
      Environment:
        Variables:
          REF: !Ref Jobs
          ARN: !GetAtt Jobs.Arn
          NAME: !GetAtt Jobs.QueueName
          URL: !GetAtt Jobs.QueueUrl
          SUBBED: !Sub "${Jobs.Arn} ${Jobs}"
"#;
        let t = Template::parse(text).unwrap();
        let url = "http://127.0.0.1:9100/123456789012/local-jobs";
        let mut c = Context { names: [("Jobs".to_string(), "local-jobs".to_string())].into(), ..Context::default() };
        let e = functions_environment(&t, &c).unwrap_err().to_string();
        assert!(e.contains("Jobs has no URL yet"), "{e}");
        c.queue_urls.insert("Jobs".into(), url.into());
        let env = functions_environment(&t, &c).unwrap();
        let arn = "arn:aws:sqs:us-east-1:123456789012:local-jobs";
        assert_eq!(env["REF"], url, "!Ref of a queue is its URL, as CloudFormation gives");
        assert_eq!((env["ARN"].as_str(), env["NAME"].as_str(), env["URL"].as_str()), (arn, "local-jobs", url));
        assert_eq!(env["SUBBED"], format!("{arn} {url}"));
    }

    #[test]
    fn the_template_expressions_resolve_to_local_values() {
        let t = Template::parse(SAMPLE).unwrap();
        let env = functions_environment(&t, &ctx()).unwrap();
        assert_eq!(env["TABLE"], "local-things");
        assert_eq!(env["ORIGINS"], "http://a,http://b");
        assert_eq!(env["SECRET"], "s3cr3t");
        assert_eq!(env["EMPTY"], "");
        assert_eq!(env["ARN"], "arn:aws:dynamodb:us-east-1:123456789012:table/local-things");
        assert_eq!(
            env["SUBBED"],
            "us-east-1/local-things/arn:aws:dynamodb:us-east-1:123456789012:table/local-things/${Literal}"
        );
        assert_eq!(env["FIRST"], "http://a");
        assert_eq!(env["ONLY_A"], "1");
        assert!(!env.contains_key("GONE"));
    }

    #[test]
    fn an_apis_deployed_urls_resolve_to_its_local_gateway_and_its_stage_to_its_name() {
        let t = Template::load_workspace().unwrap();
        let ctx = Context { apis: local_apis(&t, "127.0.0.1:9000", "127.0.0.1:9001"), ..Context::default() };
        assert_eq!(ctx.apis["RealtimeApi"].id, "realtimeapi");
        let resolve = |text: &str| resolve(&t, &ctx, &serde_yaml::from_str(text).unwrap()).unwrap();
        let url = |scheme: &str, api: &str, tail: &str| {
            resolve(&format!("!Sub \"{scheme}://${{{api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{tail}\""))
        };
        assert_eq!(url("wss", "RealtimeApi", "/${RealtimeStage}"), Resolved::Str("ws://127.0.0.1:9001/live".into()));
        assert_eq!(
            url("https", "RealtimeApi", "/${RealtimeStage}"),
            Resolved::Str("http://127.0.0.1:9001/live".into())
        );
        assert_eq!(url("https", "HubApi", ""), Resolved::Str("http://127.0.0.1:9000".into()));
        // An ARN of the API keeps its id: only URLs are local.
        assert_eq!(
            resolve("!Sub \"arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${RealtimeApi}/${RealtimeStage}/*\""),
            Resolved::Str("arn:aws:execute-api:us-east-1:123456789012:realtimeapi/live/*".into())
        );
    }

    #[test]
    fn the_realtime_functions_get_the_local_websocket_and_management_urls() {
        let t = Template::load_workspace().unwrap();
        let parameters =
            t.parameters.values().filter(|p| p.default.is_none()).map(|p| (p.name.clone(), "x".repeat(32))).collect();
        let names = crate::provision::names_with_prefix(&t, "t-");
        // Known once the queues exist; any URL will do here.
        let queue_urls = t.queues.keys().map(|id| (id.clone(), format!("http://127.0.0.1:1/{}", names[id]))).collect();
        let ctx = Context {
            parameters,
            names,
            queue_urls,
            apis: local_apis(&t, "127.0.0.1:9000", "127.0.0.1:9001"),
            ..Context::default()
        };
        let env = functions_environment(&t, &ctx).unwrap();
        assert_eq!(env["HUB_REALTIME_URL"], "ws://127.0.0.1:9001/live");
        assert_eq!(env["HUB_REALTIME_MANAGEMENT_URL"], "http://127.0.0.1:9001/live");
        assert_eq!(env["HUB_REALTIME_TABLE"], "t-RealtimeTable");
    }

    #[test]
    fn a_parameter_without_value_or_default_is_an_error_naming_it() {
        let t = Template::parse(SAMPLE).unwrap();
        let mut c = ctx();
        c.parameters.clear();
        let e = functions_environment(&t, &c).unwrap_err().to_string();
        assert!(e.contains("Secret"), "{e}");
    }

    #[test]
    fn functions_disagreeing_on_a_variable_are_reported() {
        let text = SAMPLE.replace("!Sub \"${Secret}\"", "other");
        let t = Template::parse(&text).unwrap();
        let e = functions_environment(&t, &ctx()).unwrap_err().to_string();
        assert!(e.contains("SECRET differs"), "{e}");
    }
}
