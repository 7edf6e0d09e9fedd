use serde::{Deserialize, Serialize};

/// A syntactically valid e-mail address, at most 254 characters (RFC 5321's path limit).
///
/// The check is deliberately the practical subset: one `@`, a non-empty local part without
/// spaces, and a dotted domain of letters, digits and hyphens. Deliverability is not our call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let value = raw.trim();
        if value.chars().count() > 254 {
            return Err("must be at most 254 characters");
        }
        let (local, domain) = value.rsplit_once('@').ok_or("must be an e-mail address")?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '"');
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
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
        for bad in ["", "a", "a@", "@b.fr", "a@b", "a b@c.fr", "a@b..fr", "a@-b.fr", "a@b.fr@c.fr"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
