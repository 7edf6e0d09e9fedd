//! Lambda `appointments-get`: see `hub_shared::ops::get`.

use hub_appointments::Appointment;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("appointments-get", ops::get::<Appointment>).await
}
