//! Domain building blocks shared by every entity: validated newtypes, choice enums, timestamps,
//! and `Fields`, the one way a request body becomes a domain value.

mod choice;
mod email;
mod fields;
mod money;
pub mod text;
mod time;

pub use choice::Choice;
pub use email::Email;
pub use fields::Fields;
pub use money::{Currency, Money, Total};
pub use time::Timestamp;
