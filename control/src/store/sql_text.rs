//! Building SQL text. Every statement is constant text with `?`
//! placeholders; only the number of placeholders varies, and it is made
//! here. sqlx prepares and caches each distinct text per connection (100
//! by default), so lists whose repeated entries are harmless are padded to
//! a power of two and longer inserts are cut into power-of-two chunks:
//! a handful of texts cover every batch.

/// `item` `n` times, separated by `sep`: `repeat("?", ", ", 3)` is
/// `"?, ?, ?"`.
pub(super) fn repeat(item: &str, sep: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * (item.len() + sep.len()));
    for i in 0..n {
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(item);
    }
    s
}

/// `n` placeholders for an `IN (…)` list.
pub(super) fn marks(n: usize) -> String {
    repeat("?", ", ", n)
}

/// The list length a padded statement is written for.
pub(super) fn padded(n: usize) -> usize {
    n.next_power_of_two()
}

/// `items` followed by its last item repeated up to [`padded`] length.
pub(super) fn padding<T>(items: &[T]) -> impl Iterator<Item = &T> {
    let extra = padded(items.len()) - items.len();
    items
        .iter()
        .chain(items.last().into_iter().cycle().take(extra))
}

/// `items` cut into power-of-two chunks, largest first.
pub(super) fn chunks<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let size = 1usize << rest.len().ilog2();
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_repeats_the_last_entry_up_to_a_power_of_two() {
        let v = [1, 2, 3];
        assert_eq!(padding(&v).copied().collect::<Vec<_>>(), [1, 2, 3, 3]);
        assert_eq!(padding(&[7]).copied().collect::<Vec<_>>(), [7]);
        assert_eq!(padding(&[1, 2]).count(), 2);
        assert_eq!(padding(&[0; 33]).count(), 64);
    }

    #[test]
    fn chunks_are_powers_of_two_and_cover_everything_in_order() {
        let v: Vec<u32> = (0..23).collect();
        let c = chunks(&v);
        assert_eq!(c.iter().map(|c| c.len()).collect::<Vec<_>>(), [16, 4, 2, 1]);
        assert_eq!(c.concat(), v);
        assert!(chunks::<u32>(&[]).is_empty());
    }

    #[test]
    fn repeat_joins() {
        assert_eq!(repeat("?", ", ", 3), "?, ?, ?");
        assert_eq!(repeat("(?)", "", 0), "");
        assert_eq!(marks(2), "?, ?");
    }
}
