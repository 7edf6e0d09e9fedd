#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::template::Template;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn realtime_api() -> WebSocketApi {
    Template::load_workspace().unwrap().websocket_apis["RealtimeApi"].clone()
}

fn events() -> Events {
    Events { api_id: "realtimeapi".into(), stage: "live".into() }
}

fn connection() -> Connection {
    Connection {
        connection_id: "L0SM9cOFvHcCIhw=".into(),
        connected_at: 1_795_510_800_000,
        source_ip: "203.0.113.9".into(),
        user_agent: Some("tests".into()),
        domain_name: "127.0.0.1:9001".into(),
        authorizer: None,
    }
}

fn upgrade() -> UpgradeRequest {
    UpgradeRequest {
        headers: vec![
            ("host".into(), "127.0.0.1:9001".into()),
            ("sec-websocket-key".into(), "dGhlIHNhbXBsZSBub25jZQ==".into()),
            ("x-many".into(), "1".into()),
            ("x-many".into(), "2".into()),
        ],
        query: "ticket=a%2Bb&x=1&x=2".into(),
    }
}

#[test]
fn ids_are_sixteen_characters_of_standard_base64_from_eleven_random_bytes() {
    let ids: Vec<String> = (0..200).map(|_| random_id()).collect();
    for id in &ids {
        assert_eq!(id.len(), 16, "{id}");
        assert!(id.ends_with('='), "{id}");
        assert_eq!(STANDARD.decode(id).unwrap().len(), 11);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn paths_go_to_the_upgrade_or_the_management_api_with_the_id_decoded() {
    assert_eq!(target("live", "/live"), Target::Connect);
    assert_eq!(target("live", "/live/"), Target::Connect);
    assert_eq!(target("live", "/live/@connections/L0SM9cOFvHcCIhw%3D"), Target::Manage("L0SM9cOFvHcCIhw=".into()));
    assert_eq!(target("live", "/live/%40connections/a%2Bb%2Fc%3D"), Target::Manage("a+b/c=".into()));
    assert_eq!(target("live", "/live/@connections/a+b/c="), Target::Manage("a+b/c=".into()));
    assert_eq!(target("live", "/live/@connections/"), Target::Other);
    assert_eq!(target("live", "/other"), Target::Other);
    assert_eq!(target("live", "/lively"), Target::Other);
}

#[test]
fn a_message_takes_the_route_its_action_names_else_default() {
    let mut api = realtime_api();
    let key = |api: &WebSocketApi, text: &str| select_route(api, &Inbound::Text(text.into()));
    assert_eq!(key(&api, r#"{"action":"resume","since":"4"}"#).as_deref(), Some("$default"));
    assert_eq!(key(&api, "not json").as_deref(), Some("$default"));
    let mut ping = api.route("$default").unwrap().clone();
    ping.route_key = "ping".into();
    api.routes.push(ping);
    assert_eq!(key(&api, r#"{"action":"ping"}"#).as_deref(), Some("ping"));
    assert_eq!(key(&api, r#"{"action":"$disconnect"}"#).as_deref(), Some("$default"), "special keys are not actions");
    assert_eq!(select_route(&api, &Inbound::Binary(b"{\"action\":\"ping\"}".to_vec())).as_deref(), Some("$default"));
    api.route_selection_expression = "$request.body.meta.op".into();
    assert_eq!(key(&api, r#"{"meta":{"op":"ping"}}"#).as_deref(), Some("ping"));
    api.routes.retain(|r| r.route_key != "$default");
    assert_eq!(key(&api, r#"{"meta":{"op":"other"}}"#), None);
}

#[test]
fn an_api_whose_authorization_is_not_emulated_is_not_served() {
    let mut api = realtime_api();
    assert_eq!(servable(&api).as_deref(), Ok("live"));
    let connect = api.routes.iter_mut().find(|r| r.route_key == "$connect").unwrap();
    connect.authorization_type = "AWS_IAM".into();
    assert!(servable(&api).unwrap_err().contains("AWS_IAM"));
    api.stage = None;
    assert!(servable(&api).unwrap_err().contains("no stage"));
}

#[test]
fn iam_wildcards_match_as_in_a_policy() {
    let arn = "arn:aws:execute-api:us-east-1:123456789012:realtimeapi/live/$connect";
    assert!(glob(arn, arn));
    assert!(glob("arn:aws:execute-api:*:*:realtimeapi/*", arn));
    assert!(glob("*", arn));
    assert!(glob("arn:aws:execute-api:us-east-?:*/live/$connect", arn));
    assert!(!glob("arn:aws:execute-api:*:*:other/*", arn));
    assert!(!glob("arn:aws:execute-api:us-east-1:123456789012:realtimeapi/live", arn));
}

fn policy(effect: &str, resource: Value, context: Value) -> Outcome {
    Outcome::Answer(json!({
        "principalId": "u1",
        "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]},
        "context": context,
    }))
}

#[test]
fn the_authorizers_policy_decides_and_its_context_reaches_the_functions_stringified() {
    let arn = events().connect_method_arn();
    assert_eq!(arn, "arn:aws:execute-api:us-east-1:123456789012:realtimeapi/live/$connect");
    let allowed = authorize(&policy("Allow", json!(arn), json!({"org": "o1", "n": 3, "admin": true})), &arn);
    let Authorization::Allow(context) = allowed else { panic!("{allowed:?}") };
    assert_eq!(Value::Object(context), json!({"org": "o1", "n": "3", "admin": "true", "principalId": "u1"}));
    assert!(matches!(
        authorize(&policy("Allow", json!(["arn:aws:execute-api:*"]), json!(null)), &arn),
        Authorization::Allow(_)
    ));
    assert_eq!(authorize(&policy("Deny", json!(arn), json!({})), &arn), Authorization::Refuse(403));
    assert_eq!(
        authorize(&policy("Allow", json!("arn:aws:execute-api:*:*:other/*"), json!({})), &arn),
        Authorization::Refuse(403)
    );
    assert_eq!(authorize(&policy("Allow", json!(arn), json!({"nested": {"a": 1}})), &arn), Authorization::Refuse(500));
    assert_eq!(authorize(&Outcome::Answer(json!({"principalId": "u1"})), &arn), Authorization::Refuse(500));
    assert_eq!(authorize(&Outcome::Failed("Unauthorized".into()), &arn), Authorization::Refuse(401));
    assert_eq!(authorize(&Outcome::Failed("boom".into()), &arn), Authorization::Refuse(500));
    assert_eq!(authorize(&Outcome::Unreachable("refused".into()), &arn), Authorization::Refuse(500));
    let both = Outcome::Answer(json!({
        "principalId": "u1",
        "policyDocument": {"Statement": [
            {"Action": "*", "Effect": "Allow", "Resource": "*"},
            {"Action": "execute-api:*", "Effect": "Deny", "Resource": arn},
        ]},
    }));
    assert_eq!(authorize(&both, &arn), Authorization::Refuse(403), "an explicit deny wins");
}

#[test]
fn a_lambda_error_body_is_a_failure_whatever_the_status() {
    let error = br#"{"errorType":"&str","errorMessage":"Unauthorized"}"#;
    assert_eq!(Outcome::from_answer(200, error), Outcome::Failed("Unauthorized".into()));
    assert_eq!(Outcome::from_answer(500, error), Outcome::Failed("Unauthorized".into()));
    assert!(matches!(Outcome::from_answer(502, b"bad gateway"), Outcome::Failed(_)));
    assert_eq!(Outcome::from_answer(200, br#"{"statusCode":200}"#), Outcome::Answer(json!({"statusCode": 200})));
}

#[test]
fn identity_sources_must_be_present_and_not_empty() {
    let request = upgrade();
    assert!(request.has_identity("route.request.querystring.ticket"));
    assert!(!request.has_identity("route.request.querystring.other"));
    assert!(request.has_identity("route.request.header.X-Many"));
    assert!(!request.has_identity("route.request.header.Authorization"));
    let empty = UpgradeRequest { query: "ticket=".into(), ..UpgradeRequest::default() };
    assert!(!empty.has_identity("route.request.querystring.ticket"));
}

#[test]
fn the_authorizer_and_connect_events_carry_the_upgrade_request_as_api_gateway_sends_it() {
    let (events, connection, request) = (events(), connection(), upgrade());
    let event = events.authorizer_event(&connection, &request, 1_795_510_800_001);
    assert_eq!(event["type"], "REQUEST");
    assert_eq!(event["methodArn"], events.connect_method_arn());
    assert_eq!(event["queryStringParameters"], json!({"ticket": "a+b", "x": "2"}));
    assert_eq!(event["multiValueQueryStringParameters"], json!({"ticket": ["a+b"], "x": ["1", "2"]}));
    assert_eq!(event["headers"]["x-many"], "2");
    assert_eq!(event["multiValueHeaders"]["x-many"], json!(["1", "2"]));
    assert_eq!(event["headers"]["X-Forwarded-For"], "203.0.113.9");
    assert_eq!(event["headers"]["X-Forwarded-Port"], "9001");
    assert_eq!(event["stageVariables"], json!({}));
    let context = &event["requestContext"];
    for (key, value) in [
        ("routeKey", json!("$connect")),
        ("eventType", json!("CONNECT")),
        ("messageDirection", json!("IN")),
        ("stage", json!("live")),
        ("connectedAt", json!(1_795_510_800_000_i64)),
        ("requestTimeEpoch", json!(1_795_510_800_001_i64)),
        ("requestTime", json!("24/Nov/2026:09:00:00 +0000")),
        ("domainName", json!("127.0.0.1:9001")),
        ("connectionId", json!("L0SM9cOFvHcCIhw=")),
        ("apiId", json!("realtimeapi")),
        ("identity", json!({"sourceIp": "203.0.113.9", "userAgent": "tests"})),
    ] {
        assert_eq!(context[key], value, "{key}");
    }
    assert_eq!(context["requestId"], context["extendedRequestId"]);
    let parsed: ApiGatewayCustomAuthorizerRequestTypeRequest = serde_json::from_value(event).unwrap();
    assert_eq!(parsed.method_arn.as_deref(), Some(events.connect_method_arn().as_str()));
    assert_eq!(parsed.query_string_parameters.first("ticket"), Some("a+b"));

    let mut connection = connection;
    connection.authorizer =
        Some(json!({"principalId": "u1", "org": "o1", "integrationLatency": 3}).as_object().unwrap().clone());
    let event = events.connect_event(&connection, &request, 1_795_510_800_002);
    assert_eq!(event["isBase64Encoded"], false);
    assert_eq!(event["requestContext"]["authorizer"]["org"], "o1");
    let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event).unwrap();
    assert_eq!(parsed.request_context.event_type.as_deref(), Some("CONNECT"));
    assert_eq!(parsed.request_context.connection_id.as_deref(), Some("L0SM9cOFvHcCIhw="));
    assert_eq!(parsed.request_context.authorizer.fields["principalId"], "u1");
    assert_eq!(parsed.query_string_parameters.first("x"), Some("2"));
}

#[test]
fn message_and_disconnect_events_carry_the_connection_and_its_authorizer() {
    let (events, mut connection) = (events(), connection());
    connection.authorizer = Some(json!({"principalId": "u1"}).as_object().unwrap().clone());
    let text =
        events.message_event(&connection, "$default", &Inbound::Text(r#"{"action":"ping"}"#.into()), 1_795_510_800_003);
    assert_eq!((text["body"].as_str(), text["isBase64Encoded"].as_bool()), (Some(r#"{"action":"ping"}"#), Some(false)));
    assert!(text.get("headers").is_none(), "API Gateway sends messages without headers");
    let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(text).unwrap();
    let context = parsed.request_context;
    assert_eq!((context.event_type.as_deref(), context.route_key.as_deref()), (Some("MESSAGE"), Some("$default")));
    assert_eq!(context.message_id.map(|id| id.len()), Some(16));
    assert_eq!(context.authorizer.fields["principalId"], "u1");

    let binary = events.message_event(&connection, "$default", &Inbound::Binary(vec![0, 255]), 1_795_510_800_004);
    assert_eq!((binary["body"].as_str(), binary["isBase64Encoded"].as_bool()), (Some("AP8="), Some(true)));

    let end = End { code: 1001, reason: "Going away".into() };
    let event = events.disconnect_event(&connection, &end, 1_795_510_800_005);
    assert_eq!(event["headers"]["Host"], "127.0.0.1:9001");
    let parsed: ApiGatewayWebsocketProxyRequest = serde_json::from_value(event).unwrap();
    let context = parsed.request_context;
    assert_eq!(
        (context.event_type.as_deref(), context.route_key.as_deref()),
        (Some("DISCONNECT"), Some("$disconnect"))
    );
    assert_eq!(
        (context.disconnect_status_code, context.disconnect_reason.as_deref()),
        (Some(1001), Some("Going away"))
    );
    assert_eq!(context.authorizer.fields["principalId"], "u1");
}

// ---- The gateway on a port, in front of a fake watcher that plays the realtime functions. ----

/// An invocation the fake watcher received.
#[derive(Debug, Clone)]
struct Call {
    binary: String,
    event: Value,
}

/// The fake functions: the authorizer reads `ticket` (`good`, `deny`, `unauthorized`, `crash`),
/// `$connect` refuses a `refuse=<status>` query, and the message function fails on
/// `{"action":"fail"}` and posts `{"action":"echo","text":T}`'s text back to its own
/// connection through the management API before answering.
async fn fake_function(binary: &str, event: &Value, management: &str) -> (u16, Value) {
    match binary {
        "realtime-authorize" => match event.pointer("/queryStringParameters/ticket").and_then(Value::as_str) {
            Some("good") => (
                200,
                json!({
                    "principalId": "user-1",
                    "policyDocument": {"Version": "2012-10-17", "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
                    ]},
                    "context": {"organization_id": "org-1", "roles": "admin", "n": 7},
                }),
            ),
            Some("deny") => (
                200,
                json!({"principalId": "user-1", "policyDocument": {"Statement": [
                    {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": event["methodArn"]}
                ]}}),
            ),
            Some("unauthorized") => (200, json!({"errorType": "&str", "errorMessage": "Unauthorized"})),
            _ => (500, json!({"errorType": "Panic", "errorMessage": "boom"})),
        },
        "realtime-connect" => match event.pointer("/queryStringParameters/refuse").and_then(Value::as_str) {
            Some(status) => (200, json!({"statusCode": status.parse::<u16>().unwrap(), "body": "refused"})),
            None => (200, json!({"statusCode": 200})),
        },
        "realtime-message" => {
            let body: Value = serde_json::from_str(event["body"].as_str().unwrap_or_default()).unwrap_or(Value::Null);
            match body["action"].as_str() {
                Some("fail") => (200, json!({"errorType": "Error", "errorMessage": "failed"})),
                Some("echo") => {
                    let id = event["requestContext"]["connectionId"].as_str().unwrap();
                    let url = format!("{management}/@connections/{}", encode(id));
                    let posted =
                        reqwest::Client::new().post(url).body(body["text"].as_str().unwrap().to_string()).send().await;
                    assert_eq!(posted.unwrap().status(), 200);
                    (200, json!({"statusCode": 200}))
                }
                _ => (200, json!({"statusCode": 200})),
            }
        }
        _ => (200, json!({"statusCode": 200})),
    }
}

/// What the SDK does to a connection id in a path.
fn encode(id: &str) -> String {
    id.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

struct Harness {
    ws_url: String,
    management: String,
    calls: mpsc::UnboundedReceiver<Call>,
}

impl Harness {
    async fn start(limits: Limits) -> Self {
        let watcher = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (watch_port, ws_port) = (watcher.local_addr().unwrap().port(), gateway.local_addr().unwrap().port());
        let management = format!("http://127.0.0.1:{ws_port}/live");
        let (record, calls) = mpsc::unbounded_channel();
        let fake_management = management.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = watcher.accept().await.unwrap();
                let (record, management) = (record.clone(), fake_management.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let (record, management) = (record.clone(), management.clone());
                        async move {
                            let binary = request.uri().path().split('/').nth(3).unwrap_or_default().to_string();
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let event: Value = serde_json::from_slice(&body).unwrap();
                            let _ = record.send(Call { binary: binary.clone(), event: event.clone() });
                            let (status, answer) = fake_function(&binary, &event, &management).await;
                            let mut response = Response::new(Full::new(Bytes::from(answer.to_string())));
                            *response.status_mut() = StatusCode::from_u16(status).unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        let upstream = format!("http://127.0.0.1:{watch_port}");
        tokio::spawn(serve(gateway, realtime_api(), "realtimeapi".into(), upstream, limits));
        Self { ws_url: format!("ws://127.0.0.1:{ws_port}/live"), management, calls }
    }

    async fn connect(&self, query: &str) -> Result<Socket, u16> {
        let request = format!("{}?{query}", self.ws_url).into_client_request().unwrap();
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(socket),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("{e}"),
        }
    }

    /// The next invocation, within a few seconds.
    async fn call(&mut self) -> Call {
        tokio::time::timeout(Duration::from_secs(10), self.calls.recv()).await.expect("an invocation").unwrap()
    }

    async fn no_call(&mut self) {
        let next = tokio::time::timeout(Duration::from_millis(300), self.calls.recv()).await;
        assert!(next.is_err(), "unexpected invocation: {next:?}");
    }

    fn connection_url(&self, id: &str) -> String {
        format!("{}/@connections/{}", self.management, encode(id))
    }
}

type Socket = WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_message(socket: &mut Socket) -> Message {
    tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a frame in time").unwrap().unwrap()
}

/// Connects with a good ticket; returns the socket, the connection id, and skips the two
/// `$connect` invocations.
async fn connected(harness: &mut Harness) -> (Socket, String) {
    let socket = harness.connect("ticket=good").await.unwrap();
    let authorizer = harness.call().await;
    assert_eq!(authorizer.binary, "realtime-authorize");
    let connect = harness.call().await;
    assert_eq!(connect.binary, "realtime-connect");
    let id = connect.event["requestContext"]["connectionId"].as_str().unwrap().to_string();
    (socket, id)
}

#[tokio::test]
async fn an_upgrade_without_its_ticket_is_refused_with_401_before_any_invocation() {
    let mut harness = Harness::start(Limits::default()).await;
    assert_eq!(harness.connect("").await.err(), Some(401));
    assert_eq!(harness.connect("ticket=").await.err(), Some(401));
    assert_eq!(harness.connect("other=1").await.err(), Some(401));
    harness.no_call().await;
}

#[tokio::test]
async fn the_authorizers_deny_is_403_its_unauthorized_error_401_and_any_other_failure_500() {
    let mut harness = Harness::start(Limits::default()).await;
    for (ticket, status) in [("deny", 403), ("unauthorized", 401), ("crash", 500)] {
        assert_eq!(harness.connect(&format!("ticket={ticket}")).await.err(), Some(status), "{ticket}");
        assert_eq!(harness.call().await.binary, "realtime-authorize");
    }
    harness.no_call().await;
}

#[tokio::test]
async fn a_connect_function_answering_other_than_2xx_refuses_the_upgrade_with_its_status() {
    let mut harness = Harness::start(Limits::default()).await;
    assert_eq!(harness.connect("ticket=good&refuse=409").await.err(), Some(409));
    assert_eq!(harness.call().await.binary, "realtime-authorize");
    assert_eq!(harness.call().await.binary, "realtime-connect");
}

#[tokio::test]
async fn the_authorizer_context_travels_on_connect_every_message_and_disconnect() {
    let mut harness = Harness::start(Limits::default()).await;
    let mut socket = harness.connect("ticket=good").await.unwrap();
    let authorizer = harness.call().await;
    assert_eq!(authorizer.event["type"], "REQUEST");
    assert_eq!(authorizer.event["methodArn"], "arn:aws:execute-api:us-east-1:123456789012:realtimeapi/live/$connect");
    let connect = harness.call().await;
    let id = connect.event["requestContext"]["connectionId"].as_str().unwrap().to_string();
    assert_eq!(authorizer.event["requestContext"]["connectionId"], id.as_str(), "one connection id from the start");
    let expected = |event: &Value| {
        let authorizer = &event["requestContext"]["authorizer"];
        assert_eq!(authorizer["principalId"], "user-1");
        assert_eq!(authorizer["organization_id"], "org-1");
        assert_eq!(authorizer["n"], "7");
        assert!(authorizer["integrationLatency"].is_u64());
        assert_eq!(event["requestContext"]["connectionId"], id.as_str());
    };
    expected(&connect.event);

    for n in 0..5 {
        socket.send(Message::text(format!(r#"{{"action":"resume","n":{n}}}"#))).await.unwrap();
    }
    socket.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    for n in 0..5 {
        let message = harness.call().await;
        assert_eq!(message.binary, "realtime-message");
        assert_eq!(message.event["body"], format!(r#"{{"action":"resume","n":{n}}}"#), "in order");
        assert_eq!(message.event["requestContext"]["routeKey"], "$default");
        expected(&message.event);
    }
    let binary = harness.call().await;
    assert_eq!((binary.event["body"].as_str(), binary.event["isBase64Encoded"].as_bool()), (Some("AQID"), Some(true)));

    socket.close(Some(CloseFrame { code: CloseCode::from(4000), reason: "bye".into() })).await.unwrap();
    let disconnect = harness.call().await;
    assert_eq!(disconnect.binary, "realtime-disconnect");
    assert_eq!(disconnect.event["requestContext"]["disconnectStatusCode"], 4000);
    assert_eq!(disconnect.event["requestContext"]["disconnectReason"], "bye");
    expected(&disconnect.event);
    harness.no_call().await;
}

#[tokio::test]
async fn the_management_api_posts_describes_and_deletes_and_then_the_connection_is_gone() {
    let mut harness = Harness::start(Limits::default()).await;
    let (mut socket, id) = connected(&mut harness).await;
    let http = reqwest::Client::new();
    let url = harness.connection_url(&id);

    let described = http.get(&url).send().await.unwrap();
    assert_eq!(described.status(), 200);
    let described: Value = described.json().await.unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(described["connectedAt"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(described["lastActiveAt"].as_str().unwrap()).is_ok());
    assert_eq!(described["identity"]["sourceIp"], "127.0.0.1");

    let posted = http.post(&url).body(r#"{"type":"pong"}"#).send().await.unwrap();
    assert_eq!(posted.status(), 200);
    assert_eq!(posted.bytes().await.unwrap().len(), 0);
    assert_eq!(next_message(&mut socket).await, Message::text(r#"{"type":"pong"}"#));

    // A function posting to its own connection while it is being invoked is answered.
    socket.send(Message::text(r#"{"action":"echo","text":"hello"}"#)).await.unwrap();
    assert_eq!(harness.call().await.binary, "realtime-message");
    assert_eq!(next_message(&mut socket).await, Message::text("hello"));

    let deleted = http.delete(&url).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    match next_message(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("{other:?}"),
    }
    let disconnect = harness.call().await;
    assert_eq!(disconnect.binary, "realtime-disconnect");
    assert_eq!(disconnect.event["requestContext"]["disconnectStatusCode"], 1000);

    for response in [
        http.post(&url).body("late").send().await.unwrap(),
        http.get(&url).send().await.unwrap(),
        http.delete(&url).send().await.unwrap(),
        http.post(harness.connection_url("bm90LWEtY29ubmVjdGlvbg==")).body("x").send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 410);
        assert_eq!(response.headers()["x-amzn-errortype"], "GoneException");
        let body: Value = response.json().await.unwrap();
        assert!(body["message"].is_string());
    }
}

#[tokio::test]
async fn a_failed_message_is_told_to_the_client_and_the_connection_stays_open() {
    let mut harness = Harness::start(Limits::default()).await;
    let (mut socket, id) = connected(&mut harness).await;
    socket.send(Message::text(r#"{"action":"fail"}"#)).await.unwrap();
    harness.call().await;
    let Message::Text(text) = next_message(&mut socket).await else { panic!("a text frame") };
    let error: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (error["message"].as_str(), error["connectionId"].as_str()),
        (Some("Internal server error"), Some(id.as_str()))
    );
    socket.send(Message::text(r#"{"action":"ping"}"#)).await.unwrap();
    assert_eq!(harness.call().await.binary, "realtime-message");
}

#[tokio::test]
async fn a_message_over_128_kb_closes_with_1009_and_a_post_over_128_kb_is_413() {
    let mut harness = Harness::start(Limits::default()).await;
    let (mut socket, id) = connected(&mut harness).await;
    let too_big = "x".repeat(MAX_MESSAGE_BYTES + 1);
    let posted = reqwest::Client::new().post(harness.connection_url(&id)).body(too_big.clone()).send().await.unwrap();
    assert_eq!(posted.status(), 413);
    assert_eq!(posted.headers()["x-amzn-errortype"], "PayloadTooLargeException");

    let exactly = "y".repeat(MAX_MESSAGE_BYTES);
    socket.send(Message::text(exactly.clone())).await.unwrap();
    assert_eq!(harness.call().await.event["body"].as_str().map(str::len), Some(MAX_MESSAGE_BYTES));
    let _ = socket.send(Message::text(too_big)).await;
    match next_message(&mut socket).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("{other:?}"),
    }
    let disconnect = harness.call().await;
    assert_eq!(disconnect.event["requestContext"]["disconnectStatusCode"], 1009);
}

#[tokio::test]
async fn an_idle_connection_is_closed_going_away_and_pings_do_not_keep_it_open() {
    let limits = Limits { idle_timeout: Duration::from_millis(600), max_lifetime: Duration::from_secs(60) };
    let mut harness = Harness::start(limits).await;
    let (mut socket, _) = connected(&mut harness).await;
    let started = std::time::Instant::now();
    socket.send(Message::Ping(Bytes::from_static(b"p"))).await.unwrap();
    loop {
        match next_message(&mut socket).await {
            Message::Pong(_) => continue,
            Message::Close(Some(frame)) => {
                assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::Away, "Going away"));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(500), "{:?}", started.elapsed());
    let disconnect = harness.call().await;
    assert_eq!(disconnect.event["requestContext"]["disconnectStatusCode"], 1001);
    assert_eq!(disconnect.event["requestContext"]["disconnectReason"], "Going away");
}

#[tokio::test]
async fn the_maximum_duration_closes_a_busy_connection() {
    let limits = Limits { idle_timeout: Duration::from_millis(400), max_lifetime: Duration::from_millis(1500) };
    let mut harness = Harness::start(limits).await;
    let (mut socket, _) = connected(&mut harness).await;
    let started = std::time::Instant::now();
    let closed = loop {
        socket.send(Message::text(r#"{"action":"ping"}"#)).await.unwrap();
        match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(other) => panic!("{other:?}"),
            Err(_) => {}
        }
    };
    assert_eq!(closed.map(|f| f.code), Some(CloseCode::Away));
    assert!(started.elapsed() >= Duration::from_millis(1300), "data messages kept it past the idle timeout");
    loop {
        let call = harness.call().await;
        if call.binary == "realtime-disconnect" {
            assert_eq!(call.event["requestContext"]["disconnectStatusCode"], 1001);
            break;
        }
    }
}

#[tokio::test]
async fn a_dropped_tcp_connection_is_disconnected_abnormally() {
    let mut harness = Harness::start(Limits::default()).await;
    let (socket, id) = connected(&mut harness).await;
    drop(socket);
    let disconnect = harness.call().await;
    assert_eq!(disconnect.binary, "realtime-disconnect");
    assert_eq!(disconnect.event["requestContext"]["connectionId"], id.as_str());
    assert_eq!(disconnect.event["requestContext"]["disconnectStatusCode"], 1006);
}

#[tokio::test]
async fn a_request_that_is_not_an_upgrade_or_a_management_call_is_refused() {
    let harness = Harness::start(Limits::default()).await;
    let http = reqwest::Client::new();
    assert_eq!(http.get(harness.ws_url.replace("ws://", "http://")).send().await.unwrap().status(), 426);
    assert_eq!(
        http.get(harness.ws_url.replace("ws://", "http://").replace("/live", "/other")).send().await.unwrap().status(),
        403
    );
}
