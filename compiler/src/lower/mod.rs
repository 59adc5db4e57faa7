//! Checking and lowering: from the AST to the IR graph.
//!
//! One walk over the statements in source order resolves names, checks each
//! layer's arguments ([`layers`]), infers shapes ([`crate::ir::shape`]) and
//! adds a node per layer, keeping the statement's span. A statement with an
//! error defines its name as *poisoned*, so later statements that use it are
//! not reported again: one mistake gives one diagnostic, and every
//! independent mistake is reported. Whole-program checks follow: batchnorm
//! placement, missing outputs, unused inputs (errors) and unused tensors
//! (warnings).
//!
//! Names must be defined before they are used, so the graph is acyclic by
//! construction; a use before the definition is reported as such.

mod args;
pub mod layers;
mod outputs;

use crate::diagnostics::{suggest, Diagnostic, Diagnostics, Span};
use crate::ir::{shape, Graph, Node, NodeId, NodeOp, Pin};
use crate::syntax::{
    AssignStmt, Call, FixedStmt, Ident, InputStmt, OutputExpr, OutputStmt, Program, Statement,
};
use chimera_runtime::plan::{FixedFormat, Party, Protocol};
use std::collections::BTreeMap;

/// Largest number of elements in one input (as in any tensor): the
/// runtime's [`chimera_runtime::limits::MAX_ELEMENTS`].
pub const MAX_INPUT_ELEMENTS: usize = chimera_runtime::limits::MAX_ELEMENTS;

struct Def {
    /// The node, or `None` if the defining statement had an error.
    node: Option<NodeId>,
    /// The defining name.
    span: Span,
    is_input: bool,
    used: bool,
}

pub(crate) struct Lowerer {
    g: Graph,
    ds: Diagnostics,
    env: BTreeMap<String, Def>,
    /// Every name any statement defines (first definition), to tell "defined later" from "unknown".
    all_defs: BTreeMap<String, Span>,
    /// Definitions in order, for the unused check.
    order: Vec<String>,
}

/// Check a program and lower it to an IR graph. Returns the graph if there is
/// no error, and every diagnostic (errors and warnings) in either case.
pub fn lower(program: &Program) -> (Option<Graph>, Diagnostics) {
    let mut ds = Diagnostics::new();
    let fixed = fixed_format(program, &mut ds);
    let mut all_defs = BTreeMap::new();
    for s in &program.statements {
        let name = match s {
            Statement::Input(i) => &i.name,
            Statement::Assign(a) => &a.name,
            Statement::Output(OutputStmt {
                name,
                expr: OutputExpr::Call(_),
                ..
            }) => name,
            _ => continue,
        };
        all_defs.entry(name.name.clone()).or_insert(name.span);
    }
    let mut l = Lowerer {
        g: Graph::new(&program.model.name, fixed),
        ds,
        env: BTreeMap::new(),
        all_defs,
        order: Vec::new(),
    };
    for s in &program.statements {
        match s {
            Statement::Fixed(_) => {}
            Statement::Input(i) => l.input(i),
            Statement::Assign(a) => l.assign(a),
            Statement::Output(o) => l.output(o),
        }
    }
    l.finish(program);
    let Lowerer { g, mut ds, .. } = l;
    ds.sort();
    if ds.has_errors() {
        (None, ds)
    } else {
        (Some(g), ds)
    }
}

/// The format from the `fixed(...)` statement (at most one), or the default.
fn fixed_format(program: &Program, ds: &mut Diagnostics) -> FixedFormat {
    let mut format = FixedFormat::default();
    let mut first: Option<Span> = None;
    for s in &program.statements {
        let Statement::Fixed(FixedStmt { args: fargs, span }) = s else {
            continue;
        };
        if let Some(f) = first {
            ds.push(
                Diagnostic::error(
                    "duplicate-format",
                    "the fixed-point format is given twice",
                    *span,
                )
                .with_label("second format")
                .with_note(f, "first given here")
                .with_help("keep one `fixed(...)` statement"),
            );
            continue;
        }
        first = Some(*span);
        let call = Call {
            callee: Ident {
                name: "fixed".into(),
                span: *span,
            },
            args: fargs.clone(),
            pin: None,
            span: *span,
        };
        let Some(b) = args::bind(&call, "`fixed`", &["ring", "frac"], ds) else {
            continue;
        };
        if let Some(a) = b.get("ring") {
            match args::int_arg(a, "ring", 1, 1 << 16, ds) {
                Some(64) => {}
                Some(r) => ds.push(
                    Diagnostic::error(
                        "bad-format",
                        format!("a ring of {r} bits is not supported"),
                        a.value.span(),
                    )
                    .with_label("only 64-bit rings are executable")
                    .with_help("write `ring = 64` (or leave it out: 64 is the default)"),
                ),
                None => {}
            }
        }
        if let Some(a) = b.get("frac") {
            if let crate::syntax::Value::Number(n) = &a.value {
                if n.is_integer && n.value.is_finite() && !(1.0..=30.0).contains(&n.value) {
                    ds.push(
                        Diagnostic::error(
                            "bad-format",
                            format!("{} fraction bits is not a usable format", n.value),
                            n.span,
                        )
                        .with_label("fraction bits must be between 1 and 30")
                        .with_help(
                            "16 (the default) suits most networks; products carry 2f bits, which must stay well inside 64",
                        ),
                    );
                    continue;
                }
            }
            if let Some(f) = args::int_arg(a, "frac", 1, 30, ds) {
                format.frac_bits = f as u32;
            }
        }
    }
    format
}

impl Lowerer {
    /// Record a definition; reports a duplicate name.
    fn define(&mut self, name: &Ident, node: Option<NodeId>, is_input: bool) {
        if let Some(prev) = self.env.get(&name.name) {
            self.ds.push(
                Diagnostic::error(
                    "duplicate-name",
                    format!("`{}` is defined twice", name.name),
                    name.span,
                )
                .with_label("defined again here")
                .with_note(prev.span, "first defined here")
                .with_help(
                    "give each tensor its own name (tensor names are also layer and weight names)",
                ),
            );
            return;
        }
        self.env.insert(
            name.name.clone(),
            Def {
                node,
                span: name.span,
                is_input,
                used: false,
            },
        );
        self.order.push(name.name.clone());
    }

    fn input(&mut self, s: &InputStmt) {
        let mut ok = true;
        match s.owner.name.as_str() {
            "client" => {}
            "server" => {
                self.ds.push(
                    Diagnostic::error(
                        "bad-owner",
                        "inputs from the server are not supported",
                        s.owner.span,
                    )
                    .with_label("the server's private data are its weights")
                    .with_help("write `from client`; the server's weights are bound by layer name"),
                );
                ok = false;
            }
            other => {
                self.ds.push(unknown_party(other, s.owner.span));
                ok = false;
            }
        }
        let mut dims = Vec::new();
        for n in &s.shape {
            match args::int_in(n, "dimension", 1, layers::MAX_DIM, &mut self.ds) {
                Some(d) => dims.push(d),
                None => ok = false,
            }
        }
        if s.shape.is_empty() || s.shape.len() > 3 {
            self.ds.push(
                Diagnostic::error(
                    "bad-shape",
                    "an input has one to three dimensions",
                    s.shape_span,
                )
                .with_label(format!("{} dimensions", s.shape.len()))
                .with_help("write `[features]` or `[channels, height, width]`, e.g. `[1, 28, 28]`"),
            );
            ok = false;
        } else if ok && shape::elements(&dims).is_none_or(|n| n > MAX_INPUT_ELEMENTS) {
            self.ds.push(
                Diagnostic::error("bad-shape", "the input is too large", s.shape_span)
                    .with_label(format!(
                        "{} has more than {MAX_INPUT_ELEMENTS} elements",
                        shape::show(&dims)
                    ))
                    .with_help("one inference takes one input of at most 16 M elements"),
            );
            ok = false;
        }
        let node = ok.then(|| {
            self.g.add_node(
                Node {
                    op: NodeOp::Input {
                        owner: Party::Client,
                    },
                    name: s.name.name.clone(),
                    layer: s.name.name.clone(),
                },
                &[],
                dims,
                s.span,
            )
        });
        self.define(&s.name, node, true);
    }

    fn assign(&mut self, s: &AssignStmt) {
        let node = self.layer_node(&s.name, &s.call, s.span);
        self.define(&s.name, node, false);
    }

    /// Lower one call defining `name`; add its node.
    fn layer_node(&mut self, name: &Ident, call: &Call, span: Span) -> Option<NodeId> {
        let pin = call.pin.as_ref().and_then(|p| self.pin(p));
        let lowered = self.lower_call(name, call)?;
        if let (Some(pin), Some(p)) = (pin, &call.pin) {
            if !lowered.pinnable.contains(&pin) {
                let allowed: Vec<String> =
                    lowered.pinnable.iter().map(|p| format!("@{p}")).collect();
                let mut d = Diagnostic::error(
                    "bad-pin",
                    format!("`{}` cannot run in {pin}", call.callee.name),
                    p.span,
                );
                d = if allowed.is_empty() {
                    d.with_label("this layer has no protocol of its own")
                        .with_help(
                        "a batchnorm is folded into the layer before it; pin that layer instead",
                    )
                } else {
                    d.with_label(format!(
                        "{} is not available for this layer",
                        pin.pin_name()
                    ))
                    .with_help(format!(
                        "this layer can be pinned to {}",
                        allowed.join(" or ")
                    ))
                };
                self.ds.push(d);
                return None;
            }
            self.g.pins.insert(
                name.name.clone(),
                Pin {
                    protocol: pin,
                    span: p.span,
                },
            );
        }
        if matches!(lowered.op, NodeOp::BatchNorm { .. }) {
            let producer = lowered.operands[0];
            if !matches!(
                self.g.op(producer),
                NodeOp::Dense { .. } | NodeOp::Conv2d { .. }
            ) {
                let arg_span = call.args.first().map_or(call.span, |a| a.span);
                let what = self.g.op(producer).name();
                self.ds.push(
                    Diagnostic::error(
                        "batchnorm-without-linear",
                        "batchnorm must directly follow a dense or conv2d layer",
                        arg_span,
                    )
                    .with_label(format!("`{}` is made by {what}", self.g.name(producer)))
                    .with_help(
                        "batchnorm is folded into the linear layer before it; apply it to a conv2d or dense output, \
                         e.g. `c = conv2d(x, 8, kernel = 3)` then `bn = batchnorm(c)`",
                    ),
                );
                return None;
            }
        }
        let shapes: Vec<Vec<usize>> = lowered
            .operands
            .iter()
            .map(|&o| self.g.shape(o).to_vec())
            .collect();
        let refs: Vec<&[usize]> = shapes.iter().map(Vec::as_slice).collect();
        let out_shape = match shape::infer(&lowered.op, &refs) {
            Ok(s) => s,
            Err(e) => {
                let at = if e.code == "bad-window" {
                    call.args
                        .iter()
                        .find(|a| {
                            a.keyword
                                .as_ref()
                                .is_some_and(|k| k.name == "kernel" || k.name == "stride")
                        })
                        .or(call.args.get(1))
                } else if e.code == "too-large" {
                    // The layer as a whole is too big: underline the call.
                    None
                } else {
                    call.args.first()
                };
                let mut d =
                    Diagnostic::error(e.code, e.message.clone(), at.map_or(call.span, |a| a.span))
                        .with_label(e.message);
                if lowered.operands.len() == 1 {
                    let o = lowered.operands[0];
                    let def = self.env.get(self.g.name(o)).map(|d| d.span);
                    if let Some(def) = def {
                        d = d.with_note(
                            def,
                            format!("`{}` is {}", self.g.name(o), shape::show(&shapes[0])),
                        );
                    }
                }
                d = d.with_help(e.help.unwrap_or_else(|| {
                    "the layer table of docs/language.md gives the shapes each layer takes".into()
                }));
                self.ds.push(d);
                return None;
            }
        };
        Some(self.g.add_node(
            Node {
                op: lowered.op,
                name: name.name.clone(),
                layer: name.name.clone(),
            },
            &lowered.operands,
            out_shape,
            span,
        ))
    }

    fn pin(&mut self, p: &Ident) -> Option<Protocol> {
        match Protocol::ALL
            .iter()
            .find(|proto| proto.pin_name() == p.name)
        {
            Some(&proto) => Some(proto),
            None => {
                let names = Protocol::ALL.map(Protocol::pin_name);
                let mut d =
                    Diagnostic::error("bad-pin", format!("unknown protocol `@{}`", p.name), p.span)
                        .with_label("not a protocol");
                d = match suggest(&p.name, names) {
                    Some(s) => d.with_help(format!("did you mean `@{s}`?")),
                    None => d.with_help("the protocols are @arith, @gmw and @yao"),
                };
                self.ds.push(d);
                None
            }
        }
    }
}

pub(super) fn unknown_party(name: &str, span: Span) -> Diagnostic {
    let d = Diagnostic::error("bad-party", format!("unknown party `{name}`"), span)
        .with_label("not a party");
    match suggest(name, ["client", "server"]) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => d.with_help("the parties are `client` and `server`"),
    }
}
