//! Diagnostics: what is wrong, where, and what would be right.
//!
//! Every problem the compiler finds in a `.nn` file is a [`Diagnostic`] with a
//! primary span (underlined), a label saying what is wrong there and help
//! lines saying what would be right. They are collected into [`Diagnostics`]
//! so that one run reports every error it can, and rendered with
//! codespan-reporting ([`Diagnostics::render`]). Rendering never panics: spans
//! are clamped to the source and to character boundaries, and a source that
//! is not UTF-8 is shown lossily.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use std::fmt;

/// A byte range `start..end` in the source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end` (byte offsets; saturated to `u32`).
    pub fn new(start: usize, end: usize) -> Span {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(end.max(start)),
        }
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// `(start, end)` as stored in a plan's debug information.
    pub fn pair(self) -> (u32, u32) {
        (self.start, self.end)
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The program is accepted, but something looks unintended.
    Warning,
    /// The program is rejected.
    Error,
}

/// A secondary span with its own label (e.g. "first defined here").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Where.
    pub span: Span,
    /// What it shows.
    pub message: String,
}

/// One finding about the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable, kebab-case name of the kind of problem (`unknown-layer`), used
    /// in tests and in `docs/language.md`.
    pub code: &'static str,
    /// One line saying what is wrong.
    pub message: String,
    /// The span underlined.
    pub span: Span,
    /// What is wrong at that span.
    pub label: String,
    /// Other related spans.
    pub notes: Vec<Note>,
    /// What would be right.
    pub help: Vec<String>,
}

impl Diagnostic {
    /// An error of kind `code` at `span`.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: String::new(),
            notes: Vec::new(),
            help: Vec::new(),
        }
    }

    /// A warning of kind `code` at `span`.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span)
        }
    }

    /// Set the primary label.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    /// Add a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help.push(help.into());
        self
    }

    /// Add a secondary span.
    pub fn with_note(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.notes.push(Note {
            span,
            message: message.into(),
        });
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Every diagnostic of one compilation, in source order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// No diagnostics.
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    /// Add one.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Add all of `other`.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True if at least one is an error.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// The diagnostics, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Sort by position (stable, so errors found at one place keep their order).
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| (d.span.start, d.span.end));
    }

    /// Render every diagnostic as codespan-reporting does in a terminal, with
    /// file name, line and column, the underlined span, the label and the help
    /// lines. `color` adds ANSI colour codes (use it only for a terminal).
    ///
    /// ```
    /// let source = b"model m\ninput x: [4] from client\ny = rleu(x)\noutput y = y to client\n";
    /// let errors = chimera_compiler::compile("m.nn", source).unwrap_err();
    /// let text = errors.render("m.nn", source, false);
    /// assert!(text.contains("unknown layer `rleu`"));
    /// assert!(text.contains("did you mean `relu`"));
    /// ```
    pub fn render(&self, file_name: &str, source: &[u8], color: bool) -> String {
        let text = String::from_utf8_lossy(source);
        let file = SimpleFile::new(file_name, text.as_ref());
        let config = term::Config::default();
        let mut out = String::new();
        for d in &self.items {
            let cs = to_codespan(d, text.as_ref());
            let rendered = if color {
                let mut buffer = term::termcolor::Buffer::ansi();
                term::emit_to_write_style(&mut buffer, &config, &file, &cs)
                    .map(|()| String::from_utf8_lossy(buffer.as_slice()).into_owned())
            } else {
                term::emit_into_string(&config, &file, &cs)
            };
            match rendered {
                Ok(s) => out.push_str(&s),
                // Spans are sanitized below, so this is not expected; fall back
                // to a plain line rather than lose the diagnostic.
                Err(_) => out.push_str(&format!("{d}\n")),
            }
        }
        let errors = self.error_count();
        let warnings = self.len() - errors;
        if errors > 0 {
            out.push_str(&format!(
                "{file_name}: {errors} error{}{}\n",
                plural(errors),
                if warnings > 0 {
                    format!(", {warnings} warning{}", plural(warnings))
                } else {
                    String::new()
                }
            ));
        }
        out
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{kind}[{}] at bytes {}..{}: {}",
            self.code, self.span.start, self.span.end, self.message
        )?;
        if !self.label.is_empty() {
            write!(f, ": {}", self.label)?;
        }
        for h in &self.help {
            write!(f, "; help: {h}")?;
        }
        Ok(())
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Clamp a span to `text` and to character boundaries.
fn sanitize(span: Span, text: &str) -> std::ops::Range<usize> {
    let len = text.len();
    let mut start = (span.start as usize).min(len);
    let mut end = (span.end as usize).clamp(start, len);
    while start > 0 && !text.is_char_boundary(start) {
        start -= 1;
    }
    while end < len && !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

fn to_codespan(d: &Diagnostic, text: &str) -> CsDiagnostic<()> {
    let severity = match d.severity {
        Severity::Error => CsSeverity::Error,
        Severity::Warning => CsSeverity::Warning,
    };
    let mut labels = vec![Label::primary((), sanitize(d.span, text)).with_message(&d.label)];
    for n in &d.notes {
        labels.push(Label::secondary((), sanitize(n.span, text)).with_message(&n.message));
    }
    CsDiagnostic::new(severity)
        .with_code(d.code)
        .with_message(&d.message)
        .with_labels(labels)
        .with_notes(d.help.iter().map(|h| format!("help: {h}")).collect())
}

/// Levenshtein edit distance (for "did you mean" suggestions).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate to `word` within a distance of a third of its
/// length (at least 1, at most 3), if any. Ties go to the first candidate.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count().div_ceil(3)).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= limit && c != word)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("relu", "relu"), 0);
        assert_eq!(edit_distance("rleu", "relu"), 2);
        assert_eq!(edit_distance("dens", "dense"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggestion_is_closest_within_limit() {
        let layers = ["dense", "conv2d", "relu", "maxpool"];
        assert_eq!(suggest("desne", layers), Some("dense"));
        assert_eq!(suggest("conv", layers), Some("conv2d"));
        assert_eq!(suggest("maxpol", layers), Some("maxpool"));
        assert_eq!(suggest("zzzzzz", layers), None);
    }

    #[test]
    fn render_survives_spans_out_of_range_and_inside_characters() {
        let mut ds = Diagnostics::new();
        ds.push(Diagnostic::error("test", "far away", Span::new(1000, 2000)).with_label("x"));
        ds.push(Diagnostic::error("test", "mid char", Span::new(1, 2)).with_label("y"));
        let text = ds.render("t.nn", "é\u{0}\n".as_bytes(), false);
        assert!(text.contains("far away"), "{text}");
        assert!(text.contains("mid char"), "{text}");
        assert!(text.contains("2 errors"), "{text}");
    }
}
