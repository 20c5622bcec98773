//! The ground truth of the recall figures: exact search over every vector, and the recall of the
//! store's answers against it.

use dash_bench::stats::overlap;
use dash_bench::vectors::{exact_top, Matrix};
use dash_bench::{machine, Res};

/// For every query row, the `k` rows of `rows` that `keep` admits with the largest dot product
/// (the cosine: the vectors are unit length), best first; the queries are spread over the
/// machine's cores.
pub fn exact_tops(
    rows: &Matrix,
    queries: &Matrix,
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Res<Vec<Vec<usize>>> {
    let kept: Vec<usize> = (0..rows.rows()).filter(|i| keep(*i)).collect();
    let filtered;
    let (searched, index): (&Matrix, Option<&[usize]>) = if kept.len() == rows.rows() {
        (rows, None)
    } else {
        filtered = Matrix {
            dim: rows.dim,
            data: kept.iter().flat_map(|i| rows.row(*i)).copied().collect(),
        };
        (&filtered, Some(&kept))
    };
    let queries: Vec<&[f32]> = queries.iter().collect();
    let per_thread = queries.len().div_ceil(machine::cores()).max(1);
    let parts = std::thread::scope(|s| {
        let handles: Vec<_> = queries
            .chunks(per_thread)
            .map(|qs| {
                s.spawn(move || {
                    qs.iter()
                        .map(|q| exact_top(searched, q, k))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "an exact-search thread panicked"))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(parts
        .into_iter()
        .flatten()
        .map(|top| match index {
            None => top,
            Some(index) => top.into_iter().map(|i| index[i]).collect(),
        })
        .collect())
}

/// The mean recall of `found` (claim ids, one list per query) against `truth` (row numbers, the
/// claim of row `r` being `id_of(r)`).
pub fn mean_recall(
    found: &[Vec<String>],
    truth: &[Vec<usize>],
    id_of: impl Fn(usize) -> String,
) -> f64 {
    let sum: f64 = found
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            let t: Vec<String> = t.iter().map(|r| id_of(*r)).collect();
            overlap(f, &t)
        })
        .sum();
    sum / found.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_maps_back_to_row_numbers() {
        let m = Matrix {
            dim: 2,
            data: vec![1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.8, 0.2],
        };
        let q = Matrix {
            dim: 2,
            data: vec![1.0, 0.0],
        };
        assert_eq!(exact_tops(&m, &q, 2, |_| true).unwrap(), vec![vec![0, 1]]);
        assert_eq!(
            exact_tops(&m, &q, 2, |r| r % 2 == 1).unwrap(),
            vec![vec![1, 3]]
        );
        let found = vec![vec!["c1".to_owned(), "c9".to_owned()]];
        assert_eq!(mean_recall(&found, &[vec![1, 3]], |r| format!("c{r}")), 0.5);
    }
}
