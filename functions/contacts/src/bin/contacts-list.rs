//! Lambda `contacts-list`: see `hub_shared::ops::list`.

use hub_contacts::Contact;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("contacts-list", ops::list::<Contact>).await
}
