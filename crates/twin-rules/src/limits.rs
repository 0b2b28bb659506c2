//! The bounds a rule pack must keep, so a hostile or careless pack has bounded cost.

/// Bounds checked when a pack loads. [`Limits::DEFAULT`] is what the vault uses;
/// tests and tools may tighten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest pack payload, in bytes.
    pub max_pack_bytes: usize,
    /// Most rules in one pack.
    pub max_rules: usize,
    /// Most criteria in one rule.
    pub max_criteria: usize,
    /// Most pre-fill lines in one rule.
    pub max_prefill_lines: usize,
    /// Longest expression, in bytes.
    pub max_expression_len: usize,
    /// Deepest nesting of `(`, `[` and `{` in an expression's text.
    pub max_bracket_depth: usize,
    /// Deepest syntax tree of an expression (a literal or a name is depth 1).
    pub max_depth: usize,
    /// Longest explanation or message template, in bytes.
    pub max_template_len: usize,
    /// Most `{…}` placeholders in one template.
    pub max_placeholders: usize,
    /// Most evaluation steps one expression may take in the worst case, counting every
    /// node once and the body of `all`/`exists`/`exists_one`/`map`/`filter` once per
    /// item of the longest list it could walk.
    pub max_expression_cost: u64,
    /// Most worst-case steps for the whole pack.
    pub max_pack_cost: u64,
}

impl Limits {
    /// The bounds the vault uses (see `docs/rule-packs.md`, "Bounds").
    pub const DEFAULT: Limits = Limits {
        max_pack_bytes: 1024 * 1024,
        max_rules: 500,
        max_criteria: 16,
        max_prefill_lines: 40,
        max_expression_len: 2_000,
        max_bracket_depth: 32,
        max_depth: 32,
        max_template_len: 500,
        max_placeholders: 8,
        max_expression_cost: 100_000,
        max_pack_cost: 5_000_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Longest list a list field can hold (the field schema's largest `maxItems`).
pub(crate) const MAX_LIST_FIELD_ITEMS: u64 = 200;
/// Most records of one type [`crate::Facts`] keeps (the newest).
pub const MAX_RECORDS_PER_TYPE: usize = 100;
