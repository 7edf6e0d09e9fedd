//! Lambda `contacts-patch`: see `hub_shared::ops::patch`.

use hub_contacts::Contact;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("contacts-patch", ops::patch::<Contact>).await
}
