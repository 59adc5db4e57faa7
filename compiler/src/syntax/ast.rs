//! The abstract syntax tree of a `.nn` file. Every node keeps its [`Span`],
//! so that any later error (even a weight of the wrong shape, found by the
//! server long after compilation) can point at the source.

use crate::diagnostics::Span;

/// A name with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// A numeric literal, kept with its text (to tell `3` from `3.0`).
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    /// Its value (may be infinite if the literal overflows `f64`; the checker rejects that).
    pub value: f64,
    /// True if written without a fraction or exponent.
    pub is_integer: bool,
    /// Where it is written.
    pub span: Span,
}

/// A whole file.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// The name after `model`.
    pub model: Ident,
    /// The `model NAME` header.
    pub header_span: Span,
    /// The statements, in source order.
    pub statements: Vec<Statement>,
}

/// One statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// `fixed(ring = 64, frac = 16)`.
    Fixed(FixedStmt),
    /// `input x: [784] from client`.
    Input(InputStmt),
    /// `output label = argmax(s) to client`.
    Output(OutputStmt),
    /// `h = dense(x, 100)`.
    Assign(AssignStmt),
}

impl Statement {
    /// The span of the whole statement.
    pub fn span(&self) -> Span {
        match self {
            Statement::Fixed(s) => s.span,
            Statement::Input(s) => s.span,
            Statement::Output(s) => s.span,
            Statement::Assign(s) => s.span,
        }
    }
}

/// The fixed-point format statement.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedStmt {
    /// Its arguments (`ring = 64`, `frac = 16`).
    pub args: Vec<Arg>,
    /// The whole statement.
    pub span: Span,
}

/// An input declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct InputStmt {
    /// The tensor it defines.
    pub name: Ident,
    /// Its dimensions.
    pub shape: Vec<Number>,
    /// The `[..]` list.
    pub shape_span: Span,
    /// The party after `from`.
    pub owner: Ident,
    /// The whole statement.
    pub span: Span,
}

/// What an output statement opens.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputExpr {
    /// A layer call, such as `argmax(s)`; it defines a tensor named after the output.
    Call(Call),
    /// An existing tensor.
    Tensor(Ident),
}

/// An output statement.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputStmt {
    /// The output's name.
    pub name: Ident,
    /// What is revealed.
    pub expr: OutputExpr,
    /// `as label` or `as scores`, if written.
    pub reveal: Option<Ident>,
    /// The party after `to`.
    pub to: Ident,
    /// The whole statement.
    pub span: Span,
}

/// `name = layer(args) @pin`.
#[derive(Clone, Debug, PartialEq)]
pub struct AssignStmt {
    /// The tensor defined (also the layer's name, and its weights' prefix).
    pub name: Ident,
    /// The layer call.
    pub call: Call,
    /// The whole statement.
    pub span: Span,
}

/// A call: `layer(args) @pin`.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The layer (or approximation) name.
    pub callee: Ident,
    /// Arguments, positional and keyword, in order.
    pub args: Vec<Arg>,
    /// A protocol pin (`@gmw`), if written.
    pub pin: Option<Ident>,
    /// The call including its pin.
    pub span: Span,
}

/// One argument, positional (`100`) or keyword (`kernel = 5`).
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// The keyword, if any.
    pub keyword: Option<Ident>,
    /// The value.
    pub value: Value,
    /// The whole argument.
    pub span: Span,
}

/// An argument's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A number.
    Number(Number),
    /// A list of numbers, `[1, 2]`.
    List(Vec<Number>, Span),
    /// A name: a tensor, or a word such as `pwl` or `true`.
    Ident(Ident),
    /// A call such as `chebyshev(degree = 3, interval = [-4, 4])`.
    Call(Call),
}

impl Value {
    /// Where the value is written.
    pub fn span(&self) -> Span {
        match self {
            Value::Number(n) => n.span,
            Value::List(_, s) => *s,
            Value::Ident(i) => i.span,
            Value::Call(c) => c.span,
        }
    }

    /// A word describing the kind of value, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Number(_) => "a number",
            Value::List(..) => "a list",
            Value::Ident(_) => "a name",
            Value::Call(_) => "a call",
        }
    }
}
