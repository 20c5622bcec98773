//! `docs/http-api.md` matches the code: its route table lists exactly the routes the server
//! serves, its error table exactly the error codes (with their statuses), and its
//! configuration table exactly the settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use dash_server::api::ROUTES;
use dash_server::config::FLAGS;
use dash_server::error::ErrorCode;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/http-api.md");
    std::fs::read_to_string(path).expect("docs/http-api.md")
}

/// The first cells (between the first pair of backticks) of the table rows under `heading`.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        if line.starts_with('#') {
            inside = line.trim_start_matches('#').trim() == heading;
            continue;
        }
        if inside && line.starts_with("| `") {
            rows.push(
                line.trim_matches('|')
                    .split(" | ")
                    .map(|c| c.trim().to_owned())
                    .collect(),
            );
        }
    }
    rows
}

fn unquote(cell: &str) -> String {
    cell.trim_matches('`').to_owned()
}

#[test]
fn route_table_matches_the_router() {
    let doc = doc();
    let documented: BTreeSet<String> = table(&doc, "Routes")
        .iter()
        .map(|r| unquote(&r[0]))
        .collect();
    let served: BTreeSet<String> = ROUTES.iter().map(|(m, p)| format!("{m} {p}")).collect();
    assert_eq!(documented, served);
}

#[test]
fn error_table_matches_the_codes_and_statuses() {
    let doc = doc();
    let documented: BTreeSet<(String, String)> = table(&doc, "Errors")
        .iter()
        .map(|r| (unquote(&r[0]), r[1].clone()))
        .collect();
    let defined: BTreeSet<(String, String)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.status().as_u16().to_string()))
        .collect();
    assert_eq!(documented, defined);
}

#[test]
fn configuration_table_matches_the_settings() {
    let doc = doc();
    let documented: BTreeSet<(String, String)> = table(&doc, "Configuration")
        .iter()
        .map(|r| (unquote(&r[0]), unquote(&r[1])))
        .collect();
    let defined: BTreeSet<(String, String)> = FLAGS
        .iter()
        .map(|(var, flag)| ((*var).to_owned(), format!("--{flag}")))
        .collect();
    assert_eq!(documented, defined);
}
