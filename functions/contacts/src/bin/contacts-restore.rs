//! Lambda `contacts-restore`: see `hub_shared::ops::restore`.

use hub_contacts::Contact;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("contacts-restore", ops::restore::<Contact>).await
}
