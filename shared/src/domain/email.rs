use serde::{Deserialize, Serialize};

/// A syntactically valid e-mail address, at most 254 characters (RFC 5321's path limit).
///
/// The check is deliberately the practical subset: a local part of 1 to 64 characters without
/// `@`, `"`, spaces or control characters, and a dotted domain of at least two ASCII labels of
/// letters, digits and inner hyphens (an international domain travels in its `xn--` form, as
/// SMTP carries it). Deliverability is not our call. The address is taken as written, nothing
/// trimmed: [`crate::domain::spec::email_pattern`] is the same rule for the OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let value = raw;
        if value.chars().count() > 254 {
            return Err("must be at most 254 characters");
        }
        let (local, domain) = value.rsplit_once('@').ok_or("must be an e-mail address")?;
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '@');
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
            });
        if local_ok && domain_ok { Ok(Self(value.to_string())) } else { Err("must be an e-mail address") }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and search compare: addresses differ only in case are the same person.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_are_accepted() {
        for ok in ["a@b.fr", "jean.dupont+rdv@clinique-st-louis.paris", "Zoë@exemple.fr"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in
            ["", "a", "a@", "@b.fr", "a@b", "a b@c.fr", "a@b..fr", "a@-b.fr", "a@b.fr@c.fr", " a@b.fr", "a@café.fr"]
        {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
