//! Lambda `appointments-batch`: see `hub_shared::ops::batch`.

use hub_appointments::Appointment;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("appointments-batch", |services, tenant, request| {
        ops::batch::<Appointment>(services, tenant, request, ops::BATCH_ALL)
    })
    .await
}
