//! Suggestions for a missing tensor: the names in the file that look close
//! to the one the plan asked for (same layer prefix, or a small edit distance).

/// Up to five names of `available` that look like `wanted` (a tensor of `layer`),
/// closest first.
pub(super) fn close_names(wanted: &str, layer: &str, available: &[&str]) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = available
        .iter()
        .filter_map(|&name| {
            let d = edit_distance(wanted, name);
            let same_layer = name.split('.').next() == Some(layer) || name.contains(layer);
            let near = d <= (wanted.len() / 3).max(2);
            (same_layer || near).then_some((d, name))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(5)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// Levenshtein distance between two strings (by characters).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("fc1.weight", "fc1.weight"), 0);
        assert_eq!(edit_distance("fc1.weight", "fc1.weights"), 1);
        assert_eq!(edit_distance("conv1", "cnov1"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggests_same_layer_and_near_names_closest_first() {
        let names = [
            "fc1.w",
            "fc2.weight",
            "conv1.weight",
            "fc1.bias",
            "layer1.0.weight",
        ];
        assert_eq!(
            close_names("fc1.weight", "fc1", &names),
            vec!["fc2.weight", "fc1.bias", "fc1.w"]
        );
        assert!(close_names("dense7.weight", "dense7", &["a", "b"]).is_empty());
    }
}
