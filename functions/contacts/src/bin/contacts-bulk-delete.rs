//! Lambda `contacts-bulk-delete`: see `hub_shared::ops::bulk_delete`.

use hub_contacts::Contact;
use hub_shared::{http, ops};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("contacts-bulk-delete", ops::bulk_delete::<Contact>).await
}
