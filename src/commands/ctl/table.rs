//! `edgemq ctl`'s output: aligned tables and `key: value` lists, read
//! from the API's JSON.

use crate::auth::json::Value;

/// A cell's text: strings as they are, numbers in decimal, booleans as
/// yes/no, null and missing as `-`.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(Some(n))) => n.to_string(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        Some(Value::Array(a)) => a.len().to_string(),
        _ => "-".to_owned(),
    }
}

/// Columns `(title, key)` of the objects in `rows`, aligned, one line
/// each; the last column is not padded.
pub fn table(rows: &[Value], columns: &[(&str, &str)]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| columns.iter().map(|(_, key)| cell(row.get(key))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (title, _))| {
            cells
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let titles: Vec<String> = columns.iter().map(|(t, _)| (*t).to_owned()).collect();
    for line in std::iter::once(&titles).chain(cells.iter()) {
        let mut text = String::new();
        for (i, (c, w)) in line.iter().zip(&widths).enumerate() {
            if i + 1 == line.len() {
                text.push_str(c);
            } else {
                text.push_str(&format!("{c:<w$}  "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// `key: value` lines for `keys` of `object`, the keys aligned.
pub fn list(object: &Value, keys: &[(&str, &str)]) -> String {
    let width = keys.iter().map(|(t, _)| t.len()).max().unwrap_or(0) + 1;
    keys.iter()
        .map(|(title, key)| {
            format!(
                "{:<width$} {}\n",
                format!("{title}:"),
                cell(object.get(key))
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows =
            crate::auth::json::parse(r#"[{"a":"x","b":1},{"a":"longer","b":null}]"#).unwrap();
        let Value::Array(rows) = rows else { panic!() };
        assert_eq!(
            table(&rows, &[("A", "a"), ("B", "b")]),
            "A       B\nx       1\nlonger  -\n"
        );
    }
}
