//! Lambda `appointments-restore`: see `hub_shared::ops::restore`.

use hub_appointments::Appointment;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("appointments-restore", ops::restore::<Appointment>).await
}
