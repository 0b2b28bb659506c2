//! One CEL expression of a rule: bounded, parsed, checked and analysed at load; then
//! evaluated against a context of the citizen's values.
//!
//! The analysis walks the syntax tree once (depth-limited, so never deeper than
//! [`Limits::max_depth`]) and computes:
//! * the **fields read**: every member chain rooted at a category name
//!   (`personal.address.postcode`, or `personal["address"]["postcode"]`) must end exactly
//!   at a field of the catalogue; groups, whole categories, parts of a field and computed
//!   names are refused, so the set is exact;
//! * the **record types read**: `has_record`, `record` and `records_of` take the type as
//!   a string literal;
//! * a **worst-case cost**: every node once, and the body of a comprehension
//!   (`all`, `exists`, `exists_one`, `map`, `filter`) once per item of the longest list
//!   it could walk — which must therefore be known: a written list or map, a list field,
//!   `records_of(…)`, or the result of `map`/`filter` over one of those.
//!
//! Names other than the categories, `today` and comprehension variables, and functions
//! other than those in [`FUNCTIONS`] (each with the argument count it takes) are
//! refused, so the interpreter is only ever asked to do what it can do without failing
//! in ways it does not report.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use cel_interpreter::{Context, ExecutionError, Value};
use cel_parser::Expression;
use cel_parser::ast::{EntryExpr, Expr as Node, operators};
use cel_parser::reference::Val;
use twin_schema::{Catalog, Kind};
use twin_types::{Category, FieldPath};

use crate::limits::{Limits, MAX_LIST_FIELD_ITEMS, MAX_RECORDS_PER_TYPE};
use crate::scan;

/// Why an expression was refused when its pack loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// Longer than allowed.
    #[error("it is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Nested too deeply (brackets, or the syntax tree).
    #[error("it is nested too deeply (at most {max} levels are allowed)")]
    TooDeep {
        /// The bound.
        max: usize,
    },
    /// The pre-scan could not read it safely.
    #[error("it cannot be read: {0}")]
    Unreadable(String),
    /// The CEL parser refused it.
    #[error("it is not a valid CEL expression: {0}")]
    Syntax(String),
    /// It reads a path that is not a field of the twin.
    #[error("{0}")]
    UnknownField(String),
    /// It reads a group of fields or a whole category.
    #[error("it reads all of {0} at once; read single fields, like personal.date_of_birth")]
    Group(String),
    /// It reads inside a field that has no parts.
    #[error("it reads {part} inside {field}, which is a single field")]
    InsideField {
        /// The field.
        field: String,
        /// What it tried to read in it.
        part: String,
    },
    /// A field name computed at run time.
    #[error(
        "it names a field with a computed value; name fields in full, like personal.address.postcode"
    )]
    ComputedField,
    /// A name that means nothing here.
    #[error(
        "it uses the name {0}, which is not known; use personal, government, health, social, today or a variable of all/exists/map/filter"
    )]
    UnknownName(String),
    /// A function that rule packs cannot use.
    #[error("it uses {0}(), which rule packs cannot use; see docs/rule-packs.md for the functions")]
    UnknownFunction(String),
    /// A function called with the wrong number of arguments, or in the wrong form.
    #[error("it calls {0}() the wrong way; see docs/rule-packs.md for how to call it")]
    WrongCall(String),
    /// A record type that is not a literal `name/vN`.
    #[error("record types must be written as text like \"benefit-award/v1\"")]
    RecordType,
    /// A comprehension over something whose length cannot be bounded.
    #[error(
        "it walks through a list whose length cannot be known in advance; walk only written lists, list fields, records_of(…) or map/filter results"
    )]
    UnboundedList,
    /// A comprehension variable reusing a reserved name.
    #[error("it uses {0} as a variable name, but that name is reserved")]
    ReservedVariable(String),
    /// Its worst case costs too much.
    #[error("it could take up to {cost} steps to work out; at most {max} are allowed")]
    TooCostly {
        /// The worst case.
        cost: u64,
        /// The bound.
        max: u64,
    },
    /// A construct this engine does not evaluate (messages, optional fields…).
    #[error("it uses {0}, which rule packs cannot use")]
    Unsupported(&'static str),
}

/// How a function may be called: with a receiver (`x.f(a)`) or not (`f(x, a)`), and
/// how many arguments besides the receiver.
#[derive(Clone, Copy)]
pub(crate) struct Form {
    target: bool,
    args: usize,
}

const fn f(target: bool, args: usize) -> Form {
    Form { target, args }
}

/// Every function a rule may call, with the forms it may take. The first group comes
/// with cel-interpreter; the second is registered by [`crate::env`].
pub(crate) const FUNCTIONS: &[(&str, &[Form])] = &[
    ("size", &[f(false, 1), f(true, 0)]),
    ("contains", &[f(true, 1)]),
    ("startsWith", &[f(true, 1)]),
    ("endsWith", &[f(true, 1)]),
    ("max", &[f(false, 1), f(false, 2), f(false, 3), f(false, 4)]),
    ("min", &[f(false, 1), f(false, 2), f(false, 3), f(false, 4)]),
    ("double", &[f(false, 1)]),
    ("int", &[f(false, 1)]),
    ("string", &[f(false, 1)]),
    ("age", &[f(false, 1)]),
    ("days_until", &[f(false, 1)]),
    ("days_since", &[f(false, 1)]),
    ("add_days", &[f(false, 2)]),
    ("weekly", &[f(false, 1)]),
    ("money", &[f(false, 1)]),
    ("long_date", &[f(false, 1)]),
    ("lower", &[f(false, 1)]),
    ("has_record", &[f(false, 1)]),
    ("record", &[f(false, 1)]),
    ("records_of", &[f(false, 1)]),
];

/// Functions that read records: their one argument is a literal record type.
const RECORD_FUNCTIONS: &[&str] = &["has_record", "record", "records_of"];

/// Operators, with the argument count the interpreter evaluates them with.
const OPERATORS: &[(&str, usize)] = &[
    (operators::CONDITIONAL, 3),
    (operators::LOGICAL_AND, 2),
    (operators::LOGICAL_OR, 2),
    (operators::LOGICAL_NOT, 1),
    (operators::SUBSTRACT, 2),
    (operators::ADD, 2),
    (operators::MULTIPLY, 2),
    (operators::DIVIDE, 2),
    (operators::MODULO, 2),
    (operators::EQUALS, 2),
    (operators::NOT_EQUALS, 2),
    (operators::GREATER_EQUALS, 2),
    (operators::LESS_EQUALS, 2),
    (operators::GREATER, 2),
    (operators::LESS, 2),
    (operators::NEGATE, 1),
    (operators::INDEX, 2),
    (operators::NOT_STRICTLY_FALSE, 1),
    (operators::IN, 2),
];

/// The variable holding today's date, `"YYYY-MM-DD"`.
pub(crate) const TODAY: &str = "today";
/// The hidden variable holding the records (a name CEL text cannot write).
pub(crate) const RECORDS: &str = "@records";

/// A checked, analysed expression.
#[derive(Debug, Clone)]
pub(crate) struct Expr {
    ast: Expression,
    /// The exact fields it reads.
    pub(crate) fields: BTreeSet<FieldPath>,
    /// The record types it reads.
    pub(crate) records: BTreeSet<String>,
    /// Its worst-case number of steps.
    pub(crate) cost: u64,
}

/// How an evaluation failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EvalError {
    /// The interpreter reported an error.
    Cel(ExecutionError),
    /// The interpreter panicked (a case it does not support); caught.
    Stopped,
}

impl Expr {
    /// Pre-scans, parses and analyses `text`.
    pub(crate) fn compile(text: &str, limits: &Limits) -> Result<Expr, ExprError> {
        scan::scan(text, limits)?;
        // The scan admits only grammatical text, on which the parser does not panic; the
        // guard stays, so a parser bug costs a refused pack, not the program.
        let ast = catch_unwind(|| cel_parser::Parser::new().parse(text))
            .map_err(|_| ExprError::Syntax("it could not be parsed".to_owned()))?
            .map_err(|e| ExprError::Syntax(first_message(&e)))?;
        let mut walk = Walk {
            limits,
            scope: Vec::new(),
            fields: BTreeSet::new(),
            records: BTreeSet::new(),
        };
        let info = walk.node(&ast, 1)?;
        if info.cost > limits.max_expression_cost {
            return Err(ExprError::TooCostly {
                cost: info.cost,
                max: limits.max_expression_cost,
            });
        }
        Ok(Expr {
            ast,
            fields: walk.fields,
            records: walk.records,
            cost: info.cost,
        })
    }

    /// Evaluates against `ctx`. A panic inside the interpreter (some of its branches are
    /// unfinished and panic, for cases the load-time checks are meant to exclude) is
    /// caught and reported as [`EvalError::Stopped`], never propagated.
    pub(crate) fn eval(&self, ctx: &Context<'_>) -> Result<Value, EvalError> {
        match catch_unwind(AssertUnwindSafe(|| Value::resolve(&self.ast, ctx))) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(EvalError::Cel(e)),
            Err(_) => Err(EvalError::Stopped),
        }
    }
}

fn first_message(e: &cel_parser::ParseErrors) -> String {
    let msg = e
        .errors
        .first()
        .map(|e| format!("{} (line {}, column {})", e.msg, e.pos.0, e.pos.1))
        .unwrap_or_else(|| "it could not be parsed".to_owned());
    msg.chars().take(200).collect()
}

/// What the walk learns about one node.
struct Info {
    cost: u64,
    /// The most items it can hold, when it is a list or map whose length is bounded.
    items: Option<u64>,
}

impl Info {
    fn leaf() -> Info {
        Info {
            cost: 1,
            items: None,
        }
    }
}

struct Walk<'a> {
    limits: &'a Limits,
    scope: Vec<String>,
    fields: BTreeSet<FieldPath>,
    records: BTreeSet<String>,
}

fn is_category(name: &str) -> bool {
    name.parse::<Category>().is_ok()
}

fn reserved(name: &str) -> bool {
    is_category(name) || name == TODAY || FUNCTIONS.iter().any(|(n, _)| *n == name)
}

impl Walk<'_> {
    fn node(&mut self, e: &Expression, depth: usize) -> Result<Info, ExprError> {
        if depth > self.limits.max_depth {
            return Err(ExprError::TooDeep {
                max: self.limits.max_depth,
            });
        }
        if let Some(info) = self.field_chain(e)? {
            return Ok(info);
        }
        let d = depth + 1;
        match &e.expr {
            Node::Unspecified => Err(ExprError::Unsupported("an empty expression")),
            Node::Literal(_) => Ok(Info::leaf()),
            Node::Ident(name) => {
                if self.scope.iter().any(|s| s == name) || name == TODAY {
                    Ok(Info::leaf())
                } else if is_category(name) {
                    Err(ExprError::Group(name.clone()))
                } else {
                    Err(ExprError::UnknownName(name.chars().take(40).collect()))
                }
            }
            Node::Select(s) => {
                let inner = self.node(&s.operand, d)?;
                Ok(Info {
                    cost: inner.cost.saturating_add(1),
                    items: None,
                })
            }
            Node::Call(call) => self.call(call, d),
            Node::List(list) => {
                let mut cost = 1u64;
                for el in &list.elements {
                    cost = cost.saturating_add(self.node(el, d)?.cost);
                }
                Ok(Info {
                    cost,
                    items: Some(list.elements.len() as u64),
                })
            }
            Node::Map(map) => {
                let mut cost = 1u64;
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(m) if !m.optional => {
                            cost = cost
                                .saturating_add(self.node(&m.key, d)?.cost)
                                .saturating_add(self.node(&m.value, d)?.cost);
                        }
                        EntryExpr::MapEntry(_) => {
                            return Err(ExprError::Unsupported("optional map entries"));
                        }
                        EntryExpr::StructField(_) => {
                            return Err(ExprError::Unsupported("message fields"));
                        }
                    }
                }
                Ok(Info {
                    cost,
                    items: Some(map.entries.len() as u64),
                })
            }
            Node::Struct(_) => Err(ExprError::Unsupported("message types")),
            Node::Comprehension(c) => {
                let range = self.node(&c.iter_range, d)?;
                let items = range.items.ok_or(ExprError::UnboundedList)?;
                if c.iter_var2.is_some() {
                    return Err(ExprError::Unsupported("two-variable comprehensions"));
                }
                if reserved(&c.iter_var) {
                    return Err(ExprError::ReservedVariable(
                        c.iter_var.chars().take(40).collect(),
                    ));
                }
                let init = self.node(&c.accu_init, d)?;
                self.scope.push(c.iter_var.clone());
                self.scope.push(c.accu_var.clone());
                let inner = (|| {
                    let cond = self.node(&c.loop_cond, d)?;
                    let step = self.node(&c.loop_step, d)?;
                    let result = self.node(&c.result, d)?;
                    Ok::<_, ExprError>((cond, step, result))
                })();
                self.scope.truncate(self.scope.len() - 2);
                let (cond, step, result) = inner?;
                let body = cond.cost.saturating_add(step.cost);
                let cost = 1u64
                    .saturating_add(range.cost)
                    .saturating_add(init.cost)
                    .saturating_add(items.saturating_mul(body))
                    .saturating_add(result.cost);
                // map and filter build a list from the range: as long as it, at most.
                let builds_list =
                    matches!(&c.accu_init.expr, Node::List(l) if l.elements.is_empty());
                Ok(Info {
                    cost,
                    items: builds_list.then_some(items),
                })
            }
        }
    }

    fn call(&mut self, call: &cel_parser::ast::CallExpr, d: usize) -> Result<Info, ExprError> {
        let name = call.func_name.as_str();
        let mut items = None;
        if let Some((_, arity)) = OPERATORS.iter().find(|(op, _)| *op == name) {
            if call.target.is_some() || call.args.len() != *arity {
                return Err(ExprError::WrongCall(name.to_owned()));
            }
        } else if let Some((_, forms)) = FUNCTIONS.iter().find(|(n, _)| *n == name) {
            let target = call.target.is_some();
            if !forms
                .iter()
                .any(|form| form.target == target && form.args == call.args.len())
            {
                return Err(ExprError::WrongCall(name.to_owned()));
            }
            if RECORD_FUNCTIONS.contains(&name) {
                let kind = match call.args.first().map(|a| &a.expr) {
                    Some(Node::Literal(Val::String(s))) if record_type_ok(s) => s.clone(),
                    _ => return Err(ExprError::RecordType),
                };
                self.records.insert(kind);
                if name == "records_of" {
                    items = Some(MAX_RECORDS_PER_TYPE as u64);
                }
                return Ok(Info {
                    cost: 1 + MAX_RECORDS_PER_TYPE as u64,
                    items,
                });
            }
        } else {
            return Err(ExprError::UnknownFunction(name.chars().take(40).collect()));
        }
        let mut cost = 1u64;
        if let Some(t) = &call.target {
            cost = cost.saturating_add(self.node(t, d)?.cost);
        }
        for a in &call.args {
            cost = cost.saturating_add(self.node(a, d)?.cost);
        }
        Ok(Info { cost, items })
    }

    /// When `e` is a member chain rooted at a category name that ends exactly at a
    /// field, records the field and returns its info. `None` when `e` is not such a
    /// chain, or goes on past the field with an index (`health.immunisations[0]`): the
    /// ordinary walk then descends to the field.
    fn field_chain(&mut self, e: &Expression) -> Result<Option<Info>, ExprError> {
        /// One link of a chain, outermost first while collecting.
        enum Seg<'a> {
            Select(&'a str),
            Index(Option<&'a str>),
        }
        let mut segments: Vec<Seg<'_>> = Vec::new();
        let mut at = e;
        let root = loop {
            match &at.expr {
                Node::Select(s) => {
                    segments.push(Seg::Select(&s.field));
                    at = &s.operand;
                }
                Node::Call(c)
                    if c.func_name == operators::INDEX
                        && c.target.is_none()
                        && c.args.len() == 2 =>
                {
                    segments.push(Seg::Index(match &c.args[1].expr {
                        Node::Literal(Val::String(s)) => Some(s),
                        _ => None,
                    }));
                    at = &c.args[0];
                }
                Node::Ident(name) => break name,
                _ => return Ok(None),
            }
        };
        if segments.is_empty() || !is_category(root) || self.scope.iter().any(|s| s == root) {
            return Ok(None);
        }
        segments.reverse();
        let mut path = root.clone();
        let catalog = Catalog::get();
        for (i, seg) in segments.iter().enumerate() {
            let name = match seg {
                Seg::Select(n) | Seg::Index(Some(n)) => *n,
                Seg::Index(None) => return Err(ExprError::ComputedField),
            };
            path.push('.');
            path.push_str(name);
            let Ok(field) = catalog.field(&path) else {
                continue;
            };
            return match segments.get(i + 1) {
                None => {
                    self.fields.insert(field.path().clone());
                    let items = (field.kind() == Kind::List).then_some(MAX_LIST_FIELD_ITEMS);
                    Ok(Some(Info {
                        cost: segments.len() as u64,
                        items,
                    }))
                }
                // An index into the field's value: the walk reaches the field itself.
                Some(Seg::Index(_)) => Ok(None),
                Some(Seg::Select(part)) => Err(ExprError::InsideField {
                    field: path,
                    part: part.chars().take(40).collect(),
                }),
            };
        }
        match catalog.known(&path) {
            Ok(group) => Err(ExprError::Group(group.to_string())),
            Err(unknown) => Err(ExprError::UnknownField(
                format!("it reads a field that does not exist: {unknown}")
                    .replace("; run `twin show` to see every field", ""),
            )),
        }
    }
}

/// A record type as agencies name them: `benefit-award/v1`.
pub(crate) fn record_type_ok(s: &str) -> bool {
    let Some((name, version)) = s.split_once("/v") else {
        return false;
    };
    let mut chars = name.chars();
    (1..=64).contains(&s.len())
        && matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'))
        && !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(t: &str) -> Result<Expr, ExprError> {
        Expr::compile(t, &Limits::DEFAULT)
    }

    fn fields(t: &str) -> Vec<String> {
        compile(t)
            .unwrap()
            .fields
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn fields_read_are_computed_from_the_tree() {
        assert_eq!(
            fields(
                "age(personal.date_of_birth) >= 66 && weekly(government.tax.annual_income) < 218.15"
            ),
            ["government.tax.annual_income", "personal.date_of_birth"]
        );
        assert_eq!(
            fields(
                r#"personal["address"]["postcode"].startsWith("LS") || has(personal.address.town)"#
            ),
            ["personal.address.postcode", "personal.address.town"]
        );
        assert_eq!(
            fields("health.immunisations.exists(i, i.name == 'Flu' && days_since(i.date) < 330)"),
            ["health.immunisations"]
        );
        assert!(fields("today > '2026-01-01' && [1, 2].all(x, x > 0)").is_empty());
        let e = compile(
            r#"has_record("income-statement/v1") && record("income-statement/v1").gross_pay > 0.0"#,
        )
        .unwrap();
        assert_eq!(
            e.records.iter().collect::<Vec<_>>(),
            ["income-statement/v1"]
        );
    }

    #[test]
    fn unknown_paths_groups_and_computed_names_are_refused() {
        let e = compile("personal.date_of_brith < today").unwrap_err();
        assert!(
            matches!(&e, ExprError::UnknownField(m) if m.contains("did you mean") && m.contains("personal.date_of_birth,")),
            "{e}"
        );
        assert!(
            matches!(compile("size(personal.address) > 0"), Err(ExprError::Group(g)) if g == "personal.address")
        );
        assert!(matches!(
            compile("size(health) > 0"),
            Err(ExprError::Group(_))
        ));
        assert!(matches!(
            compile("personal.date_of_birth.year > 1950"),
            Err(ExprError::InsideField { .. })
        ));
        assert!(matches!(
            compile("personal[today] == 1"),
            Err(ExprError::ComputedField)
        ));
        assert!(matches!(
            compile("health.immunisations.name == 'x'"),
            Err(ExprError::InsideField { .. })
        ));
        // Indexing a field's value is reading that field.
        let e = compile("health.immunisations[0].name == 'Flu' && personal.full_name[0] == 'A'")
            .unwrap();
        assert_eq!(e.fields.len(), 2);
        assert!(matches!(
            compile("secret == 1"),
            Err(ExprError::UnknownName(_))
        ));
        assert!(matches!(
            compile("[1].exists(personal, personal > 0)"),
            Err(ExprError::ReservedVariable(_))
        ));
    }

    #[test]
    fn functions_are_an_allow_list_with_their_forms() {
        assert!(matches!(
            compile("timestamp('2020-01-01T00:00:00Z') > 0"),
            Err(ExprError::UnknownFunction(_))
        ));
        assert!(matches!(compile("age() > 1"), Err(ExprError::WrongCall(_))));
        assert!(matches!(
            compile("personal.date_of_birth.age() > 1"),
            Err(ExprError::WrongCall(_))
        ));
        assert!(matches!(
            compile("record(today).x == 1"),
            Err(ExprError::RecordType)
        ));
        assert!(compile("'abc'.size() == size('abc') && 'abc'.contains('b')").is_ok());
    }

    #[test]
    fn comprehensions_need_a_bounded_range_and_are_costed() {
        assert!(matches!(
            compile("personal.full_name.exists(c, c == 'a')"),
            Ok(_) | Err(ExprError::UnboundedList)
        ));
        assert!(matches!(
            compile("personal.full_name.exists(c, c == 'a')"),
            Err(ExprError::UnboundedList)
        ));
        assert!(matches!(
            compile("'abc'.all(c, true)"),
            Err(ExprError::UnboundedList)
        ));
        assert!(matches!(
            compile("[1].exists(x, true).all(y, true)"),
            Err(ExprError::UnboundedList)
        ));
        let one = compile("health.immunisations.exists(i, i.name == 'Flu')").unwrap();
        assert!(one.cost > 200 && one.cost < 5_000, "{}", one.cost);
        let nested = "records_of('a/v1').exists(a, records_of('b/v1').exists(b, records_of('c/v1').exists(c, true)))";
        assert!(matches!(compile(nested), Err(ExprError::TooCostly { .. })));
        assert!(
            compile("health.medications.map(m, m.name).filter(n, n == 'x').size() > 0").is_ok()
        );
    }

    #[test]
    fn depth_is_bounded_on_the_tree_too() {
        let deep = format!("{}1{}", "[".repeat(31), "]".repeat(31));
        assert!(compile(&deep).is_ok());
        let chain = format!("[{}]", "1+".repeat(40) + "1");
        assert!(matches!(compile(&chain), Err(ExprError::TooDeep { .. })));
    }

    #[test]
    fn messages_structs_and_syntax_errors_are_refused() {
        assert!(matches!(compile("Foo{a: 1}"), Err(ExprError::Syntax(_))));
        assert!(matches!(compile("1 +"), Err(ExprError::Syntax(_))));
        assert!(matches!(compile(""), Err(ExprError::Syntax(_))));
        assert!(matches!(compile("has(x)"), Err(ExprError::Syntax(_))));
    }
}
