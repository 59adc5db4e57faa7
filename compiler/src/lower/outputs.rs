//! Output statements and the whole-program checks that run after every
//! statement: what is revealed (label or scores) and to whom, a missing
//! output, batchnorm inputs used elsewhere, unused inputs and tensors.

use super::{unknown_party, Lowerer};
use crate::diagnostics::{suggest, Diagnostic};
use crate::ir::{IrOutput, NodeOp};
use crate::syntax::{OutputExpr, OutputStmt, Program, Statement};
use chimera_runtime::plan::{Party, Reveal};

impl Lowerer {
    pub(super) fn output(&mut self, s: &OutputStmt) {
        let to = match s.to.name.as_str() {
            "client" => Some(Party::Client),
            "server" => Some(Party::Server),
            other => {
                self.ds.push(unknown_party(other, s.to.span));
                None
            }
        };
        if let Some(prev) = self.g.outputs.iter().find(|o| o.name == s.name.name) {
            self.ds.push(
                Diagnostic::error(
                    "duplicate-name",
                    format!("output `{}` is defined twice", s.name.name),
                    s.name.span,
                )
                .with_label("defined again here")
                .with_note(prev.span, "first output with this name")
                .with_help("give each output its own name"),
            );
            return;
        }
        let node = match &s.expr {
            OutputExpr::Call(call) => {
                let node = self.layer_node(&s.name, call, s.span);
                self.define(&s.name, node, false);
                if let Some(def) = self.env.get_mut(&s.name.name) {
                    def.used = true;
                }
                node
            }
            OutputExpr::Tensor(t) => self.tensor(&crate::syntax::Arg {
                keyword: None,
                value: crate::syntax::Value::Ident(t.clone()),
                span: t.span,
            }),
        };
        let (Some(node), Some(to)) = (node, to) else {
            return;
        };
        let is_label = matches!(self.g.op(node), NodeOp::Argmax);
        let reveal = match &s.reveal {
            None if is_label => Reveal::Label,
            None => Reveal::Scores,
            Some(r) => {
                match (r.name.as_str(), is_label) {
                    ("label", true) => Reveal::Label,
                    ("scores", false) => Reveal::Scores,
                    ("scores", true) => {
                        self.ds.push(
                        Diagnostic::error("scores-not-fixed-point", "scores must be fixed-point numbers", r.span)
                            .with_label(format!("`{}` is an argmax class index, not scores", s.name.name))
                            .with_help("reveal it `as label`, or reveal the tensor before argmax `as scores`"),
                    );
                        return;
                    }
                    ("label", false) => {
                        self.ds.push(
                        Diagnostic::error("label-not-argmax", "a label output must be an argmax", r.span)
                            .with_label(format!("`{}` is a fixed-point tensor", self.g.name(node)))
                            .with_help(format!(
                                "reveal `argmax({})` as the label, or reveal the tensor `as scores`",
                                self.g.name(node)
                            )),
                    );
                        return;
                    }
                    (other, _) => {
                        let mut d = Diagnostic::error(
                            "bad-reveal",
                            format!("cannot reveal `as {other}`"),
                            r.span,
                        )
                        .with_label("not a kind of output");
                        d = match suggest(other, ["label", "scores"]) {
                            Some(sug) => d.with_help(format!("did you mean `{sug}`?")),
                            None => d.with_help("write `as label` or `as scores`"),
                        };
                        self.ds.push(d);
                        return;
                    }
                }
            }
        };
        self.g.outputs.push(IrOutput {
            name: s.name.name.clone(),
            node,
            reveal,
            to,
            span: s.span,
        });
    }

    /// Whole-program checks, after every statement.
    pub(super) fn finish(&mut self, program: &Program) {
        let has_output = program
            .statements
            .iter()
            .any(|s| matches!(s, Statement::Output(_)));
        if !has_output {
            let last = self.order.iter().rev().find(|n| !self.env[*n].is_input);
            let example = match last {
                Some(n) => format!("output label = argmax({n}) to client"),
                None => "output label = argmax(scores) to client".to_string(),
            };
            self.ds.push(
                Diagnostic::error(
                    "missing-output",
                    "the model reveals nothing",
                    program.model.span,
                )
                .with_label("this model has no output statement")
                .with_help(format!(
                    "say what is revealed and to whom, e.g. `{example}`"
                )),
            );
        }
        // A batchnorm is folded into its linear layer, so that layer must feed nothing else.
        for id in self.g.node_ids() {
            if !matches!(self.g.op(id), NodeOp::BatchNorm { .. }) {
                continue;
            }
            let producer = self.g.operands(id)[0];
            let uses = self.g.use_count(producer);
            if uses > 1 {
                let span = self.g.spans.get(&id).copied().unwrap_or_default();
                let pname = self.g.name(producer).to_string();
                self.ds.push(
                    Diagnostic::error(
                        "batchnorm-shared-input",
                        format!("`{pname}` is used besides its batchnorm"),
                        span,
                    )
                    .with_label(format!("batchnorm `{}` would be folded into `{pname}`", self.g.name(id)))
                    .with_note(
                        self.env.get(&pname).map_or(span, |d| d.span),
                        format!("`{pname}` has {uses} uses"),
                    )
                    .with_help(format!(
                        "use the batchnorm's output instead of `{pname}` everywhere, or add a separate layer"
                    )),
                );
            }
        }
        // Unused names are reported only for an otherwise valid program: after
        // an error (an unresolved name, a missing output) they are mostly echoes of it.
        if self.ds.has_errors() {
            return;
        }
        for name in &self.order {
            let def = &self.env[name];
            if def.used || def.node.is_none() {
                continue;
            }
            if def.is_input {
                self.ds.push(
                    Diagnostic::error(
                        "unused-input",
                        format!("input `{name}` is never used"),
                        def.span,
                    )
                    .with_label("no layer reads this input")
                    .with_help("remove the input, or pass it to a layer"),
                );
            } else {
                self.ds.push(
                    Diagnostic::warning(
                        "unused-tensor",
                        format!("tensor `{name}` is never used"),
                        def.span,
                    )
                    .with_label("computed but never read nor revealed")
                    .with_help(
                        "remove it, or use it in an output statement; it is left out of the plan",
                    ),
                );
            }
        }
    }
}
