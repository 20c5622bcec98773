//! [`List`]: a term's postings held either in their own allocation or as a range of one shared
//! array — the form an index read back from a catalog image takes, one allocation for every
//! term instead of one each.

/// A list: its own (`O`: a `Box<[T]>` for lists that never grow, a `Vec<T>` for those that
/// do), or `base[start..start + len]` of the index's shared array.
#[derive(Debug)]
pub(crate) enum List<O> {
    Own(O),
    Base { start: usize, len: u32 },
}

impl<O: Default> Default for List<O> {
    fn default() -> Self {
        List::Own(O::default())
    }
}

impl<O> List<O> {
    /// The elements, given the index's shared array.
    pub(crate) fn get<'a, T>(&'a self, base: &'a [T]) -> &'a [T]
    where
        O: AsRef<[T]>,
    {
        match self {
            List::Own(t) => t.as_ref(),
            List::Base { start, len } => base
                .get(*start..start.saturating_add(*len as usize))
                .unwrap_or_default(),
        }
    }
}

impl<T: Clone> List<Vec<T>> {
    /// The list to change: a range of the base is copied out first.
    pub(crate) fn own_mut(&mut self, base: &[T]) -> &mut Vec<T> {
        match self {
            List::Own(v) => v,
            List::Base { .. } => {
                *self = List::Own(self.get(base).to_vec());
                self.own_mut(base) // owned now: the first arm
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_its_own_elements_or_its_range_of_the_base() {
        let base = [1u32, 2, 3, 4, 5];
        let mut lists: Vec<List<Vec<u32>>> = vec![
            List::Base { start: 0, len: 2 },
            List::Base { start: 2, len: 0 },
            List::Base { start: 2, len: 3 },
        ];
        let got: Vec<&[u32]> = lists.iter().map(|l| l.get(&base)).collect();
        assert_eq!(got, [&[1, 2][..], &[], &[3, 4, 5]]);
        assert_eq!(List::Own(Box::new([9u32]) as Box<[u32]>).get(&base), [9]);
        // A range past the base (a bug elsewhere) reads as empty, never panics.
        assert!(List::<Vec<u32>>::Base { start: 4, len: 9 }
            .get(&base)
            .is_empty());
        // Changing a list copies its range out; the base and the other lists stay.
        lists[2].own_mut(&base).push(6);
        assert_eq!(lists[2].get(&base), [3, 4, 5, 6]);
        assert_eq!(lists[0].get(&base), [1, 2]);
    }
}
