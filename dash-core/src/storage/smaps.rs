//! Test support: what `/proc/self/smaps` says about this process' mapping of a file (the tests
//! that check mapped pages are let go).

use std::fs;

/// A field of this process' mapping of `name` in `/proc/self/smaps` (the first mapping of that
/// name): the text after `field:`.
pub(crate) fn smaps_field(name: &str, field: &str) -> Option<String> {
    let smaps = fs::read_to_string("/proc/self/smaps").unwrap();
    let mut lines = smaps.lines();
    while let Some(line) = lines.next() {
        if line.ends_with(name) {
            let prefix = format!("{field}:");
            return lines
                .take_while(|l| !l.ends_with(name))
                .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_owned));
        }
    }
    None
}

/// Resident bytes of this process' mapping of `name`.
pub(crate) fn resident(name: &str) -> u64 {
    let kb = smaps_field(name, "Rss").unwrap();
    kb.trim()
        .trim_end_matches(" kB")
        .trim()
        .parse::<u64>()
        .unwrap()
        * 1024
}
