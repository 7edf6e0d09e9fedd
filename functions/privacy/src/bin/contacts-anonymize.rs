//! Lambda `contacts-anonymize`: `POST /api/business/contacts/{id}/anonymize` (admins), the
//! RGPD erasure of one person. See `hub_privacy::anonymize`.

use hub_privacy::Erasure;
use hub_shared::http;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    let erasure = Arc::new(Erasure::from_env().await?);
    http::run_business("contacts-anonymize", move |services, tenant, request| {
        hub_privacy::anonymize(services, tenant, request, Arc::clone(&erasure))
    })
    .await
}
