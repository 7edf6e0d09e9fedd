//! Text normalisation for search keys: case- and accent-insensitive, whitespace folded.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// `"  Éloïse  DUPONT-Martin "` becomes `"eloise dupont-martin"`.
pub fn fold(value: &str) -> String {
    let stripped: String = value.nfkd().filter(|c| !is_combining_mark(*c)).collect();
    let lowered = stripped.to_lowercase();
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn accents_case_and_spacing_do_not_matter() {
        assert_eq!(fold("  Éloïse  DUPONT-Martin "), "eloise dupont-martin");
        assert_eq!(fold("Çédric"), fold("cedric"));
        assert_eq!(fold("Straße"), "straße");
    }
}
