//! Lambda `contacts-history`: see `hub_shared::audit::api::history`.

use hub_contacts::Contact;
use hub_shared::audit::api;
use hub_shared::http;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    http::run_business("contacts-history", api::history::<Contact>).await
}
