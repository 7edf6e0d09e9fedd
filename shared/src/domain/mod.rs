//! Domain building blocks shared by every entity: validated newtypes, choice enums, timestamps,
//! and `Fields`, the one way a request body becomes a domain value.

mod choice;
mod date;
mod email;
mod fields;
pub mod money;
pub mod params;
pub mod spec;
pub mod text;
mod time;

pub use choice::Choice;
pub use date::{DATE_PATTERN, Date, FIRST_YEAR, LAST_YEAR, MAX_RETENTION_YEARS, Window, check_retention_change};
pub use email::Email;
pub use fields::{Fields, integral, parse_uuid};
pub use money::{Currency, Money, Total};
pub use time::Timestamp;
