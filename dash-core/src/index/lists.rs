//! [`List`]: a per-document list (a document's terms, its facet keys) held either in its own
//! allocation or as a range of one shared array — the form an index read back from a catalog
//! image takes, one allocation for every document instead of one each.

/// A document's list: its own, or `base[start..start + len]` of the index's shared array.
#[derive(Debug)]
pub(crate) enum List<T> {
    Own(Box<[T]>),
    Base { start: usize, len: u32 },
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List::Own(Box::default())
    }
}

impl<T> List<T> {
    /// The elements, given the index's shared array.
    pub(crate) fn get<'a>(&'a self, base: &'a [T]) -> &'a [T] {
        match self {
            List::Own(t) => t,
            List::Base { start, len } => base
                .get(*start..start.saturating_add(*len as usize))
                .unwrap_or_default(),
        }
    }

    /// Lists of the given lengths laid one after another in a shared array.
    pub(crate) fn ranges(lens: impl IntoIterator<Item = u32>) -> (Vec<Self>, usize) {
        let mut start = 0usize;
        let lists = lens
            .into_iter()
            .map(|len| {
                let list = List::Base { start, len };
                start = start.saturating_add(len as usize);
                list
            })
            .collect();
        (lists, start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_its_own_elements_or_its_range_of_the_base() {
        let base = [1u32, 2, 3, 4, 5];
        let (lists, total) = List::ranges([2, 0, 3]);
        assert_eq!(total, 5);
        let got: Vec<&[u32]> = lists.iter().map(|l| l.get(&base)).collect();
        assert_eq!(got, [&[1, 2][..], &[], &[3, 4, 5]]);
        assert_eq!(List::Own(Box::new([9u32])).get(&base), [9]);
        // A range past the base (a bug elsewhere) reads as empty, never panics.
        assert!(List::<u32>::Base { start: 4, len: 9 }.get(&base).is_empty());
    }
}
