//! Explanation and message templates: text with `{expression}` placeholders, each a CEL
//! expression rendered with the citizen's own values (`Age {age(personal.date_of_birth)}
//! ≥ 66`). `{{` and `}}` stand for literal braces; a placeholder cannot hold braces.

use std::collections::BTreeSet;

use cel_interpreter::Context;
use twin_types::FieldPath;

use crate::expr::{Expr, ExprError};
use crate::format;
use crate::limits::Limits;

/// Why a template was refused when its pack loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// Longer than allowed.
    #[error("it is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// More placeholders than allowed.
    #[error("it has more than {max} {{…}} placeholders")]
    TooManyPlaceholders {
        /// The bound.
        max: usize,
    },
    /// A `{` without its `}`, or a lone `}`.
    #[error("its braces do not match; write {{{{ and }}}} for literal braces")]
    Braces,
    /// A placeholder's expression was refused.
    #[error("the placeholder {{{shown}}}: {error}")]
    Placeholder {
        /// The placeholder's text (shortened).
        shown: String,
        /// Why.
        error: ExprError,
    },
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Value(Expr),
}

/// A checked template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// What a placeholder shows when it cannot be worked out.
pub(crate) const UNKNOWN: &str = "?";

impl Template {
    /// Parses `text` and compiles each placeholder.
    pub(crate) fn parse(text: &str, limits: &Limits) -> Result<Template, TemplateError> {
        if text.len() > limits.max_template_len {
            return Err(TemplateError::TooLong {
                len: text.len(),
                max: limits.max_template_len,
            });
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut placeholders = 0;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::Braces),
                '{' => {
                    let rest = &text[i + 1..];
                    let end = rest.find(['{', '}']).ok_or(TemplateError::Braces)?;
                    if rest.as_bytes()[end] == b'{' {
                        return Err(TemplateError::Braces);
                    }
                    placeholders += 1;
                    if placeholders > limits.max_placeholders {
                        return Err(TemplateError::TooManyPlaceholders {
                            max: limits.max_placeholders,
                        });
                    }
                    let source = &rest[..end];
                    let expr = Expr::compile(source, limits).map_err(|error| {
                        TemplateError::Placeholder {
                            shown: source.chars().take(60).collect(),
                            error,
                        }
                    })?;
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Value(expr));
                    // Skip the placeholder and its closing brace.
                    while let Some(&(j, _)) = chars.peek() {
                        chars.next();
                        if j == i + 1 + end {
                            break;
                        }
                    }
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The fields the placeholders read.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &FieldPath> {
        self.exprs().flat_map(|e| e.fields.iter())
    }

    /// The record types the placeholders read.
    pub(crate) fn records(&self) -> impl Iterator<Item = &String> {
        self.exprs().flat_map(|e| e.records.iter())
    }

    /// The placeholders' worst-case cost.
    pub(crate) fn cost(&self) -> u64 {
        self.exprs().fold(0u64, |acc, e| acc.saturating_add(e.cost))
    }

    /// The placeholders' expressions.
    pub(crate) fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Value(e) => Some(e),
            Part::Text(_) => None,
        })
    }

    /// Renders with the values in `ctx`; a placeholder that cannot be worked out or
    /// shown reads [`UNKNOWN`].
    pub(crate) fn render(&self, ctx: &Context<'_>) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Value(e) => match e.eval(ctx).ok().as_ref().and_then(format::value) {
                    Some(s) => out.push_str(&s),
                    None => out.push_str(UNKNOWN),
                },
            }
        }
        out
    }

    /// The fields read by `self` and by the expressions given, together.
    pub(crate) fn with_fields<'a>(
        &'a self,
        more: impl IntoIterator<Item = &'a FieldPath>,
    ) -> BTreeSet<FieldPath> {
        self.fields().chain(more).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Scope;

    fn t(s: &str) -> Result<Template, TemplateError> {
        Template::parse(s, &Limits::DEFAULT)
    }

    #[test]
    fn placeholders_are_rendered_and_braces_escaped() {
        let tpl =
            t("Weekly {money(weekly(20800.0))} < £218.15 {{ok}} at {age('1958-03-14')}").unwrap();
        let date = time::Date::from_calendar_date(2026, time::Month::November, 20).unwrap();
        let scope = Scope::new(
            date,
            vec![],
            cel_interpreter::Value::List(Default::default()),
        );
        assert_eq!(
            tpl.render(&scope.context()),
            "Weekly £400.00 < £218.15 {ok} at 68"
        );
        let bad = t("{1/0} and {'x'}").unwrap();
        assert_eq!(bad.render(&scope.context()), "? and x");
    }

    #[test]
    fn bad_templates_are_refused() {
        assert_eq!(t("a { b").unwrap_err(), TemplateError::Braces);
        assert_eq!(t("a } b").unwrap_err(), TemplateError::Braces);
        assert_eq!(t("a {{b} c").unwrap_err(), TemplateError::Braces);
        assert_eq!(t("{ {1} }").unwrap_err(), TemplateError::Braces);
        assert!(matches!(
            t("{personal.nope}"),
            Err(TemplateError::Placeholder { .. })
        ));
        assert!(matches!(
            t(&"{1}".repeat(9)),
            Err(TemplateError::TooManyPlaceholders { .. })
        ));
        assert!(matches!(
            t(&"x".repeat(501)),
            Err(TemplateError::TooLong { .. })
        ));
        assert_eq!(
            t("{personal.date_of_birth} {government.tax.annual_income}")
                .unwrap()
                .fields()
                .map(|f| f.to_string())
                .collect::<Vec<_>>(),
            ["personal.date_of_birth", "government.tax.annual_income"]
        );
    }
}
