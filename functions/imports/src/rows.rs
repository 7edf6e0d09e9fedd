//! From bytes to rows: a window of the file cut into complete rows (CSV records read as bytes,
//! NDJSON lines), and each row turned into the JSON object the entity's validating constructor
//! takes. Nothing here validates a value: a cell becomes the JSON type its field expects when
//! it reads as one, and stays a string otherwise, so `E::from_json` reports it with the same
//! message the API gives.

use hub_shared::domain::spec::{FieldSpec, Rule};
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// Separates the items of a list field (a document's `tags`) in one CSV cell.
pub const LIST_SEPARATOR: char = '|';

/// A row of the window: its number in the file, where it starts and ends (bytes from the start
/// of the window), and its object or the reason it has none.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub row: u64,
    pub start: usize,
    pub end: usize,
    pub object: Result<Map<String, Value>, String>,
}

/// The complete rows at the start of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Cut {
    pub rows: Vec<Row>,
    /// Where the rows taken end (bytes from the start of the window): the next chunk's start.
    pub end: usize,
    /// The window ended before one complete row: read a larger one.
    pub need_more: bool,
}

/// The CSV header's columns mapped to fields: the declared `columns` (header -> field) first,
/// else the header itself. Every column must name a field the entity accepts from a client.
pub fn map_header(
    header: &[String],
    columns: &BTreeMap<String, String>,
    spec: &[FieldSpec],
) -> Result<Vec<FieldSpec>, String> {
    let mut fields: Vec<FieldSpec> = Vec::with_capacity(header.len());
    let mut unknown = Vec::new();
    for name in header {
        let name = name.trim();
        let field = columns.get(name).map(String::as_str).unwrap_or(name);
        match spec.iter().find(|s| s.name == field && s.rule != Rule::Ignored) {
            Some(found) if fields.iter().any(|f| f.name == found.name) => {
                return Err(format!("two columns map to the field `{field}`"));
            }
            Some(found) => fields.push(found.clone()),
            None => unknown.push(format!("`{name}`")),
        }
    }
    if !unknown.is_empty() {
        let accepted: Vec<&str> = spec.iter().filter(|s| s.rule != Rule::Ignored).map(|s| s.name).collect();
        return Err(format!(
            "unknown column{} {}: a header must be a field name ({}) or be mapped to one in `columns`",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            accepted.join(", ")
        ));
    }
    if let Some(missing) = columns.keys().find(|h| !header.iter().any(|name| name.trim() == h.as_str())) {
        return Err(format!("`columns` names the header `{missing}`, which the file does not have"));
    }
    Ok(fields)
}

/// A cell as the JSON value its field expects: `None` when blank (the field is absent).
pub fn cell_value(rule: &Rule, cell: &str) -> Option<Value> {
    let trimmed = cell.trim();
    if trimmed.is_empty() {
        return None;
    }
    let value = match rule {
        Rule::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => Value::String(cell.to_string()),
        },
        Rule::Integer { .. } => {
            trimmed.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(cell.to_string()))
        }
        Rule::Number { .. } => trimmed
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(cell.to_string())),
        Rule::StringList { .. } => {
            Value::Array(trimmed.split(LIST_SEPARATOR).map(|item| Value::String(item.trim().to_string())).collect())
        }
        _ => Value::String(cell.to_string()),
    };
    Some(value)
}

/// The records of a CSV window, at most `max_rows`, numbered from `first_row`. Unless the
/// window reaches the end of the file, its last record is left for the next window: it may be
/// cut (a window ends anywhere, even inside a quoted cell).
pub fn cut_csv(bytes: &[u8], at_eof: bool, first_row: u64, max_rows: usize, fields: &[FieldSpec]) -> Cut {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut spans = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let start = reader.position().byte() as usize;
        match reader.read_byte_record(&mut record) {
            Ok(true) => {
                let end = reader.position().byte() as usize;
                spans.push((start, end, record.clone()));
                // One more than needed: the extra one proves the last one taken is complete.
                if spans.len() > max_rows {
                    break;
                }
            }
            // Only I/O can fail a byte record from a slice with flexible lengths.
            Ok(false) | Err(_) => break,
        }
    }
    let complete = if at_eof && spans.len() <= max_rows { spans.len() } else { spans.len().saturating_sub(1) };
    spans.truncate(complete.min(max_rows));
    let need_more = spans.is_empty() && !at_eof;
    let end = spans.last().map(|(_, end, _)| *end).unwrap_or(if at_eof { bytes.len() } else { 0 });
    let rows = spans
        .into_iter()
        .enumerate()
        .map(|(i, (start, end, record))| Row {
            row: first_row + i as u64,
            start,
            end,
            object: csv_object(&record, fields),
        })
        .collect();
    Cut { rows, end, need_more }
}

/// The header record at the start of a CSV file (a UTF-8 byte order mark dropped), and where it
/// ends; `None` when the window holds no complete record.
pub fn csv_header(bytes: &[u8], at_eof: bool) -> Option<Result<(Vec<String>, usize), String>> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let skipped = bytes.len() - body.len();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {
            let end = reader.position().byte() as usize;
            if end >= body.len() && !at_eof {
                return None;
            }
            let names: Result<Vec<String>, _> =
                record.iter().map(|cell| std::str::from_utf8(cell).map(str::to_string)).collect();
            Some(names.map(|n| (n, end + skipped)).map_err(|_| "the header row is not UTF-8".to_string()))
        }
        _ if at_eof => Some(Err("the file is empty: it has no header row".into())),
        _ => None,
    }
}

fn csv_object(record: &csv::ByteRecord, fields: &[FieldSpec]) -> Result<Map<String, Value>, String> {
    if record.len() != fields.len() {
        return Err(format!("wrong column count: {} columns, the header has {}", record.len(), fields.len()));
    }
    let mut object = Map::new();
    for (cell, field) in record.iter().zip(fields) {
        let text =
            std::str::from_utf8(cell).map_err(|_| format!("bad encoding: the `{}` cell is not UTF-8", field.name))?;
        if let Some(value) = cell_value(&field.rule, text) {
            object.insert(field.name.to_string(), value);
        }
    }
    Ok(object)
}

/// The lines of an NDJSON window, at most `max_rows`, numbered from `first_row` (a line is a
/// row, blank ones included, so row N is line N). A last line without its newline is complete
/// only at the end of the file.
pub fn cut_ndjson(
    bytes: &[u8],
    at_eof: bool,
    first_row: u64,
    max_rows: usize,
    columns: &BTreeMap<String, String>,
) -> Cut {
    let mut rows = Vec::new();
    let mut start = 0;
    let mut row = first_row;
    while rows.len() < max_rows && start < bytes.len() {
        let (line, end) = match bytes[start..].iter().position(|b| *b == b'\n') {
            Some(at) => (&bytes[start..start + at], start + at + 1),
            None if at_eof => (&bytes[start..], bytes.len()),
            None => break,
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.iter().all(u8::is_ascii_whitespace) {
            rows.push(Row { row, start, end, object: json_object(line, columns) });
        }
        row += 1;
        start = end;
    }
    let need_more = start == 0 && !at_eof;
    Cut { rows, end: start, need_more }
}

/// How many rows (lines) a cut of an NDJSON window consumed, blank ones included: the next
/// chunk's first row number follows them.
pub fn ndjson_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

fn json_object(line: &[u8], columns: &BTreeMap<String, String>) -> Result<Map<String, Value>, String> {
    let text = std::str::from_utf8(line).map_err(|_| "bad encoding: the line is not UTF-8".to_string())?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => {
            Ok(object.into_iter().map(|(key, value)| (columns.get(&key).cloned().unwrap_or(key), value)).collect())
        }
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_shared::domain::spec::FieldSpec;

    fn text(name: &'static str) -> FieldSpec {
        FieldSpec {
            name,
            rule: Rule::Text { max: 10, multiline: false, required: false },
            default: None,
            notes: vec![],
        }
    }

    #[test]
    fn a_csv_window_keeps_only_complete_records_unless_at_the_end() {
        let fields = [text("a"), text("b")];
        let bytes = b"1,2\n\"x\ny\",3\n4,5";
        let cut = cut_csv(bytes, false, 2, 100, &fields);
        assert_eq!(cut.rows.len(), 2, "the last record may be cut: left for the next window");
        assert_eq!(cut.rows[1].object.as_ref().unwrap()["a"], "x\ny");
        assert_eq!(&bytes[cut.end..], b"4,5");
        let all = cut_csv(bytes, true, 2, 100, &fields);
        assert_eq!(all.rows.len(), 3);
        assert_eq!(all.end, bytes.len());
        let one = cut_csv(b"1,2", false, 2, 100, &fields);
        assert!(one.need_more);
        let capped = cut_csv(bytes, true, 2, 1, &fields);
        assert_eq!((capped.rows.len(), &bytes[capped.end..]), (1, &b"\"x\ny\",3\n4,5"[..]));
    }

    #[test]
    fn bad_rows_say_why() {
        let fields = [text("a"), text("b")];
        let cut = cut_csv(b"1\n\xff,2\n", true, 2, 100, &fields);
        assert!(cut.rows[0].object.as_ref().unwrap_err().starts_with("wrong column count"));
        assert!(cut.rows[1].object.as_ref().unwrap_err().starts_with("bad encoding"));
    }

    #[test]
    fn ndjson_rows_are_lines_and_blank_lines_keep_the_numbering() {
        let cut = cut_ndjson(b"{\"a\":1}\n\n[1]\n{\"a\"", false, 1, 100, &BTreeMap::new());
        assert_eq!(cut.rows.iter().map(|r| r.row).collect::<Vec<_>>(), vec![1, 3]);
        assert!(cut.rows[1].object.is_err());
        assert_eq!(ndjson_lines(&b"{\"a\":1}\n\n[1]\n{\"a\""[..cut.end]), 3);
    }

    #[test]
    fn cells_become_the_type_their_field_expects_or_stay_strings() {
        assert_eq!(cell_value(&Rule::Boolean, " Yes "), Some(Value::Bool(true)));
        assert_eq!(cell_value(&Rule::Boolean, "maybe"), Some(Value::String("maybe".into())));
        assert_eq!(cell_value(&Rule::Integer { min: 1, max: 5 }, "3"), Some(Value::from(3)));
        assert_eq!(
            cell_value(&Rule::StringList { max_items: 5, max_len: 5 }, "a| b"),
            Some(serde_json::json!(["a", "b"]))
        );
        assert_eq!(cell_value(&Rule::Boolean, "  "), None);
    }
}
