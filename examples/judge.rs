//! The built-in contradiction judge on pairs of sentences, as the store would judge two claims
//! (before time decides between `contradicts` and `supersedes`):
//!
//! ```text
//! cargo run --example judge -- "The bridge opened in 1932" "The bridge collapsed in 1932" \
//!     "A man is playing a guitar" "A man is playing an instrument"
//! ```
//!
//! Prints, for each pair, the confidence and the reason naming the differing spans, or that
//! the judge sees no conflict.

use dash::detect::{ContradictionDetector, RuleDetector};

fn main() {
    let judge = RuleDetector::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || args.len() % 2 == 1 {
        eprintln!("usage: judge \"sentence A\" \"sentence B\" [\"A\" \"B\" ...]");
        std::process::exit(2);
    }
    println!("judge: {}", judge.version());
    for pair in args.chunks(2) {
        match judge.judge(&pair[0], &pair[1]) {
            Some(j) => println!(
                "conflict ({:.2}: {}): {:?} / {:?}",
                j.confidence, j.reason, pair[0], pair[1]
            ),
            None => println!("no conflict: {:?} / {:?}", pair[0], pair[1]),
        }
    }
}
