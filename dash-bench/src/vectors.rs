//! Little-endian f32 matrices on disk (`*.f32`, rows of `dim` floats, no header), as the common
//! corpus (`shared/bench/synthetic.py`) and the IR sets write them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::Res;

/// A row-major matrix of `rows × dim` floats.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    /// Floats per row.
    pub dim: usize,
    /// `rows × dim` floats.
    pub data: Vec<f32>,
}

impl Matrix {
    /// The first `rows` rows of `path` (all of them when `rows` is `None`); a file shorter than
    /// asked, or not a whole number of rows, is an error naming it.
    pub fn read(path: &Path, dim: usize, rows: Option<usize>) -> Res<Self> {
        if dim == 0 {
            return Err("a matrix needs a dimension of at least 1".into());
        }
        match rows {
            Some(rows) => Self::read_rows(path, dim, 0, rows),
            None => {
                let bytes = std::fs::metadata(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?
                    .len();
                let row_bytes = (dim * 4) as u64;
                if bytes % row_bytes != 0 {
                    return Err(format!(
                        "{}: {bytes} bytes is not a whole number of {dim}-float rows",
                        path.display()
                    )
                    .into());
                }
                Self::read_rows(path, dim, 0, usize::try_from(bytes / row_bytes)?)
            }
        }
    }

    /// Rows `[first, first + rows)` of `path`, read without the rows before them (a bench
    /// streams a 10M-row file in parts instead of holding 5 GB); a file shorter than asked is
    /// an error naming it.
    pub fn read_rows(path: &Path, dim: usize, first: usize, rows: usize) -> Res<Self> {
        if dim == 0 {
            return Err("a matrix needs a dimension of at least 1".into());
        }
        let mut file =
            File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let row_bytes = dim * 4;
        file.seek(SeekFrom::Start(u64::try_from(first * row_bytes)?))?;
        let mut bytes = vec![0u8; rows * row_bytes];
        file.read_exact(&mut bytes).map_err(|e| {
            format!(
                "{}: {e} (need rows {first}..{} of {dim})",
                path.display(),
                first + rows
            )
        })?;
        let data = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Self { dim, data })
    }

    /// How many rows.
    pub fn rows(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }

    /// Row `i` (empty past the end).
    pub fn row(&self, i: usize) -> &[f32] {
        self.data
            .get(i * self.dim..(i + 1) * self.dim)
            .unwrap_or(&[])
    }

    /// The rows in order.
    pub fn iter(&self) -> impl Iterator<Item = &[f32]> {
        self.data.chunks_exact(self.dim.max(1))
    }
}

/// The dot product (the cosine for unit vectors).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The indexes of the `k` rows of `m` with the largest dot product with `q`, best first (exact
/// search: the ground truth of the recall figures).
pub fn exact_top(m: &Matrix, q: &[f32], k: usize) -> Vec<usize> {
    exact_top_scored(m, q, k, |_| true)
        .into_iter()
        .map(|(_, i)| i)
        .collect()
}

/// The `k` rows of `m` that `keep` admits with the largest dot product with `q`, best first,
/// with their scores (ties to the lower row).
pub fn exact_top_scored(
    m: &Matrix,
    q: &[f32],
    k: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<(f32, usize)> {
    let mut scored: Vec<(f32, usize)> = m
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, r)| (dot(r, q), i))
        .collect();
    let k = k.min(scored.len());
    if k == 0 {
        return Vec::new();
    }
    let order = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    scored.select_nth_unstable_by(k - 1, order);
    scored.truncate(k);
    scored.sort_by(order);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_refuses_short_files() -> Res<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("m.f32");
        let floats: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        std::fs::write(&path, &floats)?;
        let m = Matrix::read(&path, 2, None)?;
        assert_eq!(m.rows(), 3);
        assert_eq!(m.row(1), &[3.0, 4.0]);
        assert!(Matrix::read(&path, 2, Some(4)).is_err());
        assert!(Matrix::read(&path, 4, None).is_err());
        assert_eq!(Matrix::read(&path, 3, Some(1))?.row(0), &[1.0, 2.0, 3.0]);
        assert_eq!(
            Matrix::read_rows(&path, 2, 1, 2)?.data,
            &[3.0, 4.0, 5.0, 6.0]
        );
        assert!(Matrix::read_rows(&path, 2, 2, 2).is_err());
        Ok(())
    }

    #[test]
    fn exact_top_ranks_by_dot_product() {
        let m = Matrix {
            dim: 2,
            data: vec![1.0, 0.0, 0.0, 1.0, 0.7, 0.7],
        };
        assert_eq!(exact_top(&m, &[0.0, 1.0], 2), vec![1, 2]);
        assert_eq!(exact_top(&m, &[1.0, 0.1], 5), vec![0, 2, 1]);
    }
}
