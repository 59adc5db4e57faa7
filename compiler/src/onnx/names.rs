//! Turning ONNX names into `.nn` identifiers.
//!
//! ONNX names are free text (`/layer1/conv1/Conv`, `fc1.weight`,
//! `input.1`); a `.nn` name is ASCII letters, digits and `_`, not starting
//! with a digit, and not a keyword. Layers keep the name of the PyTorch
//! module they came from where the file records it (the prefix of their
//! `.weight` initializer, or the path of the node name), so the generated
//! program reads like the model's source.

use std::collections::BTreeSet;

/// Words the grammar reserves.
const KEYWORDS: [&str; 7] = ["model", "fixed", "input", "output", "from", "to", "as"];

/// `text` as an identifier: every other character becomes `_`, runs of `_`
/// collapse, a leading digit gets a `_` prefix, a keyword gets a `_` suffix.
/// Empty results become `t`.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let trimmed = out.trim_matches('_');
    let mut name = if trimmed.is_empty() {
        "t".to_string()
    } else {
        trimmed.to_string()
    };
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

/// The module path of a node name as PyTorch's exporter writes it:
/// `/layer1/conv1/Conv` → `layer1_conv1`; a trailing component equal to the
/// operator (or to the operator with a `_N` suffix) is dropped. `None` when
/// nothing is left.
pub fn from_node_name(node_name: &str, op: &str) -> Option<String> {
    let mut parts: Vec<&str> = node_name
        .split(['/', '.', ':'])
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(last) = parts.last() {
        let stem = last.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_');
        if stem == op || *last == op {
            parts.pop();
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(sanitize(&parts.join("_")))
}

/// The layer name implied by a weight initializer: `fc1.weight` → `fc1`,
/// `layer1.0.conv1.weight` → `layer1_0_conv1`. `None` for names that do not
/// end in `.weight` (such as `onnx::MatMul_12`), which say nothing about
/// the module.
pub fn from_weight_name(initializer: &str) -> Option<String> {
    let stem = initializer.strip_suffix(".weight")?;
    if stem.is_empty() {
        return None;
    }
    Some(sanitize(stem))
}

/// Hands out unique names.
#[derive(Debug, Default)]
pub struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    /// Reserve `name` as is (used for fixed names such as `label`).
    pub fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_string());
    }

    /// A fresh name based on `base`: `base`, else `base_2`, `base_3`, …
    pub fn fresh(&mut self, base: &str) -> String {
        let base = sanitize(base);
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_to_identifiers() {
        assert_eq!(sanitize("input.1"), "input_1");
        assert_eq!(sanitize("input"), "input_");
        assert_eq!(sanitize("0"), "_0");
        assert_eq!(sanitize("/conv1/Conv_output_0"), "conv1_Conv_output_0");
        assert_eq!(sanitize("..."), "t");
        assert_eq!(sanitize("é"), "t");
    }

    #[test]
    fn module_paths_from_node_and_weight_names() {
        assert_eq!(
            from_node_name("/layer1/conv1/Conv", "Conv").as_deref(),
            Some("layer1_conv1")
        );
        assert_eq!(from_node_name("/Relu", "Relu"), None);
        assert_eq!(
            from_node_name("/relu_1/Relu_2", "Relu").as_deref(),
            Some("relu_1")
        );
        assert_eq!(
            from_node_name("node_Relu_3", "Relu").as_deref(),
            Some("node_Relu_3")
        );
        assert_eq!(
            from_weight_name("layer1.0.conv1.weight").as_deref(),
            Some("layer1_0_conv1")
        );
        assert_eq!(from_weight_name("onnx::MatMul_12"), None);
    }

    #[test]
    fn fresh_names_are_unique() {
        let mut names = Names::default();
        names.reserve("label");
        assert_eq!(names.fresh("label"), "label_2");
        assert_eq!(names.fresh("fc"), "fc");
        assert_eq!(names.fresh("fc"), "fc_2");
        assert_eq!(names.fresh("fc"), "fc_3");
    }
}
