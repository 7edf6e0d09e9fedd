//! Real-time notifications (README, "Real-time notifications"): a practice's open screens hear,
//! over API Gateway's WebSocket API, which records of their organization changed, as ids only,
//! and get back what they missed while disconnected.
//!
//! - [`ticket`]: `POST /api/realtime/tickets`, the one-time tickets `$connect` accepts;
//! - [`socket`]: the `$connect` authorizer, `$connect`, `$disconnect` and the client's messages
//!   (`resume` with replay, `subscribe`, `ping`);
//! - [`fanout`]: the business table's stream to the event log and on to the connections;
//! - [`event`]: what an event holds and who may hear it; [`kinds`]: the entities, with their own
//!   visibility rules;
//! - [`table`]: tickets, connections and the log in the realtime table; [`poster`]: API
//!   Gateway's `@connections` management API.

pub mod event;
pub mod fanout;
pub mod kinds;
pub mod poster;
pub mod socket;
pub mod table;
pub mod ticket;

pub use poster::Poster;
pub use table::RealtimeTable;
