//! Lambda `appointments-replace`: see `hub_shared::ops::replace`.

use hub_appointments::Appointment;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("appointments-replace", ops::replace::<Appointment>).await
}
