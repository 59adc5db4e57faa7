//! Binding a call's arguments to a layer's parameters, and reading them as
//! typed values with pointed diagnostics.
//!
//! A layer declares its parameters in order (`["x", "out", "bias"]`);
//! positional arguments fill them in order and keyword arguments by name.
//! Too many arguments, an unknown keyword (with a suggestion), a parameter
//! given twice, or a missing required one are each reported at the argument.
//! The typed readers (`positive_int`, `pair`, `number`, …) check type and range.

use crate::diagnostics::{suggest, Diagnostic, Diagnostics, Span};
use crate::syntax::{Arg, Call, Number, Value};
use std::collections::BTreeMap;

/// A call's arguments bound to parameter names.
pub struct Bound<'a> {
    /// The call.
    pub call: &'a Call,
    /// The argument given for each parameter.
    pub args: BTreeMap<&'static str, &'a Arg>,
}

/// Bind `call`'s arguments to `params`. Reports every binding problem; returns
/// `None` if there was one.
pub fn bind<'a>(
    call: &'a Call,
    what: &str,
    params: &[&'static str],
    ds: &mut Diagnostics,
) -> Option<Bound<'a>> {
    let mut args: BTreeMap<&'static str, &'a Arg> = BTreeMap::new();
    let mut ok = true;
    let mut next = 0;
    for arg in &call.args {
        let param = match &arg.keyword {
            None => {
                if next >= params.len() {
                    ds.push(
                        Diagnostic::error(
                            "bad-argument",
                            format!("too many arguments for {what}"),
                            arg.span,
                        )
                        .with_label(format!("{what} takes at most {} argument(s)", params.len()))
                        .with_help(format!("{what} takes: {}", params.join(", "))),
                    );
                    ok = false;
                    continue;
                }
                next += 1;
                params[next - 1]
            }
            Some(k) => match params.iter().find(|p| **p == k.name) {
                Some(p) => p,
                None => {
                    let mut d = Diagnostic::error(
                        "bad-argument",
                        format!("{what} has no argument `{}`", k.name),
                        k.span,
                    )
                    .with_label("unknown keyword");
                    d = match suggest(&k.name, params.iter().copied()) {
                        Some(s) => d.with_help(format!("did you mean `{s}`?")),
                        None => d.with_help(format!("{what} takes: {}", params.join(", "))),
                    };
                    ds.push(d);
                    ok = false;
                    continue;
                }
            },
        };
        if let Some(first) = args.get(param) {
            ds.push(
                Diagnostic::error(
                    "bad-argument",
                    format!("argument `{param}` of {what} is given twice"),
                    arg.span,
                )
                .with_label("given again here")
                .with_note(first.span, "first given here")
                .with_help("give each argument once"),
            );
            ok = false;
            continue;
        }
        args.insert(param, arg);
    }
    ok.then_some(Bound { call, args })
}

impl<'a> Bound<'a> {
    /// The argument for `param`, if given.
    pub fn get(&self, param: &str) -> Option<&'a Arg> {
        self.args.get(param).copied()
    }

    /// The argument for a required `param`, or a diagnostic at the call.
    pub fn require(
        &self,
        param: &str,
        what: &str,
        example: &str,
        ds: &mut Diagnostics,
    ) -> Option<&'a Arg> {
        let arg = self.get(param);
        if arg.is_none() {
            ds.push(
                Diagnostic::error(
                    "missing-argument",
                    format!("{what} needs its `{param}` argument"),
                    self.call.span,
                )
                .with_label(format!("`{param}` is missing"))
                .with_help(format!("for example: `{example}`")),
            );
        }
        arg
    }
}

fn bad(arg_span: Span, message: String, label: String) -> Diagnostic {
    Diagnostic::error("bad-argument", message, arg_span).with_label(label)
}

/// A finite number.
pub fn number(arg: &Arg, param: &str, ds: &mut Diagnostics) -> Option<f64> {
    match &arg.value {
        Value::Number(n) => finite(n, param, ds),
        other => {
            ds.push(
                bad(
                    other.span(),
                    format!("`{param}` must be a number"),
                    format!("expected a number, found {}", other.kind()),
                )
                .with_help(format!("write a number, e.g. `{param} = 0.5`")),
            );
            None
        }
    }
}

fn finite(n: &Number, param: &str, ds: &mut Diagnostics) -> Option<f64> {
    if n.value.is_finite() {
        Some(n.value)
    } else {
        ds.push(
            bad(
                n.span,
                format!("`{param}` is too large"),
                "this number does not fit a 64-bit float".into(),
            )
            .with_help("write a number of ordinary size (below about 1.8e308 in magnitude)"),
        );
        None
    }
}

/// An integer in `min..=max`, from a number literal.
pub fn int_in(
    n: &Number,
    param: &str,
    min: usize,
    max: usize,
    ds: &mut Diagnostics,
) -> Option<usize> {
    let v = finite(n, param, ds)?;
    if !n.is_integer {
        ds.push(
            bad(
                n.span,
                format!("`{param}` must be a whole number"),
                format!("{v} is not an integer"),
            )
            .with_help(format!("write a whole number between {min} and {max}")),
        );
        return None;
    }
    if v < min as f64 || v > max as f64 {
        let what = if v < 0.0 {
            "is negative"
        } else if v == 0.0 {
            "is zero"
        } else {
            "is out of range"
        };
        ds.push(
            bad(
                n.span,
                format!("`{param}` {what}"),
                format!("{param} = {v}"),
            )
            .with_help(format!("{param} must be between {min} and {max}")),
        );
        return None;
    }
    Some(v as usize)
}

/// An integer argument in `min..=max`.
pub fn int_arg(
    arg: &Arg,
    param: &str,
    min: usize,
    max: usize,
    ds: &mut Diagnostics,
) -> Option<usize> {
    match &arg.value {
        Value::Number(n) => int_in(n, param, min, max, ds),
        other => {
            ds.push(
                bad(
                    other.span(),
                    format!("`{param}` must be a whole number"),
                    format!("expected a number, found {}", other.kind()),
                )
                .with_help(format!("write a whole number between {min} and {max}")),
            );
            None
        }
    }
}

/// A square or rectangular size: `5` or `[5, 3]`, each in `min..=max`.
pub fn pair(
    arg: &Arg,
    param: &str,
    min: usize,
    max: usize,
    ds: &mut Diagnostics,
) -> Option<[usize; 2]> {
    match &arg.value {
        Value::Number(n) => int_in(n, param, min, max, ds).map(|v| [v, v]),
        Value::List(items, span) if items.len() == 2 => {
            let a = int_in(&items[0], param, min, max, ds);
            let b = int_in(&items[1], param, min, max, ds);
            let _ = span;
            Some([a?, b?])
        }
        Value::List(items, span) => {
            ds.push(
                bad(
                    *span,
                    format!("`{param}` must be one number or two"),
                    format!("this list has {} element(s)", items.len()),
                )
                .with_help(format!(
                    "write `{param} = 3` or `{param} = [3, 3]` (height, width)"
                )),
            );
            None
        }
        other => {
            ds.push(
                bad(
                    other.span(),
                    format!("`{param}` must be a number or a pair"),
                    format!("expected a number, found {}", other.kind()),
                )
                .with_help(format!(
                    "write `{param} = 3` or `{param} = [3, 3]` (height, width)"
                )),
            );
            None
        }
    }
}

/// A list of finite numbers, of length `min..=max`.
pub fn list<'a>(arg: &'a Arg, param: &str, ds: &mut Diagnostics) -> Option<(&'a [Number], Span)> {
    match &arg.value {
        Value::List(items, span) => {
            let mut ok = true;
            for n in items {
                ok &= finite(n, param, ds).is_some();
            }
            ok.then_some((items.as_slice(), *span))
        }
        other => {
            ds.push(
                bad(
                    other.span(),
                    format!("`{param}` must be a list of numbers"),
                    format!("expected a list such as [1, 2], found {}", other.kind()),
                )
                .with_help(format!(
                    "write the numbers in brackets, e.g. `{param} = [0.5, 0.25]`"
                )),
            );
            None
        }
    }
}

/// `true` or `false`.
pub fn boolean(arg: &Arg, param: &str, ds: &mut Diagnostics) -> Option<bool> {
    match &arg.value {
        Value::Ident(i) if i.name == "true" => Some(true),
        Value::Ident(i) if i.name == "false" => Some(false),
        other => {
            ds.push(
                bad(
                    other.span(),
                    format!("`{param}` must be true or false"),
                    format!("found {}", other.kind()),
                )
                .with_help(format!("write `{param} = true` or `{param} = false`")),
            );
            None
        }
    }
}
