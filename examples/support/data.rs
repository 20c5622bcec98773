//! Reading the evaluation data (shared by the evaluation examples).

use std::error::Error;
use std::io::BufRead;
use std::path::Path;

use dash::Timestamp;
use serde_json::Value;

/// The non-empty lines of a file.
pub fn lines(path: &Path) -> Result<Vec<String>, Box<dyn Error>> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot open {}: {e} (pass --data DIR)", path.display()))?;
    Ok(std::io::BufReader::new(file)
        .lines()
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect())
}

/// A string field, empty when missing.
pub fn s(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// The start of a `YYYY`, `YYYY-MM` or `YYYY-MM-DD` period, and the start of the next one (the
/// data's periods are inclusive: "from 1811 to 1827" holds through 1827).
pub fn period(v: &Value) -> Option<(Timestamp, Timestamp)> {
    let text = v.as_str()?.trim();
    let mut parts = text.split('-').map(|p| p.parse::<i32>().ok());
    let y = parts.next()??;
    let m = parts.next().flatten();
    let d = parts.next().flatten();
    let at = |y: i32, m: i32, d: i32| {
        Timestamp::parse_rfc3339(&format!("{y:04}-{m:02}-{d:02}T00:00:00Z")).ok()
    };
    match (m, d) {
        (None, _) => Some((at(y, 1, 1)?, at(y + 1, 1, 1)?)),
        (Some(m), None) => {
            let next = if m == 12 {
                at(y + 1, 1, 1)
            } else {
                at(y, m + 1, 1)
            };
            Some((at(y, m, 1)?, next?))
        }
        (Some(m), Some(d)) => {
            let start = at(y, m, d)?;
            Some((
                start,
                Timestamp::from_unix_micros(start.as_unix_micros() + 86_400_000_000),
            ))
        }
    }
}
