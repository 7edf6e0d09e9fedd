//! Authentication: tokens verified in-process (HS256 secret, or RS256/ES256 keys from a JWKS),
//! then optionally confirmed in real time with the Identity Service.

mod authenticator;
mod context;
mod fetch;
mod jwks;
mod jwt;
mod remote;

pub use authenticator::{AuthError, Authenticator};
pub use context::{AccessLevel, OrgId, Permission, Tenant, UserContext, UserId};
