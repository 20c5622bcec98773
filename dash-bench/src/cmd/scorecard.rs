//! `dash-bench scorecard FILE...`: DASH beside every peer as ratios, from the JSON lines that
//! `dash-bench ir`/`scale` and `scripts/peers/run_peers.py` write ([`SideResult`]). One table
//! per set: for each mode, DASH's rows, then each peer's rows with DASH/peer ratios of quality
//! and latency against DASH's setting of the same kind (default against default, tuned against
//! tuned, matched against DASH's default, whose recall the peers were matched to).
//! `--append docs/scorecard.md` puts the table at the top of the history (newest first).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use dash_bench::side::{read_results, SideResult};
use dash_bench::Res;

/// Where new entries go in the history file: right after this line.
const MARKER: &str = "<!-- entries below, newest first -->";

/// Arguments of `dash-bench scorecard`.
#[derive(clap::Args)]
pub struct Args {
    /// JSON-lines result files (DASH's and the peers').
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Adds the table to this history file, newest first (created if missing).
    #[arg(long)]
    append: Option<PathBuf>,
    /// A title for the entry (e.g. the script's mode).
    #[arg(long, default_value = "scorecard")]
    title: String,
}

/// Prints the tables and, with `--append`, adds them to the history.
pub fn run(args: Args) -> Res<()> {
    let mut results = Vec::new();
    for file in &args.files {
        results.extend(read_results(file)?);
    }
    if results.is_empty() {
        return Err("no results in the files given".into());
    }
    let entry = render(&args.title, &results);
    println!("{entry}");
    if let Some(path) = &args.append {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let new = match old.find(MARKER) {
            Some(at) => {
                let split = at + MARKER.len();
                format!("{}\n\n{}{}", &old[..split], entry.trim_end(), &old[split..])
            }
            None => format!("{}{MARKER}\n\n{entry}", header_or(&old)),
        };
        std::fs::write(path, new)?;
        eprintln!("added to {}", path.display());
    }
    Ok(())
}

fn header_or(old: &str) -> String {
    if old.trim().is_empty() {
        "# Scorecard: DASH beside the engines users would pick instead\n\n\
         Written by `scripts/scorecard.sh` (`dash-bench scorecard --append`).\n\n"
            .to_owned()
    } else {
        format!("{}\n\n", old.trim_end())
    }
}

/// The kind of a setting: `default`, `tuned` or `matched`.
fn kind(setting: &str) -> &str {
    setting.split(':').next().unwrap_or(setting).trim()
}

/// The quality figure a set reports, and its name: nDCG@k on IR sets, recall@k against exact
/// search for dense search at scale, none otherwise.
fn quality(r: &SideResult) -> Option<(f64, String)> {
    if let Some(n) = r.ndcg {
        return Some((n, format!("nDCG@{}", r.k)));
    }
    r.recall_vs_exact
        .map(|x| (x, format!("recall@{} vs exact", r.k)))
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

/// The markdown entry: a heading with the date, the machine and the commit, then one table per
/// set.
fn render(title: &str, results: &[SideResult]) -> String {
    let mut out = String::new();
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let dash = results.iter().find(|r| r.engine == "dash");
    let _ = writeln!(out, "## {title}, {date}\n");
    let _ = writeln!(
        out,
        "Machine: {}. DASH {}.\n",
        dash_bench::machine::one_line(),
        dash.map_or("not run", |d| d.version.as_str())
    );
    let _ = writeln!(
        out,
        "Ratios are DASH / peer: quality above 1 and latency below 1 favour DASH. Each peer \
         setting is compared with DASH's setting of the same kind (matched: with DASH's default, \
         whose recall the peers were matched to).\n"
    );
    let sets: BTreeSet<&str> = results.iter().map(|r| r.set.as_str()).collect();
    for set in sets {
        let rows: Vec<&SideResult> = results.iter().filter(|r| r.set == set).collect();
        let docs = rows.iter().map(|r| r.docs).max().unwrap_or(0);
        let queries = rows.iter().map(|r| r.queries).max().unwrap_or(0);
        let _ = writeln!(out, "### {set} ({docs} documents, {queries} queries)\n");
        let _ = writeln!(
            out,
            "| mode | engine | setting | quality | p50 ms | p95 ms | build s | quality ratio | p50 ratio | p95 ratio |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
        for mode in ["dense", "lexical", "hybrid"] {
            let of_mode: Vec<&&SideResult> = rows.iter().filter(|r| r.mode == mode).collect();
            let ours: Vec<&&SideResult> = of_mode
                .iter()
                .copied()
                .filter(|r| r.engine == "dash")
                .collect();
            let baseline = |setting: &str| {
                let want = match kind(setting) {
                    "tuned" => "tuned",
                    _ => "default",
                };
                ours.iter()
                    .find(|r| kind(&r.setting) == want)
                    .or_else(|| ours.first())
                    .copied()
            };
            let mut ordered: Vec<&&SideResult> = ours.clone();
            ordered.extend(of_mode.iter().copied().filter(|r| r.engine != "dash"));
            for r in ordered {
                let q = quality(r);
                let q_text = q
                    .as_ref()
                    .map_or("–".into(), |(v, name)| format!("{v:.3} {name}"));
                let (qr, p50r, p95r) = match baseline(&r.setting) {
                    Some(d) if r.engine != "dash" => (
                        match (quality(d), &q) {
                            (Some((dv, _)), Some((pv, _))) => ratio(dv, *pv),
                            _ => "–".into(),
                        },
                        ratio(d.p50_ms, r.p50_ms),
                        ratio(d.p95_ms, r.p95_ms),
                    ),
                    _ => ("".into(), "".into(), "".into()),
                };
                let engine = if r.engine == "dash" {
                    "**dash**".to_owned()
                } else {
                    r.engine.clone()
                };
                let _ = writeln!(
                    out,
                    "| {mode} | {engine} | {} | {q_text} | {:.2} | {:.2} | {:.1} | {qr} | {p50r} | {p95r} |",
                    r.setting, r.p50_ms, r.p95_ms, r.build_s
                );
            }
        }
        let _ = writeln!(out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(engine: &str, mode: &str, setting: &str, ndcg: f64, p95: f64) -> SideResult {
        SideResult {
            set: "cf".into(),
            engine: engine.into(),
            mode: mode.into(),
            setting: setting.into(),
            k: 10,
            docs: 5,
            queries: 2,
            hit: Some(1.0),
            recall: Some(1.0),
            ndcg: Some(ndcg),
            recall_vs_exact: None,
            p50_ms: 1.0,
            p95_ms: p95,
            p99_ms: 3.0,
            build_s: 1.0,
            version: "v".into(),
        }
    }

    #[test]
    fn peers_get_ratios_against_dash_of_the_same_kind() {
        let table = render(
            "t",
            &[
                result("dash", "dense", "default", 0.4, 2.0),
                result("dash", "dense", "tuned: ef 64", 0.3, 1.0),
                result("lancedb", "dense", "default", 0.2, 4.0),
                result("lancedb", "dense", "tuned: np 64", 0.6, 4.0),
            ],
        );
        // default vs default: quality 0.4/0.2, p95 2/4.
        assert!(table.contains("| dense | lancedb | default | 0.200 nDCG@10 | 1.00 | 4.00 | 1.0 | 2.00 | 1.00 | 0.50 |"), "{table}");
        // tuned vs tuned: quality 0.3/0.6, p95 1/4.
        assert!(
            table.contains(
                "| tuned: np 64 | 0.600 nDCG@10 | 1.00 | 4.00 | 1.0 | 0.50 | 1.00 | 0.25 |"
            ),
            "{table}"
        );
        assert!(table.contains("### cf (5 documents, 2 queries)"));
    }

    #[test]
    fn appending_keeps_the_newest_entry_first() -> Res<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("scorecard.md");
        let file = dir.path().join("r.jsonl");
        result("dash", "dense", "default", 0.4, 2.0).append_to(&file)?;
        for title in ["first", "second"] {
            run(Args {
                files: vec![file.clone()],
                append: Some(path.clone()),
                title: title.into(),
            })?;
        }
        let text = std::fs::read_to_string(&path)?;
        let (first, second) = (text.find("## first"), text.find("## second"));
        assert!(
            second.is_some() && first.is_some() && second < first,
            "{text}"
        );
        assert_eq!(text.matches(MARKER).count(), 1);
        Ok(())
    }
}
