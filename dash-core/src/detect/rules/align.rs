//! Aligns two analysed texts: the longest common subsequence of their words (content words
//! weigh more than prepositions), then the differing stretches between the shared ones.

use super::text::{Kind, Token};

/// A stretch where the two texts differ: `a[a_from..a_to]` stands where `b[b_from..b_to]` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hunk {
    pub(super) a: std::ops::Range<usize>,
    pub(super) b: std::ops::Range<usize>,
    /// No shared lower-case content word before it: it is in the subject (a name's words are
    /// capitalised: "VP-29 …" / "VP-42 …" differ in the subject).
    pub(super) leading: bool,
    /// It runs to the end of both texts: the object of an otherwise identical statement.
    pub(super) terminal: bool,
}

/// The alignment of two token lists.
#[derive(Debug, Clone)]
pub(super) struct Alignment {
    /// Matched pairs `(i, j)`, increasing.
    pub(super) matched: Vec<(usize, usize)>,
    pub(super) hunks: Vec<Hunk>,
    /// Tokens of `a` / `b` that are not aligned but match a token elsewhere in the other text
    /// (a reordering: "the horse is ridden by a man" / "a man rides the horse").
    pub(super) moved_a: Vec<bool>,
    pub(super) moved_b: Vec<bool>,
}

fn weight(t: &Token) -> u32 {
    match t.kind {
        Kind::Light => 1,
        _ => 3,
    }
}

/// Aligns `a` and `b`.
pub(super) fn align(a: &[Token], b: &[Token]) -> Alignment {
    let (n, m) = (a.len(), b.len());
    // score[i][j]: best weight aligning a[i..] with b[j..].
    let mut score = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let skip = score[at(i + 1, j)].max(score[at(i, j + 1)]);
            let take = if a[i].matches(&b[j]) {
                score[at(i + 1, j + 1)] + weight(&a[i])
            } else {
                0
            };
            score[at(i, j)] = skip.max(take);
        }
    }
    let mut matched = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i].matches(&b[j]) && score[at(i, j)] == score[at(i + 1, j + 1)] + weight(&a[i]) {
            matched.push((i, j));
            i += 1;
            j += 1;
        } else if score[at(i + 1, j)] >= score[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    let mut moved_a = vec![false; n];
    let mut moved_b = vec![false; m];
    let aligned_a: Vec<bool> = (0..n).map(|i| matched.iter().any(|p| p.0 == i)).collect();
    let aligned_b: Vec<bool> = (0..m).map(|j| matched.iter().any(|p| p.1 == j)).collect();
    for i in (0..n).filter(|&i| !aligned_a[i] && !matches!(a[i].kind, Kind::Light)) {
        if let Some(j) = (0..m).find(|&j| !aligned_b[j] && !moved_b[j] && a[i].matches(&b[j])) {
            moved_a[i] = true;
            moved_b[j] = true;
        }
    }
    // Differing stretches: between consecutive matches, and at both ends. Stretches separated
    // only by matched prepositions merge ("member of parliament" / "minister of finance" is one
    // slot).
    let mut hunks: Vec<Hunk> = Vec::new();
    let mut prev = (0usize, 0usize);
    let mut seen_content = false;
    let bounds: Vec<(usize, usize)> = matched.iter().copied().chain([(n, m)]).collect();
    for &(mi, mj) in &bounds {
        let (ai, bj) = prev;
        let a_range = ai..mi;
        let b_range = bj..mj;
        let differs = a_range.clone().any(|i| !moved_a[i]) || b_range.clone().any(|j| !moved_b[j]);
        if differs {
            let light_gap = hunks.last().is_some_and(|h| {
                (h.a.end..ai).all(|i| matches!(a[i].kind, Kind::Light))
                    && (h.b.end..bj).all(|j| matches!(b[j].kind, Kind::Light))
            });
            // Two differing stretches of one name around a shared capitalised word ("Missouri
            // State Guard" / "Confederate States Army") are one slot.
            let name_gap = hunks.last().is_some_and(|h| {
                let named =
                    |x: &[Token], r: &std::ops::Range<usize>| r.clone().any(|i| x[i].capital);
                (h.a.end..ai).all(|i| a[i].capital || matches!(a[i].kind, Kind::Light))
                    && named(a, &h.a)
                    && named(b, &h.b)
                    && (named(a, &a_range) || named(b, &b_range))
            });
            // Words added on one side, then on the other, around a word or two they share:
            // one span replaced by another ("Queensland Parliament" / "Premier of Queensland").
            let crossed = hunks.last().is_some_and(|h| {
                let one_sided = |x: &std::ops::Range<usize>, y: &std::ops::Range<usize>| {
                    x.is_empty() && !y.is_empty()
                };
                let opposite = (one_sided(&h.a, &h.b) && one_sided(&b_range, &a_range))
                    || (one_sided(&h.b, &h.a) && one_sided(&a_range, &b_range));
                opposite && ai - h.a.end <= 2
            });
            match hunks.last_mut() {
                Some(h) if light_gap || crossed || name_gap => {
                    h.a.end = mi;
                    h.b.end = mj;
                }
                _ => hunks.push(Hunk {
                    a: a_range,
                    b: b_range,
                    leading: !seen_content,
                    terminal: false,
                }),
            }
        }
        if mi < n && matches!(a[mi].kind, Kind::Content) && !a[mi].capital {
            seen_content = true;
        }
        prev = (mi + 1, mj + 1);
    }
    for h in &mut hunks {
        h.terminal = h.a.end == n && h.b.end == m && !h.a.is_empty() && !h.b.is_empty();
    }
    Alignment {
        matched,
        hunks,
        moved_a,
        moved_b,
    }
}
