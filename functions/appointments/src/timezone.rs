//! IANA time zone names. An appointment keeps its zone only for display (times are stored in
//! UTC), so a name check is all that is needed: a compact embedded list (about 9 KB) instead of
//! a zone database with its transition rules in every appointments binary.

/// tzdata's Zone and Link names, one per line, sorted.
const NAMES: &str = include_str!("iana_zones.txt");

/// Whether `name` is an IANA zone name, exactly as tzdata spells it (`Europe/Paris`, `UTC`).
pub fn is_iana_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('#') && NAMES.lines().any(|line| line == name)
}

/// Every name, in order (the field's list for `Fields::listed` and the OpenAPI document).
pub fn names() -> &'static [&'static str] {
    static LIST: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    LIST.get_or_init(|| NAMES.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_zones_and_their_old_aliases_are_names() {
        for name in ["Europe/Paris", "America/Argentina/Buenos_Aires", "UTC", "Asia/Kolkata", "Asia/Calcutta"] {
            assert!(is_iana_name(name), "{name}");
        }
    }

    #[test]
    fn offsets_abbreviations_case_variants_and_comments_are_not() {
        for name in ["", "europe/paris", "Europe/Pariss", "+01:00", "CEST", "Paris", "Factory", "#"] {
            assert!(!is_iana_name(name), "{name}");
        }
    }

    #[test]
    fn the_list_is_sorted_and_free_of_duplicates() {
        let names: Vec<&str> = NAMES.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(names.len() > 500);
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }
}
