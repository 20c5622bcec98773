//! The ground truth of the recall figures: exact search over every vector, and the recall of the
//! store's answers against it.

use std::path::Path;

use dash_bench::stats::overlap;
use dash_bench::vectors::{exact_top_scored, Matrix};
use dash_bench::{machine, Res};

/// Rows of the vector file read at a time (128 MiB at 128 dimensions): the truth of a 10M-row
/// corpus is computed without holding its 5 GB.
const CHUNK_ROWS: usize = 262_144;

/// For every query row, the `k` rows among the first `total` of the f32 file `path` that `keep`
/// admits with the largest dot product (the cosine: the vectors are unit length), best first,
/// ties to the lower row. The file is read in parts; the queries are spread over the cores.
pub fn exact_tops(
    path: &Path,
    total: usize,
    queries: &Matrix,
    k: usize,
    keep: impl Fn(usize) -> bool + Sync,
) -> Res<Vec<Vec<usize>>> {
    tops_in_parts(path, total, queries, k, keep, CHUNK_ROWS)
}

/// [`exact_tops`] over the rows of `rows` (held in memory).
pub fn exact_tops_of(
    rows: &Matrix,
    queries: &Matrix,
    k: usize,
    keep: impl Fn(usize) -> bool + Sync,
) -> Res<Vec<Vec<usize>>> {
    let mut best = vec![Vec::new(); queries.rows()];
    merge_part(&mut best, rows, 0, queries, k, &keep)?;
    Ok(rows_of(best))
}

/// [`exact_tops`], reading `part` rows at a time.
fn tops_in_parts(
    path: &Path,
    total: usize,
    queries: &Matrix,
    k: usize,
    keep: impl Fn(usize) -> bool + Sync,
    part: usize,
) -> Res<Vec<Vec<usize>>> {
    let mut best = vec![Vec::new(); queries.rows()];
    let mut first = 0;
    while first < total {
        let rows = part.max(1).min(total - first);
        let chunk = Matrix::read_rows(path, queries.dim, first, rows)?;
        merge_part(&mut best, &chunk, first, queries, k, &keep)?;
        first += rows;
    }
    Ok(rows_of(best))
}

/// The best first row numbers of each query's list.
fn rows_of(best: Vec<Vec<(f32, usize)>>) -> Vec<Vec<usize>> {
    best.into_iter()
        .map(|top| top.into_iter().map(|(_, r)| r).collect())
        .collect()
}

/// Merges the exact top `k` of `chunk` (whose first row is row `first`) into each query's list
/// in `best` (score, row; best first, ties to the lower row); the queries spread over the cores.
fn merge_part(
    best: &mut [Vec<(f32, usize)>],
    chunk: &Matrix,
    first: usize,
    queries: &Matrix,
    k: usize,
    keep: &(impl Fn(usize) -> bool + Sync),
) -> Res<()> {
    let order = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let per_thread = best.len().div_ceil(machine::cores()).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = best
            .chunks_mut(per_thread)
            .zip(queries.data.chunks(per_thread * queries.dim.max(1)))
            .map(|(tops, qs)| {
                s.spawn(move || {
                    for (top, q) in tops.iter_mut().zip(qs.chunks_exact(queries.dim.max(1))) {
                        let found = exact_top_scored(chunk, q, k, |r| keep(first + r));
                        top.extend(found.into_iter().map(|(score, r)| (score, first + r)));
                        top.sort_by(order);
                        top.truncate(k);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| "an exact-search thread panicked"))
    })?;
    Ok(())
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
    fn the_filter_maps_back_to_row_numbers() -> Res<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("m.f32");
        let rows = [1.0f32, 0.0, 0.9, 0.1, 0.0, 1.0, 0.8, 0.2];
        std::fs::write(
            &path,
            rows.iter()
                .flat_map(|f| f.to_le_bytes())
                .collect::<Vec<_>>(),
        )?;
        let q = Matrix {
            dim: 2,
            data: vec![1.0, 0.0, 0.0, 1.0],
        };
        assert_eq!(
            exact_tops(&path, 4, &q, 2, |_| true)?,
            vec![vec![0, 1], vec![2, 3]]
        );
        assert_eq!(
            exact_tops(&path, 4, &q, 2, |r| r % 2 == 1)?,
            vec![vec![1, 3], vec![3, 1]]
        );
        assert_eq!(exact_tops(&path, 3, &q, 5, |_| true)?[1], vec![2, 1, 0]);
        // Read in parts of one and of three rows: the same answers.
        for part in [1, 3] {
            assert_eq!(
                tops_in_parts(&path, 4, &q, 2, |r| r % 2 == 1, part)?,
                vec![vec![1, 3], vec![3, 1]]
            );
            assert_eq!(
                tops_in_parts(&path, 4, &q, 3, |_| true, part)?,
                vec![vec![0, 1, 3], vec![2, 3, 1]]
            );
        }
        let found = vec![vec!["c1".to_owned(), "c9".to_owned()]];
        assert_eq!(mean_recall(&found, &[vec![1, 3]], |r| format!("c{r}")), 0.5);
        Ok(())
    }
}
