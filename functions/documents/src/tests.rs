#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::api::upload_problem;
use crate::files::{Declared, Stored, content_disposition, hex_to_base64, object_key};
use hub_shared::auth::{OrgId, UserContext, UserId};
use serde_json::{Map, Value, json};

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"; // "test"

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn valid() -> Map<String, Value> {
    obj(
        json!({"title": "Scan", "file_name": "scan.pdf", "file_size_bytes": 4, "checksum": SHA, "mime_type": "application/pdf"}),
    )
}

fn tenant(roles: &[&str]) -> Tenant {
    Tenant::new(UserContext {
        user_id: UserId::new(Uuid::new_v4()),
        email: None,
        organization_id: Some(OrgId::new(Uuid::new_v4())),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        expires_at: None,
    })
    .unwrap()
}

fn field_codes(err: AppError) -> Vec<(String, &'static str)> {
    err.field_errors().iter().map(|e| (e.field.clone(), e.code)).collect()
}

#[test]
fn a_complete_body_gives_defaults_of_the_seed() {
    let d = Document::from_json(&valid()).unwrap();
    assert_eq!(d.document_type, DocumentType::Other);
    assert_eq!(d.privacy_level, PrivacyLevel::Internal);
    assert!(d.is_encrypted && d.access_log_required && !d.requires_approval && !d.approved);
    assert_eq!(d.upload_status, UploadStatus::Pending);
    assert_eq!(d.document_version, 1);
}

#[test]
fn malformed_file_fields_are_each_reported() {
    let mut body = valid();
    body.insert("file_name".into(), json!("../etc/passwd"));
    body.insert("mime_type".into(), json!("pdf"));
    body.insert("checksum".into(), json!("abc"));
    body.insert("checksum_md5".into(), json!("zz"));
    body.insert("file_size_bytes".into(), json!(MAX_FILE_SIZE_BYTES + 1));
    let codes = field_codes(Document::from_json(&body).unwrap_err());
    for field in ["file_name", "mime_type", "checksum", "checksum_md5", "file_size_bytes"] {
        assert!(codes.iter().any(|(f, _)| f == field), "{field} not reported: {codes:?}");
    }
}

#[test]
fn creation_requires_the_file_to_be_declared() {
    let mut d = Document::from_json(&obj(json!({"title": "x"}))).unwrap();
    let codes = field_codes(d.reconcile(None, Timestamp::now()).unwrap_err());
    let fields: Vec<&str> = codes.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["file_name", "file_size_bytes", "checksum"]);
}

#[test]
fn an_update_keeps_server_fields_and_refuses_a_new_file() {
    let mut stored = Document::from_json(&valid()).unwrap().server_side();
    stored.upload_status = UploadStatus::Available;
    stored.approved = true;
    stored.file_path = "org/x/documents/y/v1".into();
    let mut update = Document::from_json(&obj(json!({"title": "Renamed", "approved": false}))).unwrap();
    update.reconcile(Some(&stored), Timestamp::now()).unwrap();
    assert_eq!(update.title, "Renamed");
    assert!(update.approved);
    assert_eq!(update.upload_status, UploadStatus::Available);
    assert_eq!(update.checksum, SHA);
    assert_eq!(update.file_path, stored.file_path);

    let mut body = valid();
    body.insert("file_size_bytes".into(), json!(5));
    let mut changed = Document::from_json(&body).unwrap();
    let codes = field_codes(changed.reconcile(Some(&stored), Timestamp::now()).unwrap_err());
    assert_eq!(codes, [("file_size_bytes".to_string(), "immutable")]);
}

#[test]
fn restricted_documents_are_for_admins_and_clinical_roles_and_confidential_ones_not_for_viewers() {
    let mut d = Document::from_json(&valid()).unwrap();
    d.privacy_level = PrivacyLevel::Restricted;
    assert!(d.visible_to(&tenant(&["admin"])));
    assert!(d.visible_to(&tenant(&["doctor"])));
    assert!(!d.visible_to(&tenant(&["member"])));
    d.privacy_level = PrivacyLevel::Confidential;
    assert!(d.visible_to(&tenant(&["member"])));
    assert!(!d.visible_to(&tenant(&["viewer"])));
}

#[test]
fn visibility_decided_from_the_privacy_level_alone_agrees_with_the_whole_record() {
    let mut d = Document::from_json(&valid()).unwrap();
    let role_sets: [&[&str]; 8] =
        [&[], &["viewer"], &["auditor"], &["member"], &["doctor"], &["practitioner", "viewer"], &["admin"], &["owner"]];
    for level in [PrivacyLevel::Public, PrivacyLevel::Internal, PrivacyLevel::Confidential, PrivacyLevel::Restricted] {
        d.privacy_level = level;
        let whole = serde_json::to_value(&d).unwrap();
        let whole = whole.as_object().unwrap();
        let only: serde_json::Map<String, serde_json::Value> = whole
            .iter()
            .filter(|(k, _)| Document::VISIBILITY_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for roles in role_sets {
            let t = tenant(roles);
            assert_eq!(Document::visible_in(whole, &t), d.visible_to(&t), "{level:?} {roles:?}");
            assert_eq!(Document::visible_in(&only, &t), d.visible_to(&t), "{level:?} {roles:?}, fields only");
        }
    }
    let nothing = serde_json::Map::new();
    assert!(!Document::visible_in(&nothing, &tenant(&["member"])), "an unreadable level reaches the fewest");
    assert!(Document::visible_in(&nothing, &tenant(&["doctor"])));
}

#[test]
fn versions_sort_by_their_zero_padded_number() {
    let mut d = Document::from_json(&valid()).unwrap();
    let meta_id = Uuid::new_v4();
    let root = Uuid::new_v4();
    d.parent_document_id = Some(root);
    d.document_version = 12;
    let meta = Meta::new(meta_id, Uuid::new_v4(), Uuid::new_v4(), Timestamp::now());
    let entry = d.index_entries(&meta).into_iter().find(|e| e.index.starts_with("VERSIONS#")).unwrap();
    assert_eq!(entry.index, format!("VERSIONS#{root}"));
    assert_eq!(entry.sort, "00012");
}

#[test]
fn the_object_key_starts_with_the_organization_and_the_document() {
    let org = OrgId::new(Uuid::new_v4());
    let id = Uuid::new_v4();
    assert_eq!(object_key(org, id, 3), format!("org/{org}/documents/{id}/v3"));
}

#[test]
fn content_disposition_escapes_the_file_name() {
    let header = content_disposition("rapport \"final\"\r\n été.pdf");
    assert_eq!(
        header,
        "attachment; filename=\"rapport _final___ _t_.pdf\"; filename*=UTF-8''rapport%20%22final%22%0D%0A%20%C3%A9t%C3%A9.pdf"
    );
}

#[test]
fn hex_checksums_become_the_base64_s3_uses() {
    assert_eq!(hex_to_base64(SHA).unwrap(), "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=");
    assert_eq!(hex_to_base64("zz"), None);
}

#[test]
fn complete_rejects_a_wrong_size_a_wrong_checksum_and_a_missing_checksum() {
    let d = Document::from_json(&valid()).unwrap();
    let good = hex_to_base64(SHA);
    assert_eq!(upload_problem(&d, &Stored { size: Some(4), sha256_base64: good.clone() }), None);
    assert!(upload_problem(&d, &Stored { size: Some(5), sha256_base64: good }).unwrap().contains("5 bytes"));
    let other = hex_to_base64(&"0".repeat(64));
    assert!(upload_problem(&d, &Stored { size: Some(4), sha256_base64: other }).unwrap().contains("SHA-256"));
    assert!(upload_problem(&d, &Stored { size: Some(4), sha256_base64: None }).unwrap().contains("without"));
}

#[tokio::test]
async fn the_upload_url_signs_length_type_and_checksum_for_five_minutes() {
    let sdk = aws_types::SdkConfig::builder()
        .region(aws_sdk_s3::config::Region::new("eu-west-3"))
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(aws_sdk_s3::config::Credentials::new(
            "AKID", "secret", None, None, "test",
        )))
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .build();
    let files = Files::new(&sdk, "bucket");
    let url = files
        .upload_url(&Declared {
            key: "org/o/documents/d/v1",
            size: 4,
            content_type: "application/pdf",
            sha256_hex: SHA,
        })
        .await
        .unwrap();
    println!("{url:?}");
    let signed = url.url.split("X-Amz-SignedHeaders=").nth(1).unwrap().split('&').next().unwrap().replace("%3B", ";");
    for header in ["content-length", "content-type", "x-amz-checksum-sha256", "host"] {
        assert!(signed.split(';').any(|h| h == header), "{header} not signed: {signed}");
    }
    assert!(url.url.contains("X-Amz-Expires=300"), "{}", url.url);
    assert_eq!(url.method, "PUT");
    let headers: HashMap<_, _> = url.headers.iter().cloned().collect();
    assert_eq!(headers.get("content-length").map(String::as_str), Some("4"));
    assert_eq!(headers.get("x-amz-checksum-sha256"), hex_to_base64(SHA).as_ref());
}
