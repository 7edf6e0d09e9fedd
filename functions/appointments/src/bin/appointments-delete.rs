//! Lambda `appointments-delete`: see `hub_shared::ops::delete`.

use hub_appointments::Appointment;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("appointments-delete", ops::delete::<Appointment>).await
}
