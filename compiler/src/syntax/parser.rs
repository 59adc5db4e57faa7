//! The parser: pest (grammar in `grammar/nn.pest`) to the typed AST.
//!
//! A syntax error becomes a [`Diagnostic`] whose label names, in words, what
//! was expected (pest's expected rules turned into "a name", "`)`", …) and
//! what was found. Input that is not UTF-8 is a diagnostic too, pointing at
//! the first bad byte. The grammar is not recursive, so no input can overflow
//! the stack.

use super::ast::*;
use crate::diagnostics::{Diagnostic, Diagnostics, Span};
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser as _;

/// The generated pest parser (its `Rule` enum mirrors the grammar's rules).
#[allow(missing_docs)]
mod generated {
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/nn.pest"]
    pub struct NnParser;
}
use generated::{NnParser, Rule};

/// Parse a whole file. Returns the AST, or diagnostics (a single syntax error:
/// pest stops at the first one).
pub fn parse(source: &[u8]) -> Result<Program, Diagnostics> {
    let text = match std::str::from_utf8(source) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            let len = e.error_len().unwrap_or(source.len() - at).max(1);
            let mut ds = Diagnostics::new();
            ds.push(
                Diagnostic::error(
                    "not-utf8",
                    "the file is not UTF-8 text",
                    Span::new(at, at + len),
                )
                .with_label(format!("byte 0x{:02x} is not valid UTF-8 here", source[at]))
                .with_help("save the file as UTF-8; a .nn file is plain text"),
            );
            return Err(ds);
        }
    };
    let mut pairs = NnParser::parse(Rule::file, text).map_err(|e| syntax_error(text, &e))?;
    let file = pairs.next().map(Pair::into_inner);
    let mut program: Option<Program> = None;
    for pair in file.into_iter().flatten() {
        match pair.as_rule() {
            Rule::header => {
                let span = span_of(&pair);
                let model = pair
                    .into_inner()
                    .find(|p| p.as_rule() == Rule::ident)
                    .map(ident)
                    .unwrap_or(Ident {
                        name: String::new(),
                        span,
                    });
                program = Some(Program {
                    model,
                    header_span: span,
                    statements: Vec::new(),
                });
            }
            Rule::fixed_stmt => push(&mut program, Statement::Fixed(fixed_stmt(pair))),
            Rule::input_stmt => push(&mut program, Statement::Input(input_stmt(pair))),
            Rule::output_stmt => push(&mut program, Statement::Output(output_stmt(pair))),
            Rule::assign_stmt => push(&mut program, Statement::Assign(assign_stmt(pair))),
            _ => {}
        }
    }
    program.ok_or_else(|| {
        let mut ds = Diagnostics::new();
        ds.push(
            Diagnostic::error("syntax", "expected `model NAME`", Span::new(0, 0))
                .with_label("the file must start with a model header")
                .with_help("a .nn file starts with `model NAME`, e.g. `model mnist_mlp`"),
        );
        ds
    })
}

fn push(program: &mut Option<Program>, statement: Statement) {
    if let Some(p) = program {
        p.statements.push(statement);
    }
}

/// The span of a pair, ending at its last token: pest's own span of a rule
/// may include the whitespace and comments skipped before an optional part
/// that was absent (such as a pin after a call).
fn span_of(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    let end = pair
        .clone()
        .into_inner()
        .flatten()
        .filter(|p| p.clone().into_inner().next().is_none())
        .map(|p| p.as_span().end())
        .max()
        .unwrap_or(s.end());
    Span::new(s.start(), end)
}

fn ident(pair: Pair<'_, Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span_of(&pair),
    }
}

fn number(pair: Pair<'_, Rule>) -> Number {
    let text = pair.as_str();
    Number {
        // The grammar only admits decimal literals, which always parse (a huge
        // one to infinity, which the checker rejects).
        value: text.parse::<f64>().unwrap_or(f64::NAN),
        is_integer: !text.contains(['.', 'e', 'E']),
        span: span_of(&pair),
    }
}

fn numbers(pair: Pair<'_, Rule>) -> Vec<Number> {
    pair.into_inner()
        .filter(|p| p.as_rule() == Rule::number)
        .map(number)
        .collect()
}

fn idents<'a>(pair: Pair<'a, Rule>) -> impl Iterator<Item = Ident> + 'a {
    pair.into_inner()
        .filter(|p| p.as_rule() == Rule::ident)
        .map(ident)
}

fn missing(span: Span) -> Ident {
    Ident {
        name: String::new(),
        span,
    }
}

fn fixed_stmt(pair: Pair<'_, Rule>) -> FixedStmt {
    let span = span_of(&pair);
    let args = pair
        .into_inner()
        .find(|p| p.as_rule() == Rule::args)
        .map(args)
        .unwrap_or_default();
    FixedStmt { args, span }
}

fn input_stmt(pair: Pair<'_, Rule>) -> InputStmt {
    let span = span_of(&pair);
    let mut name = missing(span);
    let mut owner = missing(span);
    let mut shape = Vec::new();
    let mut shape_span = span;
    let mut seen_name = false;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident if !seen_name => {
                name = ident(p);
                seen_name = true;
            }
            Rule::ident => owner = ident(p),
            Rule::shape => {
                shape_span = span_of(&p);
                shape = numbers(p);
            }
            _ => {}
        }
    }
    InputStmt {
        name,
        shape,
        shape_span,
        owner,
        span,
    }
}

fn output_stmt(pair: Pair<'_, Rule>) -> OutputStmt {
    let span = span_of(&pair);
    let mut name = missing(span);
    let mut to = missing(span);
    let mut expr = OutputExpr::Tensor(missing(span));
    let mut reveal = None;
    let mut seen_name = false;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident if !seen_name => {
                name = ident(p);
                seen_name = true;
            }
            Rule::ident => to = ident(p),
            Rule::call => expr = OutputExpr::Call(call(p)),
            Rule::tensor_ref => {
                expr = OutputExpr::Tensor(idents(p).next().unwrap_or(missing(span)));
            }
            Rule::reveal => reveal = idents(p).next(),
            _ => {}
        }
    }
    OutputStmt {
        name,
        expr,
        reveal,
        to,
        span,
    }
}

fn assign_stmt(pair: Pair<'_, Rule>) -> AssignStmt {
    let span = span_of(&pair);
    let mut name = missing(span);
    let mut the_call = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident => name = ident(p),
            Rule::call => the_call = Some(call(p)),
            _ => {}
        }
    }
    AssignStmt {
        name,
        call: the_call.unwrap_or(Call {
            callee: missing(span),
            args: Vec::new(),
            pin: None,
            span,
        }),
        span,
    }
}

/// `call` and `inner_call` share one shape.
fn call(pair: Pair<'_, Rule>) -> Call {
    let span = span_of(&pair);
    let mut callee = missing(span);
    let mut arguments = Vec::new();
    let mut pin = None;
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::ident => callee = ident(p),
            Rule::args | Rule::inner_args => arguments = args(p),
            Rule::pin => pin = idents(p).next(),
            _ => {}
        }
    }
    Call {
        callee,
        args: arguments,
        pin,
        span,
    }
}

fn args(pair: Pair<'_, Rule>) -> Vec<Arg> {
    pair.into_inner()
        .filter(|p| matches!(p.as_rule(), Rule::arg | Rule::inner_arg))
        .filter_map(arg)
        .collect()
}

fn arg(pair: Pair<'_, Rule>) -> Option<Arg> {
    let span = span_of(&pair);
    let inner = pair.into_inner().next()?;
    match inner.as_rule() {
        Rule::kwarg | Rule::inner_kwarg => {
            let mut keyword = None;
            let mut val = None;
            for p in inner.into_inner() {
                match p.as_rule() {
                    Rule::ident => keyword = Some(ident(p)),
                    Rule::value | Rule::inner_value => val = value(p),
                    _ => {}
                }
            }
            Some(Arg {
                keyword,
                value: val?,
                span,
            })
        }
        Rule::value | Rule::inner_value => Some(Arg {
            keyword: None,
            value: value(inner)?,
            span,
        }),
        _ => None,
    }
}

fn value(pair: Pair<'_, Rule>) -> Option<Value> {
    let inner = pair.into_inner().next()?;
    Some(match inner.as_rule() {
        Rule::number => Value::Number(number(inner)),
        Rule::list => {
            let span = span_of(&inner);
            Value::List(numbers(inner), span)
        }
        Rule::ident => Value::Ident(ident(inner)),
        Rule::inner_call => Value::Call(call(inner)),
        _ => return None,
    })
}

/// What a grammar rule means, in words, for "expected …" messages.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident | Rule::tensor_ref => "a name",
        Rule::number => "a number",
        Rule::header | Rule::kw_model => "`model NAME`",
        Rule::fixed_stmt
        | Rule::input_stmt
        | Rule::output_stmt
        | Rule::assign_stmt
        | Rule::kw_fixed
        | Rule::kw_input
        | Rule::kw_output => "a statement",
        Rule::call | Rule::inner_call => "a layer call such as `relu(x)`",
        Rule::shape | Rule::list => "a list such as `[1, 28, 28]`",
        Rule::args | Rule::arg | Rule::inner_args | Rule::inner_arg => "an argument",
        Rule::kwarg | Rule::inner_kwarg => "a keyword argument such as `stride = 2`",
        Rule::value | Rule::inner_value => "a value",
        Rule::pin => "a protocol pin such as `@gmw`",
        Rule::reveal | Rule::kw_as => "`as label` or `as scores`",
        Rule::kw_from => "`from`",
        Rule::kw_to => "`to`",
        Rule::lparen => "`(`",
        Rule::rparen => "`)`",
        Rule::lbracket => "`[`",
        Rule::rbracket => "`]`",
        Rule::comma => "`,`",
        Rule::equals => "`=`",
        Rule::colon => "`:`",
        Rule::at => "`@`",
        Rule::semi => "`;`",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

/// Join words as "a, b or c".
fn one_of(words: &[&str]) -> String {
    match words {
        [] => String::from("something else"),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The token at `pos`, for "found …": a word, a number, one symbol, or end of file.
fn token_at(text: &str, pos: usize) -> (Span, String) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return (Span::new(pos, pos), "the end of the file".to_string());
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' || first == '.' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else {
        first.len_utf8()
    };
    let token = &rest[..len];
    let shown = if first == '\n' || first == '\r' {
        "the end of the line".to_string()
    } else if first.is_control() {
        format!("the control character U+{:04X}", first as u32)
    } else {
        format!("`{token}`")
    };
    (Span::new(pos, pos + len), shown)
}

fn syntax_error(text: &str, error: &pest::error::Error<Rule>) -> Diagnostics {
    let pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (span, found) = token_at(text, pos);
    let mut expected: Vec<&str> = Vec::new();
    let mut unexpected: Vec<&str> = Vec::new();
    if let ErrorVariant::ParsingError {
        positives,
        negatives,
    } = &error.variant
    {
        for &r in positives {
            if let Some(w) = describe(r) {
                if !expected.contains(&w) {
                    expected.push(w);
                }
            }
        }
        for &r in negatives {
            if let Some(w) = describe(r) {
                if !unexpected.contains(&w) {
                    unexpected.push(w);
                }
            }
        }
    }
    let label = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", one_of(&expected))
    };
    let help = syntax_help(&expected, &found, span);
    let mut ds = Diagnostics::new();
    ds.push(
        Diagnostic::error("syntax", "syntax error", span)
            .with_label(label)
            .with_help(help),
    );
    ds
}

/// The help line of a syntax error: what would be right where the parser
/// stopped, from the tokens it expected there. Every syntax error gets one;
/// the last is a pointer to the grammar summary.
fn syntax_help(expected: &[&str], found: &str, span: Span) -> &'static str {
    let wants = |w: &str| expected.contains(&w);
    if wants("`model NAME`") {
        "a .nn file starts with `model NAME`, e.g. `model mnist_mlp`"
    } else if found.starts_with("`{") || found.starts_with("`}") {
        "statements are not grouped with braces; write one statement per line"
    } else if wants("`)`") && span.start == span.end {
        "the file ends inside a call: close it with `)`"
    } else if wants("`,`") && wants("`)`") {
        "separate arguments with commas: `conv2d(x, 16, kernel = 5)`"
    } else if wants("a statement") {
        "a statement is `NAME = layer(...)`, `input NAME: [dims] from client`, \
         `output NAME = ... to client` or `fixed(frac = 16)`"
    } else if wants("`=`") {
        "a layer statement is `NAME = layer(arguments)`, e.g. `h = dense(x, 100)`"
    } else if wants("`(`") {
        "a layer is called with its arguments in parentheses, e.g. `r = relu(h)`"
    } else if wants("`:`") {
        "an input is declared as `input NAME: [dims] from client`"
    } else if wants("`from`") {
        "an input says who supplies it: `input x: [784] from client`"
    } else if wants("`to`") || wants("`as label` or `as scores`") {
        "an output says who receives it: `output label = argmax(h) to client`"
    } else if wants("a number") || wants("`]`") {
        "a shape or a list holds numbers separated by commas, e.g. `[1, 28, 28]`"
    } else if wants("a name") {
        "a name is ASCII letters, digits and `_`, not starting with a digit"
    } else {
        "the grammar summary at the end of docs/language.md gives the form of every statement"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_small_program_with_spans() {
        let src = "model m  # comment\nfixed(frac = 12)\ninput x: [1, 28, 28] from client\n\
                   h = conv2d(x, 5, kernel = 5, stride = 2) @arith\n\
                   s = sigmoid(h, approx = chebyshev(degree = 3, interval = [-4, 4.5]))\n\
                   output label = argmax(s) to client // done\noutput s2 = s as scores to client\n";
        let p = parse(src.as_bytes()).unwrap();
        assert_eq!(p.model.name, "m");
        assert_eq!(p.statements.len(), 6);
        let Statement::Assign(a) = &p.statements[2] else {
            panic!("not an assignment: {:?}", p.statements[2])
        };
        assert_eq!(a.name.name, "h");
        assert_eq!(a.call.callee.name, "conv2d");
        assert_eq!(a.call.args.len(), 4);
        assert_eq!(a.call.pin.as_ref().map(|i| i.name.as_str()), Some("arith"));
        let kernel = &a.call.args[2];
        assert_eq!(
            kernel.keyword.as_ref().map(|k| k.name.as_str()),
            Some("kernel")
        );
        let s = kernel.span;
        assert_eq!(&src[s.start as usize..s.end as usize], "kernel = 5");
        let Statement::Assign(sig) = &p.statements[3] else {
            panic!("not an assignment")
        };
        let Value::Call(approx) = &sig.call.args[1].value else {
            panic!("approx is not a call")
        };
        assert_eq!(approx.callee.name, "chebyshev");
        let Value::List(interval, _) = &approx.args[1].value else {
            panic!("interval is not a list")
        };
        assert_eq!(interval[0].value, -4.0);
        assert_eq!(interval[1].value, 4.5);
        assert!(!interval[1].is_integer);
        let Statement::Output(o) = &p.statements[5] else {
            panic!("not an output")
        };
        assert_eq!(o.reveal.as_ref().map(|r| r.name.as_str()), Some("scores"));
        assert_eq!(o.to.name, "client");
    }

    #[test]
    fn syntax_error_names_the_expected_tokens() {
        let src = b"model m\ninput x: [4] from client\nh = dense(x 100)\n";
        let ds = parse(src).unwrap_err();
        let d = ds.iter().next().unwrap();
        assert_eq!(d.code, "syntax");
        assert!(d.label.contains("`,`"), "{}", d.label);
        assert!(d.label.contains("found `100`"), "{}", d.label);
    }

    #[test]
    fn non_utf8_is_a_diagnostic() {
        let ds = parse(b"model m\n\xff\xfe").unwrap_err();
        let d = ds.iter().next().unwrap();
        assert_eq!(d.code, "not-utf8");
        assert_eq!(d.span, Span::new(8, 9));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let src = format!("model m\nh = f({}", "[".repeat(100_000));
        assert!(parse(src.as_bytes()).is_err());
        let src = format!("model m\nh = f({}", "g(".repeat(100_000));
        assert!(parse(src.as_bytes()).is_err());
    }
}
