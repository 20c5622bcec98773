//! Precision, recall and F-score of a binary detector.

/// True positives, false positives and false negatives.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Prf {
    /// Detected and true.
    pub tp: usize,
    /// Detected, not true.
    pub fp: usize,
    /// True, not detected.
    pub fn_: usize,
}

impl Prf {
    /// Precision (0 when nothing was detected).
    pub fn p(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }

    /// Recall (0 when nothing is true).
    pub fn r(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }

    /// F-beta (F1 with `beta` 1).
    pub fn f(&self, beta: f64) -> f64 {
        let (p, r) = (self.p(), self.r());
        if p + r == 0.0 {
            return 0.0;
        }
        (1.0 + beta * beta) * p * r / (beta * beta * p + r)
    }

    /// Both counts added.
    pub fn plus(self, other: Self) -> Self {
        Self {
            tp: self.tp + other.tp,
            fp: self.fp + other.fp,
            fn_: self.fn_ + other.fn_,
        }
    }

    /// A Markdown row: `| name | TP | FP | FN | precision | recall | F1 |`.
    pub fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {} | {} | {:.3} | {:.3} | {:.3} |",
            self.tp,
            self.fp,
            self.fn_,
            self.p(),
            self.r(),
            self.f(1.0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Prf;

    #[test]
    fn f1_is_the_harmonic_mean() {
        let prf = Prf {
            tp: 6,
            fp: 2,
            fn_: 6,
        };
        assert_eq!((prf.p(), prf.r()), (0.75, 0.5));
        assert!((prf.f(1.0) - 0.6).abs() < 1e-12);
        assert_eq!(Prf::default().f(1.0), 0.0);
    }
}
