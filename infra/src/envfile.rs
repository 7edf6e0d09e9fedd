//! `KEY=VALUE` files: `.local/stack.env` (what a client needs), `.local/dev.env` (dev secrets),
//! and the env file handed to `cargo lambda watch`.
//!
//! Values are written unquoted, one per line, so the file is readable by `cargo lambda watch
//! --env-file`, by `set -a; . .local/stack.env` in a shell, and by [`read`]. Such a value cannot
//! hold a newline; writing one is an error rather than a corrupt file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Reads a file; `Ok(None)` when it does not exist. Blank lines and `#` comments are skipped.
pub fn read(path: &Path) -> io::Result<Option<BTreeMap<String, String>>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse(&text))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))),
    }
}

pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            Some((key.trim().to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Writes the file atomically (temporary file then rename), readable by the owner only since it
/// holds secrets. A reader never sees half a file: a stack's readiness is signalled by its
/// `stack.env` appearing.
pub fn write<'a>(path: &Path, header: &str, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> io::Result<()> {
    let mut text = String::new();
    for line in header.lines() {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    for (key, value) in vars {
        if value.contains('\n') || key.contains(['\n', '=']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{key}: a value in an env file cannot hold a newline"),
            ));
        }
        text.push_str(key);
        text.push('=');
        text.push_str(value);
        text.push('\n');
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let dir = std::env::temp_dir().join(format!("hub-envfile-{}", uuid::Uuid::new_v4()));
        let path = dir.join("a.env");
        write(&path, "two lines\nof header", [("A", "1"), ("B", "x=y,z")]).unwrap();
        let vars = read(&path).unwrap().unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "x=y,z");
        assert_eq!(vars.len(), 2);
        assert!(read(&dir.join("missing.env")).unwrap().is_none());
    }

    #[test]
    fn a_newline_in_a_value_is_refused() {
        let path = std::env::temp_dir().join(format!("hub-envfile-{}.env", uuid::Uuid::new_v4()));
        assert!(write(&path, "", [("A", "1\n2")]).is_err());
    }
}
