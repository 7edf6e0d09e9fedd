//! RGPD erasure and retention: the platform's own writes on a person's data.
//!
//! - [`anonymize`] (`POST /api/business/contacts/{id}/anonymize`, admins): [`erase::erase_contact`]
//!   irreversibly replaces the person's identifying fields in the contact and in every record
//!   about them (appointments, documents, transactions; live or in the trash), deletes their
//!   documents' files from S3 (every object version), and destroys their audit data key, so the
//!   audit trail's copies of those values read `[erased]`. Amounts, statuses, dates, ids and the
//!   audit chain (who did what, when) stay.
//! - [`retention::run`] (the daily `retention` function): anonymizes contacts past
//!   `data_retention_until` and purges documents past `retention_until`, found through the
//!   business table's sparse retention index rather than by scanning.
//!
//! What is identifying is the audit trail's own list ([`hub_shared::audit::fields`]): every field
//! of an entity that is not listed there as clear. One list decides what the trail seals and
//! what erasure removes, so they cannot disagree.

use hub_contacts::Contact;
use hub_shared::audit::{Actor, AuditWriter, RequestInfo};
use hub_shared::auth::{Permission, Tenant};
use hub_shared::config::{ConfigError, Env};
use hub_shared::error::{AppError, AppResult};
use hub_shared::http::{ApiRequest, Reply, Services};
use hub_shared::store::Entity;
use std::sync::Arc;

pub mod erase;
pub mod objects;
pub mod retention;

pub use erase::{ErasureReport, erase_contact};
pub use objects::Objects;

/// What erasure needs besides the business store, built once per container: the audit table
/// (records of file deletions, the person's data key) and the documents bucket.
#[derive(Debug, Clone)]
pub struct Erasure {
    pub audit: AuditWriter,
    pub objects: Objects,
}

impl Erasure {
    pub fn new(audit: AuditWriter, objects: Objects) -> Self {
        Self { audit, objects }
    }

    /// From `HUB_AUDIT_TABLE` and `HUB_DOCUMENTS_BUCKET`, on an SDK configuration.
    pub fn from_sdk(sdk: &aws_types::SdkConfig, env: &Env) -> Result<Self, ConfigError> {
        let audit = AuditWriter::new(hub_shared::aws::dynamodb(sdk), env.required("HUB_AUDIT_TABLE")?);
        let objects = Objects::new(sdk, env.required(hub_documents::files::BUCKET_VAR)?);
        Ok(Self { audit, objects })
    }

    /// From the process environment (the HTTP function, after `Services` checked the AWS settings).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let sdk = hub_shared::aws::sdk_config()?;
        Self::from_sdk(&sdk, &Env::from_process())
    }
}

/// Who erases, for the store's `updated_by` and the explicit audit records.
#[derive(Debug, Clone)]
pub struct By {
    pub actor: Actor,
    pub request: RequestInfo,
}

impl By {
    /// The id stamped as `updated_by`: the user's, or the nil id the audit stream reads as `system`.
    pub fn user_id(&self) -> uuid::Uuid {
        match self.actor {
            Actor::User(id) => id,
            Actor::System => uuid::Uuid::nil(),
        }
    }
}

/// `POST /api/business/contacts/{id}/anonymize` (admins): erases the person; 200 with what was
/// done. Safe to repeat: a second call finds nothing left to replace or delete and says so
/// (`already_anonymized: true`), and it completes an erasure an earlier call left half done.
/// A contact in the trash can be erased too; another organization's id is a 404.
pub async fn anonymize(
    services: Arc<Services>,
    tenant: Tenant,
    request: ApiRequest,
    erasure: Arc<Erasure>,
) -> AppResult<Reply> {
    tenant.require(Permission::Administer)?;
    let id = request.path_id(Contact::NAME)?;
    let contact =
        services.store.get::<Contact>(tenant.org, id).await?.ok_or(AppError::NotFound { resource: Contact::NAME })?;
    let by = By {
        actor: Actor::User(tenant.user.user_id.as_uuid()),
        request: RequestInfo {
            request_id: request.request_id.clone(),
            source_ip: request.source_ip.clone(),
            user_agent: request.user_agent.clone(),
            status: None,
        },
    };
    let report = erase_contact(&services.store, &erasure, tenant.org, &by, contact).await?;
    Ok(Reply::ok(report.to_json()).with_version(report.contact.meta.version))
}
