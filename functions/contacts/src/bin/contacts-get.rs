//! Lambda `contacts-get`: see `hub_shared::ops::get`.

use hub_contacts::Contact;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("contacts-get", ops::get::<Contact>).await
}
