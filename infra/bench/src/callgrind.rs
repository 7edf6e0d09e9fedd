//! Instruction counts from callgrind, which counts the same on a busy laptop and an idle CI box.
//!
//! Phases are separated by difference rather than by toggling collection: the same function is
//! profiled serving 0, 1 and 1+W events. Run 0 is init (plus process exit, which every run shares);
//! run 1 minus run 0 is the first invocation; (run 1+W minus run 1) / W is a warm invocation. The
//! per-function split of the warm cost is the same difference taken function by function, from
//! `callgrind_annotate` listings of the two runs.

use crate::error::BenchError;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// The total instruction count (`Ir`) of a callgrind output file.
pub fn total_instructions(path: &Path) -> Result<u64, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::io(format!("reading {}", path.display()), e))?;
    parse_total(&text).ok_or_else(|| BenchError::new(format!("{} has no totals line", path.display())))
}

fn parse_total(text: &str) -> Option<u64> {
    let line =
        text.lines().find(|l| l.starts_with("totals:")).or_else(|| text.lines().find(|l| l.starts_with("summary:")))?;
    line.split_once(':')?.1.split_whitespace().next()?.parse().ok()
}

fn parse_count(token: &str) -> Option<u64> {
    let digits: String = token.chars().filter(|c| *c != ',').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Per-function instruction counts from a `callgrind_annotate --auto=no` listing: lines of the
/// form `1,234 (12.3%)  file:function [object]` (older versions print no percentage). The source
/// file is dropped and counts of one function are added up: with debug info, inlined lines of
/// one function are listed once per source file.
pub fn parse_annotate(listing: &str) -> HashMap<String, u64> {
    let mut costs = HashMap::new();
    for line in listing.lines() {
        let line = line.trim();
        let Some((first, rest)) = line.split_once(char::is_whitespace) else { continue };
        let Some(count) = parse_count(first) else { continue };
        let mut rest = rest.trim_start();
        if rest.starts_with('(')
            && let Some(end) = rest.find(')')
        {
            rest = rest[end + 1..].trim_start();
        }
        if rest.is_empty() || rest.starts_with("PROGRAM TOTALS") {
            continue;
        }
        *costs.entry(function_of(rest).to_string()).or_insert(0) += count;
    }
    costs
}

/// `function [object]` of `file:function [object]`: source paths hold no colon, Rust paths do.
fn function_of(entry: &str) -> &str {
    let name_start = entry.find(" [").unwrap_or(entry.len());
    match entry[..name_start].find(':') {
        Some(colon) => &entry[colon + 1..],
        None => entry,
    }
}

/// `callgrind_annotate` of a file, every function (threshold 100%), self or inclusive cost.
pub fn annotate(path: &Path, inclusive: bool) -> Result<HashMap<String, u64>, BenchError> {
    let output = Command::new("callgrind_annotate")
        .arg("--threshold=100")
        .arg("--auto=no")
        .arg(format!("--inclusive={}", if inclusive { "yes" } else { "no" }))
        .arg(path)
        .output()
        .map_err(|e| BenchError::io("running callgrind_annotate", e))?;
    if !output.status.success() {
        return Err(BenchError::new(format!(
            "callgrind_annotate {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(parse_annotate(&String::from_utf8_lossy(&output.stdout)))
}

/// Functions ranked by `(after - before) / divisor`, the largest first; only positive growth.
pub fn ranked_difference(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
    divisor: u64,
) -> Vec<(String, u64)> {
    let divisor = divisor.max(1);
    let mut ranked: Vec<(String, u64)> = after
        .iter()
        .filter_map(|(name, &cost)| {
            let grown = cost.saturating_sub(before.get(name).copied().unwrap_or(0)) / divisor;
            (grown > 0).then(|| (name.clone(), grown))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
}

/// Functions ranked by cost.
pub fn ranked(costs: &HashMap<String, u64>) -> Vec<(String, u64)> {
    ranked_difference(&HashMap::new(), costs, 1)
}

/// Which library a function belongs to, from its demangled name: the first path segment
/// (`<http::header::FnvHasher as core::hash::Hasher>::write` is `http`), `aws-lc (C)` for the
/// crypto library's prefixed symbols, and the shared object for other C code.
pub fn crate_of(function: &str) -> String {
    let (name, object) = match function.find(" [") {
        Some(i) => (&function[..i], function[i + 2..].trim_end_matches(']')),
        None => (function, ""),
    };
    let name =
        name.trim_start_matches('<').trim_start_matches('&').trim_start_matches("mut ").trim_start_matches("dyn ");
    if name.starts_with("aws_lc_") {
        return "aws-lc (C)".into();
    }
    match name.find("::") {
        Some(i) if !name[..i].contains(' ') && !name[..i].is_empty() => name[..i].to_string(),
        _ if object.is_empty() => "C code in the binary".into(),
        _ => object.rsplit('/').next().unwrap_or(object).to_string(),
    }
}

/// Costs added up per [`crate_of`].
pub fn by_crate(costs: &HashMap<String, u64>) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for (function, cost) in costs {
        *out.entry(crate_of(function)).or_insert(0) += cost;
    }
    out
}

/// Thousands separators, as callgrind prints counts.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A function name short enough for a table: the object path dropped, generic noise trimmed.
pub fn short_name(name: &str) -> String {
    let name = name.split(" [").next().unwrap_or(name);
    let mut short: String = name.chars().take(140).collect();
    if short.len() < name.len() {
        short.push('…');
    }
    short.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn totals_are_read_from_either_line() {
        assert_eq!(parse_total("events: Ir\nsummary: 1234\ntotals: 1234\n"), Some(1234));
        assert_eq!(parse_total("summary: 99\n"), Some(99));
        assert_eq!(parse_total("events: Ir\n"), None);
    }

    #[test]
    fn annotate_lines_with_and_without_percentages_are_read() {
        let listing = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
5,392,101 (100.0%)  PROGRAM TOTALS

1,234,567 (22.89%)  ???:memcpy [/usr/lib/libc.so.6]
   12,000  src/lib.rs:hub::f [/bin/x]
";
        let costs = parse_annotate(listing);
        assert_eq!(costs.len(), 2);
        assert_eq!(costs["memcpy [/usr/lib/libc.so.6]"], 1_234_567);
        assert_eq!(costs["hub::f [/bin/x]"], 12_000);
    }

    #[test]
    fn one_function_listed_under_several_files_is_added_up() {
        let listing =
            "  10 (1%)  a.h:_dl_relocate_object\n  5 (1%)  b.c:_dl_relocate_object\n 3  ???:core::fmt::write [/x]\n";
        let costs = parse_annotate(listing);
        assert_eq!(costs["_dl_relocate_object"], 15);
        assert_eq!(costs["core::fmt::write [/x]"], 3);
    }

    #[test]
    fn the_difference_is_ranked_per_unit() {
        let before: HashMap<String, u64> = [("a".into(), 100), ("b".into(), 50)].into();
        let after: HashMap<String, u64> = [("a".into(), 300), ("b".into(), 50), ("c".into(), 1000)].into();
        assert_eq!(ranked_difference(&before, &after, 10), vec![("c".into(), 100), ("a".into(), 20)]);
    }

    #[test]
    fn functions_are_attributed_to_their_crate() {
        assert_eq!(crate_of("<http::header::map::FnvHasher as core::hash::Hasher>::write"), "http");
        assert_eq!(crate_of("hub_shared::auth::jwt::Verifier::verify"), "hub_shared");
        assert_eq!(crate_of("aws_lc_0_32_sha256_block_data_order"), "aws-lc (C)");
        assert_eq!(crate_of("__memcpy_avx_unaligned_erms [/usr/lib/x86_64-linux-gnu/libc.so.6]"), "libc.so.6");
        assert_eq!(crate_of("malloc"), "C code in the binary");
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(5_392_101), "5,392,101");
    }
}
