//! The verified identity of a caller, and the one table of who may do what.
//!
//! A handler never sees a raw token: it receives a `UserContext` that the adapter built from a
//! verified one, and asks it for a permission. The organization in it is the only organization
//! the storage layer will ever key a request by.

use crate::error::AppError;
use std::fmt;
use uuid::Uuid;

/// A tenant's id, taken from a verified token and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(Uuid);

impl OrgId {
    pub fn new(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An Identity Service user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(Uuid);

impl UserId {
    pub fn new(id: Uuid) -> Self {
        Self(id)
    }
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a caller may do, from least to most. A caller's level is the highest its roles give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessLevel {
    /// `viewer`, `auditor`, `read_only`: read only.
    ReadOnly,
    /// Any other role, or none (the live Identity Service issues tokens without roles):
    /// create, read, update, soft-delete.
    Member,
    /// `admin`, `owner`: also restore, bulk-delete and see deleted records.
    Admin,
}

/// The permissions handlers ask for. Mapped to access levels in `UserContext::can`, and only there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    /// Restore, bulk delete, list deleted records.
    Administer,
    /// Read the audit trail (admins and the `auditor` role).
    ReadAudit,
    /// Export everything the organization holds (the roles that answer for it as a whole:
    /// admins, owners and auditors).
    ExportAll,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserContext {
    pub user_id: UserId,
    /// Audit-trail and display use only; never logged.
    pub email: Option<String>,
    /// `None` when the token names no organization: such a caller may use no business endpoint.
    pub organization_id: Option<OrgId>,
    /// Lower-cased role codes, as the Identity Service issued them.
    pub roles: Vec<String>,
    /// The token's `exp` (seconds since the Unix epoch): nothing a caller opens with it (a
    /// realtime connection) may outlive it. `None` only for contexts built without a token.
    pub expires_at: Option<u64>,
}

impl UserContext {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    pub fn is_admin(&self) -> bool {
        self.access_level() == AccessLevel::Admin
    }

    pub fn access_level(&self) -> AccessLevel {
        if self.roles.is_empty() {
            return AccessLevel::Member;
        }
        self.roles
            .iter()
            .map(|r| match r.to_ascii_lowercase().as_str() {
                "admin" | "owner" => AccessLevel::Admin,
                "viewer" | "auditor" | "read_only" | "readonly" => AccessLevel::ReadOnly,
                _ => AccessLevel::Member,
            })
            .max()
            .unwrap_or(AccessLevel::Member)
    }

    pub fn can(&self, permission: Permission) -> bool {
        let level = self.access_level();
        match permission {
            Permission::Read => true,
            Permission::Write => level >= AccessLevel::Member,
            Permission::Administer => level == AccessLevel::Admin,
            Permission::ReadAudit | Permission::ExportAll => level == AccessLevel::Admin || self.has_role("auditor"),
        }
    }

    /// The organization every business operation is scoped to; 403 when the token has none.
    /// The nil UUID is refused too: it is the audit trail's platform partition, which no
    /// organization may read (see `audit::access`).
    pub fn org(&self) -> Result<OrgId, AppError> {
        self.organization_id
            .filter(|org| !org.as_uuid().is_nil())
            .ok_or_else(|| AppError::forbidden("NO_ORGANIZATION", "the token does not name an organization"))
    }

    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.can(permission) {
            Ok(())
        } else {
            let what = match permission {
                Permission::Read => "read",
                Permission::Write => "change records",
                Permission::Administer => "perform administrative operations",
                Permission::ReadAudit => "read the audit trail",
                Permission::ExportAll => "export the organization's data",
            };
            Err(AppError::forbidden("FORBIDDEN", format!("your roles do not allow you to {what}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(roles: &[&str]) -> UserContext {
        UserContext {
            user_id: UserId::new(Uuid::new_v4()),
            email: None,
            organization_id: Some(OrgId::new(Uuid::new_v4())),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            expires_at: None,
        }
    }

    #[test]
    fn a_viewer_may_read_but_not_write() {
        let v = ctx(&["viewer"]);
        assert!(v.can(Permission::Read));
        assert!(!v.can(Permission::Write));
        assert!(!v.can(Permission::Administer));
    }

    #[test]
    fn a_token_without_roles_is_a_member() {
        let m = ctx(&[]);
        assert!(m.can(Permission::Write));
        assert!(!m.can(Permission::Administer));
    }

    #[test]
    fn the_highest_role_wins() {
        assert!(ctx(&["viewer", "ADMIN"]).can(Permission::Administer));
        assert!(ctx(&["owner"]).is_admin());
        assert!(ctx(&["viewer", "nurse"]).can(Permission::Write));
    }

    #[test]
    fn auditors_read_the_audit_trail_but_do_not_write() {
        let a = ctx(&["auditor"]);
        assert!(a.can(Permission::ReadAudit));
        assert!(!a.can(Permission::Write));
        assert!(!ctx(&["member"]).can(Permission::ReadAudit));
    }

    #[test]
    fn whole_exports_are_for_admins_owners_and_auditors_only() {
        for roles in [&["admin"][..], &["owner"], &["auditor"], &["viewer", "auditor"]] {
            assert!(ctx(roles).can(Permission::ExportAll), "{roles:?}");
        }
        for roles in [&["member"][..], &["viewer"], &["nurse"], &[]] {
            let refused = ctx(roles).require(Permission::ExportAll).map_err(|e| e.to_string());
            assert_eq!(
                refused,
                Err("your roles do not allow you to export the organization's data".into()),
                "{roles:?}"
            );
        }
    }

    #[test]
    fn no_organization_is_forbidden() {
        let mut c = ctx(&[]);
        c.organization_id = None;
        assert_eq!(c.org().map_err(|e| e.status()), Err(403));
        c.organization_id = Some(OrgId::new(Uuid::nil()));
        assert_eq!(c.org().map_err(|e| e.status()), Err(403), "the nil id is the audit trail's platform partition");
    }
}

/// A caller acting inside their organization: what every business operation receives. Only
/// the HTTP adapter builds one, from a verified token, so a handler that asks for a `Tenant`
/// cannot run unauthenticated or without an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub user: UserContext,
    pub org: OrgId,
}

impl Tenant {
    pub fn new(user: UserContext) -> Result<Self, AppError> {
        let org = user.org()?;
        Ok(Self { user, org })
    }

    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        self.user.require(permission)
    }
}
