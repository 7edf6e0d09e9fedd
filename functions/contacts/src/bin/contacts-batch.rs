//! Lambda `contacts-batch`: see `hub_shared::ops::batch`.

use hub_contacts::Contact;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("contacts-batch", |services, tenant, request| {
        ops::batch::<Contact>(services, tenant, request, ops::BATCH_ALL)
    })
    .await
}
