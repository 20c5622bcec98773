//! The result table of `dash-bench store`: one row per measure, with its target and verdict.

/// One row of the table.
pub struct Row {
    /// What was measured.
    name: String,
    /// The figure, with its details.
    figure: String,
    /// The target, `-` when informational.
    target: String,
    /// Whether the target was met; `None` when informational.
    pass: Option<bool>,
}

/// An informational row (no target).
pub fn row(name: impl Into<String>, figure: impl Into<String>) -> Row {
    Row {
        name: name.into(),
        figure: figure.into(),
        target: "-".into(),
        pass: None,
    }
}

/// A row judged against `target`.
pub fn judged(name: impl Into<String>, figure: String, target: &str, pass: bool) -> Row {
    Row {
        name: name.into(),
        figure,
        target: target.into(),
        pass: Some(pass),
    }
}

/// `x` rounded, with thousands separators (`1,234,567`).
pub fn thousands(x: f64) -> String {
    let s = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Milliseconds with two decimals.
pub fn ms(millis: f64) -> String {
    format!("{millis:.2} ms")
}

/// Prints the rows as an aligned table.
pub fn print(rows: &[Row]) {
    let w0 = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.figure.len()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.target.len()).max().unwrap_or(0);
    println!(
        "{:w0$} | {:w1$} | {:w2$} | result",
        "measure", "figure", "target"
    );
    println!("{}", "-".repeat(w0 + w1 + w2 + 16));
    for r in rows {
        let verdict = match r.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "",
        };
        println!(
            "{:w0$} | {:w1$} | {:w2$} | {verdict}",
            r.name, r.figure, r.target
        );
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-5.0), "0");
    }
}
