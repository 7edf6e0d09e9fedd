//! End to end through the real local stack (`infra/hub up`'s engine): moto, the tables created
//! from template.yaml, `cargo lambda watch` routing real HTTP to the function binaries, and
//! tokens signed with the stack's generated dev secret. One contact's whole life over HTTP, and
//! a hostile caller from another organization.

// Test code: a failed unwrap is a failed test, with its message.
#![allow(clippy::unwrap_used)]

use hub_infra::spawn::{LocalStack, StackOptions};
use serde_json::{Value, json};
use uuid::Uuid;

struct Client {
    http: reqwest::Client,
    base: String,
    secret: String,
    issuer: String,
    audience: String,
}

impl Client {
    fn token(&self, org: Option<Uuid>, roles: &[&str]) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut claims = json!({
            "sub": Uuid::new_v4().to_string(), "roles": roles,
            "iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + 600,
        });
        if let Some(org) = org {
            claims["organization_id"] = json!(org.to_string());
        }
        let key = jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes());
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap()
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, body, headers)
    }
}

/// A local stack of its own (free ports, own state directory) and a client for its API.
async fn start() -> (LocalStack, Client) {
    let stack = tokio::task::spawn_blocking(|| LocalStack::start(StackOptions::default()))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("the local stack did not start: {e}"));
    let client = Client {
        http: reqwest::Client::new(),
        base: stack.api_url().to_string(),
        secret: stack.var("JWT_HS256_SECRET").to_string(),
        issuer: stack.var("JWT_ISSUER").to_string(),
        audience: stack.var("JWT_AUDIENCE").to_string(),
    };
    (stack, client)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contact_lives_its_whole_life_over_http_in_the_local_stack() {
    let (stack, client) = start().await;
    let org = Uuid::new_v4();
    let member = client.token(Some(org), &["member"]);
    let admin = client.token(Some(org), &["admin"]);
    let contacts = "/api/business/contacts";

    let (status, health, _) = client.call("GET", "/api/health", None, None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("healthy")));
    let (status, problem, headers) = client.call("GET", contacts, None, None).await;
    assert_eq!(status, 401);
    assert_eq!(problem["code"], "UNAUTHENTICATED");
    assert_eq!(headers["content-type"], "application/problem+json");

    // What API Gateway delivers, the functions answer: a body that is not UTF-8 arrives
    // base64-encoded and is refused as malformed JSON (not a gateway 500), a key with other
    // characters than visible ASCII is refused (not ignored), an unrouted method is a 405 with
    // `Allow` and an unknown path a 404, both problems from the `$default` route.
    let raw = |method: &str, path: &str| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        client.http.request(method, format!("{}{path}", client.base)).bearer_auth(&member)
    };
    let invalid_utf8 = raw("POST", contacts)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{', b'"', 0xc3])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid_utf8.status(), 400);
    assert_eq!(invalid_utf8.headers()["content-type"], "application/problem+json");
    assert_eq!(invalid_utf8.json::<Value>().await.unwrap()["code"], "MALFORMED_JSON");
    let key = reqwest::header::HeaderValue::from_bytes("clé-1".as_bytes()).unwrap();
    let non_ascii_key = raw("POST", contacts)
        .header("idempotency-key", key)
        .json(&json!({"first_name": "Clé", "last_name": "Reprise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(non_ascii_key.status(), 400);
    assert_eq!(non_ascii_key.json::<Value>().await.unwrap()["code"], "INVALID_IDEMPOTENCY_KEY");
    let trace = raw("TRACE", contacts).send().await.unwrap();
    assert_eq!((trace.status().as_u16(), trace.headers()["allow"].to_str().unwrap()), (405, "GET, POST"));
    assert_eq!(trace.json::<Value>().await.unwrap()["code"], "METHOD_NOT_ALLOWED");
    let nowhere = raw("GET", "/api/nowhere").send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    assert_eq!(nowhere.json::<Value>().await.unwrap()["code"], "NOT_FOUND");

    // Create: it lands in the emulated DynamoDB under the token's organization.
    let (status, created, headers) = client
        .call("POST", contacts, Some(&member), Some(json!({"first_name": "Élodie", "last_name": "Martin", "email": "elodie.martin@example.fr", "medical_record_number": "E2E-1"})))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["organization_id"], org.to_string());
    assert!(headers["location"].to_str().unwrap().ends_with(&id));
    let dynamo = hub_infra::moto::dynamodb_client(stack.var("AWS_ENDPOINT_URL"));
    let stored = dynamo
        .get_item()
        .table_name(stack.var("HUB_TABLE"))
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ORG#{org}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("CONTACT#{id}")))
        .send()
        .await
        .unwrap();
    assert!(stored.item.is_some(), "the record is in the emulated table");

    // The stack's stream relay feeds `audit-stream`: the create's audit record is readable
    // through the audit API within seconds.
    let trail_url = format!("/api/audit/logs?resource_type=CONTACT&resource_id={id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let create = loop {
        let (status, page, _) = client.call("GET", &trail_url, Some(&admin), None).await;
        assert_eq!(status, 200, "{page}");
        if let Some(record) = page["items"].as_array().and_then(|items| items.iter().find(|r| r["action"] == "create"))
        {
            break record.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no create record through the audit API after 15 s: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(create["organization_id"], org.to_string());
    assert!(
        create["changes"].as_array().unwrap().iter().any(|c| c["field"] == "last_name" && c["to"] == "Martin"),
        "personal values decrypted for an admin: {create}"
    );
    let (status, _, _) = client.call("GET", &trail_url, Some(&member), None).await;
    assert_eq!(status, 403, "members do not read the audit trail");

    // Read, list, search.
    let url = format!("{contacts}/{id}");
    let (status, got, _) = client.call("GET", &url, Some(&member), None).await;
    assert_eq!((status, &got), (200, &created));
    let (_, list, _) = client.call("GET", contacts, Some(&member), None).await;
    assert_eq!(list["items"][0]["id"], id.as_str());
    for search in ["mart", "elodie", "elodie.martin%40example.fr", "e2e-1"] {
        let (status, found, _) = client.call("GET", &format!("{contacts}?search={search}"), Some(&member), None).await;
        assert_eq!(status, 200);
        assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "search {search}: {found}");
    }

    // Update and patch, guarded by the version.
    let (status, replaced, _) = client
        .call("PUT", &url, Some(&member), Some(json!({"first_name": "Élodie", "last_name": "Martin-Roux", "email": "elodie.martin@example.fr", "version": 1})))
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["version"], 2);
    let (status, patched, _) =
        client.call("PATCH", &url, Some(&member), Some(json!({"city": "Nantes", "version": 2}))).await;
    assert_eq!((status, patched["city"].as_str()), (200, Some("Nantes")));
    let (status, stale, _) =
        client.call("PATCH", &url, Some(&member), Some(json!({"city": "Brest", "version": 2}))).await;
    assert_eq!((status, stale["code"].as_str()), (409, Some("VERSION_CONFLICT")));

    // A hostile caller from another organization sees nothing and changes nothing.
    let attacker = client.token(Some(Uuid::new_v4()), &["admin"]);
    for (method, path, body) in [
        ("GET", url.clone(), None),
        ("PATCH", url.clone(), Some(json!({"city": "Owned"}))),
        ("DELETE", url.clone(), None),
        ("POST", format!("{url}/restore"), None),
    ] {
        let (status, problem, _) = client.call(method, &path, Some(&attacker), body).await;
        assert_eq!((status, problem["code"].as_str()), (404, Some("NOT_FOUND")), "{method} {path}");
    }
    let (_, foreign_list, _) = client.call("GET", &format!("{contacts}?search=mart"), Some(&attacker), None).await;
    assert_eq!(foreign_list["items"], json!([]));

    // Delete, see it in the trash, restore, bulk delete.
    let (status, _, _) = client.call("DELETE", &url, Some(&member), None).await;
    assert_eq!(status, 200);
    let (status, _, _) = client.call("GET", &url, Some(&member), None).await;
    assert_eq!(status, 404);
    let (_, trash, _) = client.call("GET", &format!("{contacts}?deleted=true"), Some(&admin), None).await;
    assert_eq!(trash["items"][0]["id"], id.as_str());
    let (status, restored, _) = client.call("POST", &format!("{url}/restore"), Some(&admin), None).await;
    assert_eq!((status, restored["city"].as_str()), (200, Some("Nantes")));
    let (status, bulk, _) =
        client.call("DELETE", &format!("{contacts}/bulk"), Some(&admin), Some(json!({"ids": [id]}))).await;
    assert_eq!((status, bulk["deleted_count"].as_u64()), (200, Some(1)), "{bulk}");

    tokio::task::spawn_blocking(move || stack.stop()).await.unwrap().unwrap();
}

/// The other entities through the real stack: the router reaches every new function, the
/// template's environment (bucket, table) reaches them, and the presigned URLs work against
/// the emulated S3.
#[tokio::test(flavor = "multi_thread")]
async fn a_practice_day_over_http_appointment_payment_refund_and_document() {
    let (stack, client) = start().await;
    let org = Uuid::new_v4();
    let member = client.token(Some(org), &["member"]);
    let admin = client.token(Some(org), &["admin"]);

    let (status, contact, _) = client
        .call(
            "POST",
            "/api/business/contacts",
            Some(&member),
            Some(json!({"first_name": "Inès", "last_name": "Moreau"})),
        )
        .await;
    assert_eq!(status, 201, "{contact}");
    let contact_id = contact["id"].as_str().unwrap().to_string();

    // An appointment, confirmed.
    let start = chrono::Utc::now() + chrono::Duration::days(1);
    let end = start + chrono::Duration::minutes(30);
    let (status, appointment, _) = client
        .call(
            "POST",
            "/api/business/appointments",
            Some(&member),
            Some(json!({
                "title": "Consultation", "contact_id": contact_id, "timezone": "Europe/Paris",
                "start_datetime": start.to_rfc3339(), "end_datetime": end.to_rfc3339(),
                "assigned_provider": Uuid::new_v4().to_string(),
            })),
        )
        .await;
    assert_eq!(status, 201, "{appointment}");
    let appointment_url = format!("/api/business/appointments/{}", appointment["id"].as_str().unwrap());
    let (status, confirmed, _) = client.call("POST", &format!("{appointment_url}/confirm"), Some(&member), None).await;
    assert_eq!((status, confirmed["status"].as_str()), (200, Some("confirmed")), "{confirmed}");

    // A completed payment, partly refunded: the amounts stay exact decimals.
    let (status, payment, _) = client
        .call(
            "POST",
            "/api/business/transactions",
            Some(&member),
            Some(json!({
                "transaction_id": "E2E-PAY-1", "transaction_type": "payment", "status": "completed",
                "amount": "60.30", "contact_id": contact_id,
                "related_appointment_id": appointment["id"],
            })),
        )
        .await;
    assert_eq!(status, 201, "{payment}");
    let payment_url = format!("/api/business/transactions/{}", payment["id"].as_str().unwrap());
    let (status, refund, _) =
        client.call("POST", &format!("{payment_url}/refund"), Some(&admin), Some(json!({"amount": "20.10"}))).await;
    assert_eq!((status, refund["amount"].as_str()), (201, Some("20.10")), "{refund}");
    let (_, original, _) = client.call("GET", &payment_url, Some(&member), None).await;
    assert_eq!(original["refunded_amount"], "20.10");
    assert_eq!(original["refundable_amount"], "40.20");

    // A document: declared, uploaded with the presigned PUT, completed, downloaded.
    let bytes = b"%PDF-1.7 prescription".to_vec();
    let checksum = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(&bytes);
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    let (status, document, _) = client
        .call(
            "POST",
            "/api/business/documents",
            Some(&member),
            Some(json!({
                "title": "Prescription", "document_type": "prescription", "file_name": "ordonnance.pdf",
                "mime_type": "application/pdf", "file_size_bytes": bytes.len(), "checksum": checksum,
                "related_contact_id": contact_id,
            })),
        )
        .await;
    assert_eq!(status, 201, "{document}");
    let upload = &document["upload"];
    let mut put = client.http.put(upload["url"].as_str().unwrap()).body(bytes.clone());
    for (name, value) in upload["headers"].as_object().unwrap() {
        put = put.header(name.as_str(), value.as_str().unwrap());
    }
    let uploaded = put.send().await.unwrap();
    assert!(uploaded.status().is_success(), "upload: {}", uploaded.status());
    let document_url = format!("/api/business/documents/{}", document["id"].as_str().unwrap());
    let (status, completed, _) = client.call("POST", &format!("{document_url}/complete"), Some(&member), None).await;
    assert_eq!((status, completed["upload_status"].as_str()), (200, Some("available")), "{completed}");
    let (status, download, _) = client.call("GET", &format!("{document_url}/download"), Some(&member), None).await;
    assert_eq!(status, 200, "{download}");
    let fetched = client.http.get(download["url"].as_str().unwrap()).send().await.unwrap();
    assert!(fetched.status().is_success());
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), bytes);

    // Another organization sees none of it.
    let attacker = client.token(Some(Uuid::new_v4()), &["admin"]);
    for path in [&appointment_url, &payment_url, &document_url] {
        let (status, _, _) = client.call("GET", path, Some(&attacker), None).await;
        assert_eq!(status, 404, "{path}");
    }

    tokio::task::spawn_blocking(move || stack.stop()).await.unwrap().unwrap();
}
