//! `edgemq ctl trajectory ID` and `edgemq ctl history FILTER`: every page
//! of the API's answer, following `next`, newest first as the API gives
//! them; times shown in RFC 3339 UTC, details as `key=value` words.

use std::net::SocketAddr;

use crate::auth::json::Value;

use super::table::{cell, table};
use super::{call, parse, when};

/// Pages fetched at most (1,000 records each, fewer for large messages).
const MAX_PAGES: usize = 1000;

fn pages(
    t: &(SocketAddr, String),
    path: &str,
    list: &str,
    json: bool,
) -> Result<(Vec<Value>, String), String> {
    let mut rows = Vec::new();
    let mut bodies = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let at = cursor.map_or_else(String::new, |c| format!("cursor={c}&"));
        let body = call(t, "GET", &format!("{path}{at}limit=1000"))?;
        let v = parse(&body)?;
        if let Some(Value::Array(items)) = v.get(list) {
            rows.extend(items.iter().cloned());
        }
        if json {
            bodies.push(body);
        }
        cursor = v.get("next").and_then(Value::as_str).map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    Ok((rows, bodies.join("\n")))
}

fn time(row: &Value) -> Value {
    match row.get("ts") {
        Some(Value::Number(Some(ms))) => Value::String(when::show(u64::try_from(*ms).unwrap_or(0))),
        _ => Value::String("-".to_owned()),
    }
}

/// `key=value` words of an object, `{…}` around nested ones.
fn words(value: &Value, skip: &[&str]) -> String {
    match value {
        Value::Object(fields) => fields
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| match v {
                Value::Object(_) => format!("{k}={{{}}}", words(v, &[])),
                Value::String(s) => format!("{k}={s:?}"),
                other => format!("{k}={}", cell(Some(other))),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => cell(Some(other)),
    }
}

fn with(row: &Value, extra: Vec<(&str, Value)>) -> Value {
    let mut fields = match row {
        Value::Object(fields) => fields.clone(),
        _ => Vec::new(),
    };
    fields.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
    Value::Object(fields)
}

pub(super) fn trajectory(
    t: &(SocketAddr, String),
    path: &str,
    json: bool,
) -> Result<String, String> {
    let (rows, bodies) = pages(t, path, "events", json)?;
    if json {
        return Ok(format!("{bodies}\n"));
    }
    let shown: Vec<Value> = rows
        .iter()
        .map(|row| {
            let details = row
                .get("details")
                .map_or_else(String::new, |d| words(d, &["clientid", "ts"]));
            with(
                row,
                vec![("time", time(row)), ("words", Value::String(details))],
            )
        })
        .collect();
    Ok(table(
        &shown,
        &[("TIME", "time"), ("EVENT", "event"), ("DETAILS", "words")],
    ))
}

pub(super) fn history(t: &(SocketAddr, String), path: &str, json: bool) -> Result<String, String> {
    let (rows, bodies) = pages(t, path, "messages", json)?;
    if json {
        return Ok(format!("{bodies}\n"));
    }
    let shown: Vec<Value> = rows
        .iter()
        .map(|row| {
            let payload = match row.get("payload") {
                Some(Value::String(s)) => s.chars().take(80).collect(),
                _ => format!(
                    "base64:{}",
                    row.get("payload_base64")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .chars()
                        .take(80)
                        .collect::<String>()
                ),
            };
            with(
                row,
                vec![("time", time(row)), ("shown", Value::String(payload))],
            )
        })
        .collect();
    Ok(table(
        &shown,
        &[
            ("TIME", "time"),
            ("TOPIC", "topic"),
            ("QOS", "qos"),
            ("RETAIN", "retain"),
            ("PAYLOAD", "shown"),
        ],
    ))
}
