//! Lambda `contacts-delete`: see `hub_shared::ops::delete`.

use hub_contacts::Contact;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("contacts-delete", ops::delete::<Contact>).await
}
