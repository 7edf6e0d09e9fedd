//! The events the bench hands out: API Gateway HTTP API (payload v2) requests shaped like the
//! ones a deployed function receives, with a freshly minted HS256 bearer token, and a plain JSON
//! event for the hello-world baseline.

use crate::error::BenchError;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// The contacts collection path, as template.yaml routes it.
pub const CONTACTS_PATH: &str = "/api/business/contacts";

/// Who the bench calls as: one organization and one member user, fixed per bench run.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: Uuid,
    pub user: Uuid,
    pub token: String,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Caller {
    /// A member of a new organization, with a token signed by `JWT_HS256_SECRET` and carrying
    /// `JWT_ISSUER` and `JWT_AUDIENCE` when those are set (the functions then require them).
    pub fn from_env() -> Result<Self, BenchError> {
        let secret = std::env::var("JWT_HS256_SECRET")
            .map_err(|_| BenchError::new("JWT_HS256_SECRET must be set (the same secret the functions get)"))?;
        let (org, user) = (Uuid::new_v4(), Uuid::new_v4());
        let now = now_secs();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(user.to_string()));
        claims.insert("organization_id".into(), json!(org.to_string()));
        claims.insert("email".into(), json!("bench@example.com"));
        claims.insert("roles".into(), json!(["member"]));
        claims.insert("iat".into(), json!(now));
        claims.insert("nbf".into(), json!(now));
        // Long enough for a slow callgrind series.
        claims.insert("exp".into(), json!(now + 3 * 3600));
        for (claim, var) in [("iss", "JWT_ISSUER"), ("aud", "JWT_AUDIENCE")] {
            if let Ok(value) = std::env::var(var)
                && !value.trim().is_empty()
            {
                claims.insert(claim.into(), json!(value.trim()));
            }
        }
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.trim().as_bytes()),
        )
        .map_err(|e| BenchError::new(format!("minting the bench token: {e}")))?;
        Ok(Self { org, user, token })
    }
}

/// An API Gateway HTTP API v2 request event.
#[derive(Debug, Clone)]
pub struct HttpEvent {
    pub method: &'static str,
    /// `GET /api/business/contacts/{id}`.
    pub route_key: String,
    pub raw_path: String,
    pub path_parameters: Map<String, Value>,
    pub body: Option<String>,
    pub authorization: Option<String>,
}

impl HttpEvent {
    /// `GET /api/business/contacts/{id}`.
    pub fn get_contact(caller: &Caller, id: &str) -> Self {
        let mut path_parameters = Map::new();
        path_parameters.insert("id".into(), json!(id));
        Self {
            method: "GET",
            route_key: format!("GET {CONTACTS_PATH}/{{id}}"),
            raw_path: format!("{CONTACTS_PATH}/{id}"),
            path_parameters,
            body: None,
            authorization: Some(format!("Bearer {}", caller.token)),
        }
    }

    /// `POST /api/business/contacts` with a typical patient record, so a GET reads and
    /// serialises a realistically sized item.
    pub fn create_contact(caller: &Caller) -> Self {
        Self::request(caller, "POST", CONTACTS_PATH, None, Some(patient()))
    }

    /// `POST /api/business/contacts/batch` creating `operations` typical patients.
    pub fn contacts_batch(caller: &Caller, operations: usize, atomic: bool) -> Self {
        let operations: Vec<Value> = (0..operations).map(|_| json!({ "op": "create", "body": patient() })).collect();
        let body = json!({ "atomic": atomic, "operations": operations });
        Self::request(caller, "POST", &format!("{CONTACTS_PATH}/batch"), None, Some(body))
    }
}

/// A typical patient record, new e-mail and record number each time.
pub fn patient() -> Value {
    json!({
            "contact_type": "patient",
            "title": "dr",
            "first_name": "Bench",
            "last_name": "Mark",
            "email": format!("bench-{}@example.com", Uuid::new_v4().simple()),
            "phone": "+33 1 23 45 67 89",
            "date_of_birth": "1980-04-12",
            "address_line1": "12 rue de la Paix",
            "city": "Paris",
            "postal_code": "75002",
            "medical_record_number": format!("MRN-{}", &Uuid::new_v4().simple().to_string()[..12]),
            "insurance_number": "1 80 04 75 123 456 78",
            "consent_given": true,
            "consent_version": "2026-01",
    })
}

impl HttpEvent {
    /// Any route of the API: `route` as template.yaml writes it (`/api/business/documents/{id}`),
    /// `id` its path parameter when it has one.
    pub fn request(caller: &Caller, method: &'static str, route: &str, id: Option<&str>, body: Option<Value>) -> Self {
        let mut path_parameters = Map::new();
        let raw_path = match id {
            Some(id) => {
                path_parameters.insert("id".into(), json!(id));
                route.replace("{id}", id)
            }
            None => route.to_string(),
        };
        Self {
            method,
            route_key: format!("{method} {route}"),
            raw_path,
            path_parameters,
            body: body.map(|b| b.to_string()),
            authorization: Some(format!("Bearer {}", caller.token)),
        }
    }

    /// The JSON API Gateway would send, with a fresh request id; headers as a browser behind
    /// API Gateway sends them, so header handling costs what it costs in production.
    pub fn to_json(&self) -> Vec<u8> {
        let request_id = Uuid::new_v4().simple().to_string();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let mut headers = json!({
            "accept": "application/json",
            "accept-encoding": "gzip, deflate, br",
            "accept-language": "fr-FR,fr;q=0.9,en;q=0.8",
            "host": "abcdef1234.execute-api.eu-west-3.amazonaws.com",
            "origin": "https://app.example.com",
            "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
            "x-amzn-trace-id": format!("Root=1-00000000-{}", &request_id[..24]),
            "x-forwarded-for": "203.0.113.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        });
        if let Some(map) = headers.as_object_mut() {
            if let Some(auth) = &self.authorization {
                map.insert("authorization".into(), json!(auth));
            }
            if let Some(body) = &self.body {
                map.insert("content-type".into(), json!("application/json"));
                map.insert("content-length".into(), json!(body.len().to_string()));
            }
        }
        let mut event = json!({
            "version": "2.0",
            "routeKey": self.route_key,
            "rawPath": self.raw_path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abcdef1234",
                "domainName": "abcdef1234.execute-api.eu-west-3.amazonaws.com",
                "domainPrefix": "abcdef1234",
                "http": {
                    "method": self.method,
                    "path": self.raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "203.0.113.10",
                    "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
                },
                "requestId": request_id,
                "routeKey": self.route_key,
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": now
            },
            "isBase64Encoded": false
        });
        if let Some(map) = event.as_object_mut() {
            if !self.path_parameters.is_empty() {
                map.insert("pathParameters".into(), Value::Object(self.path_parameters.clone()));
            }
            if let Some(body) = &self.body {
                map.insert("body".into(), json!(body));
            }
        }
        event.to_string().into_bytes()
    }
}

/// A DynamoDB stream event of one `INSERT` of `item` (DynamoDB JSON, keys `pk`/`sk`), as Lambda's
/// event source mapping delivers it; `n` makes its event id and sequence number unique, so each
/// invocation writes a new audit record instead of finding a redelivery.
pub fn stream_insert(item: &Value, n: usize) -> Vec<u8> {
    stream_inserts(item, n, 1)
}

/// A batch of `count` `INSERT` records of `item`, each with its own `eventID` and sequence
/// number from `first` on: to a consumer keyed by `eventID` (audit, the realtime log), `count`
/// new changes each time.
pub fn stream_inserts(item: &Value, first: usize, count: usize) -> Vec<u8> {
    let keys = json!({ "pk": item.get("pk"), "sk": item.get("sk") });
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let records: Vec<Value> = (0..count)
        .map(|i| {
            json!({
                "eventID": Uuid::new_v4().simple().to_string(),
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-3",
                "dynamodb": {
                    "ApproximateCreationDateTime": now,
                    "Keys": keys,
                    "NewImage": item,
                    "SequenceNumber": format!("{:021}", 100_000_000_000_000_000_000u128 + (first + i) as u128),
                    "SizeBytes": item.to_string().len(),
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                },
                "eventSourceARN": "arn:aws:dynamodb:eu-west-3:123456789012:table/bench/stream/2026-01-01T00:00:00.000"
            })
        })
        .collect();
    json!({ "Records": records }).to_string().into_bytes()
}

/// What the hello-world gets: any JSON will do.
pub fn hello_event() -> Vec<u8> {
    br#"{"hello":"world"}"#.to_vec()
}

/// The `id` of a created record from a `POST` response (`{"statusCode":201,"body":"{...}"}`).
pub fn created_id(response: &[u8]) -> Result<String, BenchError> {
    let envelope: Value = serde_json::from_slice(response)
        .map_err(|e| BenchError::new(format!("the create response is not JSON: {e}")))?;
    let status = envelope.get("statusCode").and_then(Value::as_u64);
    let body = envelope.get("body").and_then(Value::as_str).unwrap_or("");
    if status != Some(201) {
        return Err(BenchError::new(format!("the create answered {status:?}: {body}")));
    }
    let record: Value =
        serde_json::from_str(body).map_err(|e| BenchError::new(format!("the created record is not JSON: {e}")))?;
    record
        .get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| BenchError::new(format!("the created record has no id: {body}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn caller() -> Caller {
        Caller { org: Uuid::nil(), user: Uuid::nil(), token: "a.b.c".into() }
    }

    #[test]
    fn a_get_event_names_the_route_the_path_and_the_id() {
        let event: Value = serde_json::from_slice(&HttpEvent::get_contact(&caller(), "42").to_json()).unwrap();
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["routeKey"], "GET /api/business/contacts/{id}");
        assert_eq!(event["rawPath"], "/api/business/contacts/42");
        assert_eq!(event["pathParameters"]["id"], "42");
        assert_eq!(event["requestContext"]["http"]["method"], "GET");
        assert_eq!(event["headers"]["authorization"], "Bearer a.b.c");
        assert!(event.get("body").is_none());
    }

    #[test]
    fn a_create_event_carries_a_json_body() {
        let event: Value = serde_json::from_slice(&HttpEvent::create_contact(&caller()).to_json()).unwrap();
        assert_eq!(event["headers"]["content-type"], "application/json");
        let body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["first_name"], "Bench");
    }

    #[test]
    fn the_created_id_comes_from_a_201_only() {
        let ok = br#"{"statusCode":201,"body":"{\"id\":\"abc\"}"}"#;
        assert_eq!(created_id(ok).unwrap(), "abc");
        assert!(created_id(br#"{"statusCode":422,"body":"{}"}"#).is_err());
    }
}
