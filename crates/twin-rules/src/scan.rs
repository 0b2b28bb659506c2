//! A pre-scan of an expression's text, before the CEL parser sees it.
//!
//! Two reasons. First, the parser (cel-parser, ANTLR) recurses once or more per level of
//! nesting — about 10 KiB of stack per bracket level and 1–3 KiB per link of a
//! left-leaning chain such as `1+1+1…` or `a.b.c…` — so a pack could overflow the stack
//! of whichever thread loads it. Second, it panics on some syntax errors (`1 +`, an
//! empty text) instead of reporting them. So this module:
//!
//! 1. reads the text into tokens with the same lexical rules as the CEL grammar
//!    (strings of every form, escapes, comments, numbers), failing closed: anything whose
//!    reading could differ from the real lexer's (an unknown escape, an unterminated
//!    string, `0x` without digits, a character CEL has no token for, a back-quoted name)
//!    is refused, so brackets can never hide inside what the scan takes for a string;
//! 2. bounds the bracket depth (`(`, `[`, `{`) and an over-estimate of the syntax tree's
//!    depth — for each bracket group, one level plus one per operator in it (`&&` and
//!    `||` count logarithmically, as the parser balances them), plus its deepest group;
//! 3. checks the tokens against the grammar (a recogniser, loops for every binary
//!    operator, so its own recursion is bounded by the bracket depth), accepting a
//!    subset of CEL: no message construction (`Foo{a: 1}`), no optional syntax (`a.?b`),
//!    no leading-dot names, no doubled unary `!!`/`--` (cel-parser reads `!!x` as `!x`).
//!
//! Only text that passes all three reaches the parser.

use crate::expr::ExprError;
use crate::limits::Limits;

/// A token, as far as the recogniser needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// A name (not `true`, `false`, `null` or `in`).
    Ident(&'a str),
    /// A number, string, bytes, `true`, `false` or `null`.
    Literal,
    /// Punctuation or an operator, including `in`.
    Op(&'static str),
}

/// One bracket group being read.
struct Group {
    open: u8,
    ops: usize,
    logic: usize,
    deepest_child: usize,
}

impl Group {
    fn new(open: u8) -> Group {
        Group {
            open,
            ops: 0,
            logic: 0,
            deepest_child: 0,
        }
    }

    /// This group's contribution to the tree depth, children included.
    fn estimate(&self) -> usize {
        let log = usize::BITS as usize - self.logic.leading_zeros() as usize;
        1 + self.ops + log + self.deepest_child
    }
}

fn unreadable(why: &str) -> ExprError {
    ExprError::Unreadable(why.to_owned())
}

/// Checks `text` against the bounds and the grammar; see the module's documentation.
pub(crate) fn scan(text: &str, limits: &Limits) -> Result<(), ExprError> {
    if text.len() > limits.max_expression_len {
        return Err(ExprError::TooLong {
            len: text.len(),
            max: limits.max_expression_len,
        });
    }
    let toks = lex(text, limits)?;
    Recogniser { toks: &toks, at: 0 }.whole()
}

/// Operators of two characters, then of one.
const OPS2: [&str; 8] = ["==", "!=", "<=", ">=", "&&", "||", "//", "/*"];
const OPS1: [&str; 19] = [
    "(", ")", "[", "]", "{", "}", ".", ",", ":", "?", "!", "-", "+", "*", "/", "%", "<", ">", "=",
];

fn lex<'a>(text: &'a str, limits: &Limits) -> Result<Vec<Tok<'a>>, ExprError> {
    let too_deep = ExprError::TooDeep {
        max: limits.max_depth,
    };
    let b = text.as_bytes();
    let mut toks = Vec::new();
    let mut stack = vec![Group::new(0)];
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let top = stack.len() - 1;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0C => i += 1,
            b'"' | b'\'' => {
                i = string(b, i, false)?;
                toks.push(Tok::Literal);
            }
            b'0'..=b'9' => {
                i = number(b, i)?;
                toks.push(Tok::Literal);
            }
            b'.' if matches!(b.get(i + 1), Some(b'0'..=b'9')) => {
                i = number(b, i)?;
                toks.push(Tok::Literal);
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &text[start..i];
                let prefix = matches!(word, "r" | "R" | "b" | "B" | "br" | "bR" | "Br" | "BR");
                if prefix && matches!(b.get(i), Some(b'"' | b'\'')) {
                    i = string(b, i, word.contains(['r', 'R']))?;
                    toks.push(Tok::Literal);
                } else {
                    toks.push(match word {
                        "true" | "false" | "null" => Tok::Literal,
                        "in" => {
                            stack[top].ops += 1;
                            Tok::Op("in")
                        }
                        w => Tok::Ident(w),
                    });
                }
            }
            _ => {
                let two = text
                    .get(i..i + 2)
                    .and_then(|s| OPS2.iter().find(|o| **o == s));
                let op = match two {
                    Some(&"//") => {
                        while i < b.len() && b[i] != b'\n' {
                            i += 1;
                        }
                        continue;
                    }
                    Some(&"/*") => return Err(unreadable("CEL has no /* comments */; use //")),
                    Some(op) => *op,
                    None => text
                        .get(i..i + 1)
                        .and_then(|s| OPS1.iter().find(|o| **o == s))
                        .copied()
                        .ok_or_else(|| match c {
                            b'`' => unreadable("back-quoted names are not supported"),
                            b'&' | b'|' => {
                                unreadable("a single & or | is not an operator; write && or ||")
                            }
                            _ => unreadable("it holds a character that CEL does not use"),
                        })?,
                };
                i += op.len();
                match op {
                    "=" => return Err(unreadable("a single = is not an operator; write ==")),
                    "(" | "[" | "{" => {
                        stack.push(Group::new(c));
                        if stack.len() - 1 > limits.max_bracket_depth {
                            return Err(too_deep);
                        }
                    }
                    ")" | "]" | "}" => {
                        let want = match op {
                            ")" => b'(',
                            "]" => b'[',
                            _ => b'{',
                        };
                        if stack.len() == 1 || stack[top].open != want {
                            return Err(unreadable("its brackets do not match"));
                        }
                        let closed = stack.pop().map(|g| g.estimate()).unwrap_or_default();
                        let parent = &mut stack[top - 1];
                        parent.deepest_child = parent.deepest_child.max(closed);
                    }
                    "&&" | "||" => stack[top].logic += 1,
                    "," | ":" => {}
                    _ => stack[top].ops += 1,
                }
                toks.push(Tok::Op(op));
            }
        }
    }
    if stack.len() != 1 {
        return Err(unreadable("a bracket is not closed"));
    }
    if stack[0].estimate() > 2 * limits.max_depth {
        return Err(too_deep);
    }
    Ok(toks)
}

/// A number token starting at `i`, as the CEL lexer reads it (`12`, `0x1F`, `3u`,
/// `2.5`, `.5e-3`, `1e6`): returns the index after it. What the lexer would split
/// differently (`0x` without digits, `1.5u`) is refused.
fn number(b: &[u8], mut i: usize) -> Result<usize, ExprError> {
    let digits = |b: &[u8], mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut float = false;
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        let start = i + 2;
        i = start;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i == start {
            return Err(unreadable("a hexadecimal number has no digits"));
        }
    } else {
        i = digits(b, i);
        if b.get(i) == Some(&b'.') && matches!(b.get(i + 1), Some(b'0'..=b'9')) {
            i = digits(b, i + 1);
            float = true;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
            if matches!(b.get(i + 1 + sign), Some(b'0'..=b'9')) {
                i = digits(b, i + 1 + sign);
                float = true;
            }
        }
    }
    if matches!(b.get(i), Some(b'u' | b'U')) {
        if float {
            return Err(unreadable("a number with a fraction cannot end in u"));
        }
        i += 1;
    }
    // A letter or digit straight after a number would be read as another token.
    if b.get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return Err(unreadable(
            "a number runs into a name; put a space or an operator between them",
        ));
    }
    Ok(i)
}

/// A string literal whose opening quote is at `i`: returns the index after it. Triple
/// quotes take precedence when they are closed, as the CEL lexer's longest match does.
fn string(b: &[u8], i: usize, raw: bool) -> Result<usize, ExprError> {
    let q = b[i];
    let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
    if triple {
        let mut j = i + 3;
        while j < b.len() {
            if b[j] == q && b.get(j + 1) == Some(&q) && b.get(j + 2) == Some(&q) {
                return Ok(j + 3);
            }
            j = if !raw && b[j] == b'\\' {
                escape(b, j)?
            } else {
                j + 1
            };
        }
        return Err(unreadable("a string is not closed"));
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            c if c == q => return Ok(j + 1),
            b'\n' | b'\r' => {
                return Err(unreadable(
                    "a string runs over a line end; use triple quotes",
                ));
            }
            b'\\' if !raw => j = escape(b, j)?,
            _ => j += 1,
        }
    }
    Err(unreadable("a string is not closed"))
}

/// An escape sequence whose backslash is at `j`, as the CEL grammar defines them.
fn escape(b: &[u8], j: usize) -> Result<usize, ExprError> {
    let hex = |from: usize, n: usize| {
        (from..from + n).all(|k| b.get(k).is_some_and(u8::is_ascii_hexdigit))
    };
    match b.get(j + 1) {
        Some(
            b'a' | b'b' | b'f' | b'n' | b'r' | b't' | b'v' | b'"' | b'\'' | b'\\' | b'?' | b'`',
        ) => Ok(j + 2),
        Some(b'x' | b'X') if hex(j + 2, 2) => Ok(j + 4),
        Some(b'u') if hex(j + 2, 4) => Ok(j + 6),
        Some(b'U') if hex(j + 2, 8) => Ok(j + 10),
        Some(b'0'..=b'3')
            if matches!(b.get(j + 2), Some(b'0'..=b'7'))
                && matches!(b.get(j + 3), Some(b'0'..=b'7')) =>
        {
            Ok(j + 4)
        }
        _ => Err(unreadable("a string holds a \\ that is not a known escape")),
    }
}

/// A recogniser for the accepted subset of the CEL grammar (`CEL.g4` in cel-parser).
struct Recogniser<'t, 'a> {
    toks: &'t [Tok<'a>],
    at: usize,
}

const RELATIONS: [&str; 7] = ["<", "<=", ">=", ">", "==", "!=", "in"];
const ARITHMETIC: [&str; 5] = ["*", "/", "%", "+", "-"];

impl Recogniser<'_, '_> {
    fn peek(&self) -> Option<Tok<'_>> {
        self.toks.get(self.at).copied()
    }

    fn is(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if o == op)
    }

    fn eat(&mut self, op: &str) -> bool {
        let yes = self.is(op);
        if yes {
            self.at += 1;
        }
        yes
    }

    fn expect(&mut self, op: &str) -> Result<(), ExprError> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    fn syntax(&self) -> ExprError {
        match self.peek() {
            None => ExprError::Syntax("it ends too early".to_owned()),
            Some(Tok::Op(o)) => {
                ExprError::Syntax(format!("unexpected {o} (token {})", self.at + 1))
            }
            Some(Tok::Ident(w)) => ExprError::Syntax(format!(
                "unexpected name {} (token {})",
                w.chars().take(40).collect::<String>(),
                self.at + 1
            )),
            Some(Tok::Literal) => {
                ExprError::Syntax(format!("unexpected value (token {})", self.at + 1))
            }
        }
    }

    fn whole(mut self) -> Result<(), ExprError> {
        self.expr()?;
        if self.at == self.toks.len() {
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// `expr: or ('?' or ':' expr)?`, the right recursion as a loop.
    fn expr(&mut self) -> Result<(), ExprError> {
        loop {
            self.binary()?;
            if !self.eat("?") {
                return Ok(());
            }
            self.binary()?;
            self.expect(":")?;
        }
    }

    /// `||`, `&&`, relations and arithmetic: operands separated by binary operators
    /// (precedence does not matter to recognise them).
    fn binary(&mut self) -> Result<(), ExprError> {
        loop {
            self.unary()?;
            let more = matches!(self.peek(), Some(Tok::Op(o))
                if o == "&&" || o == "||" || RELATIONS.contains(&o) || ARITHMETIC.contains(&o));
            if !more {
                return Ok(());
            }
            self.at += 1;
        }
    }

    /// `unary: member | '!' member | '-' member` (one sign only).
    fn unary(&mut self) -> Result<(), ExprError> {
        if (self.eat("!") || self.eat("-")) && (self.is("!") || self.is("-")) {
            return Err(ExprError::Unreadable(
                "write it without a double ! or -".to_owned(),
            ));
        }
        self.member()
    }

    /// `member: primary ('.' IDENT ('(' args ')')? | '[' expr ']')*`.
    fn member(&mut self) -> Result<(), ExprError> {
        self.primary()?;
        loop {
            if self.eat(".") {
                match self.peek() {
                    Some(Tok::Ident(_)) => self.at += 1,
                    _ => return Err(self.syntax()),
                }
                if self.eat("(") {
                    self.list(")")?;
                }
            } else if self.eat("[") {
                self.expr()?;
                self.expect("]")?;
            } else {
                return Ok(());
            }
        }
    }

    /// `primary: IDENT ('(' args ')')? | '(' expr ')' | '[' list ']' | '{' entries '}' |
    /// literal`.
    fn primary(&mut self) -> Result<(), ExprError> {
        match self.peek() {
            Some(Tok::Literal) => {
                self.at += 1;
                Ok(())
            }
            Some(Tok::Ident(_)) => {
                self.at += 1;
                if self.eat("(") {
                    self.list(")")?;
                }
                Ok(())
            }
            Some(Tok::Op("(")) => {
                self.at += 1;
                self.expr()?;
                self.expect(")")
            }
            Some(Tok::Op("[")) => {
                self.at += 1;
                if self.eat("]") {
                    return Ok(());
                }
                self.list("]")
            }
            Some(Tok::Op("{")) => {
                self.at += 1;
                if self.eat("}") {
                    return Ok(());
                }
                loop {
                    self.expr()?;
                    self.expect(":")?;
                    self.expr()?;
                    if self.eat("}") {
                        return Ok(());
                    }
                    self.expect(",")?;
                    if self.eat("}") {
                        return Ok(());
                    }
                }
            }
            _ => Err(self.syntax()),
        }
    }

    /// Comma-separated expressions up to `close` (the opening bracket eaten). Function
    /// arguments may not end with a comma; list items may.
    fn list(&mut self, close: &str) -> Result<(), ExprError> {
        if close == ")" && self.eat(")") {
            return Ok(());
        }
        loop {
            self.expr()?;
            if self.eat(close) {
                return Ok(());
            }
            self.expect(",")?;
            if close == "]" && self.eat("]") {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> bool {
        scan(t, &Limits::DEFAULT).is_ok()
    }

    #[test]
    fn ordinary_expressions_pass() {
        for t in [
            "age(personal.date_of_birth) >= 66 && weekly(government.tax.annual_income) < 218.15",
            "health.immunisations.exists(i, lower(i.name) == 'flu' && days_since(i.date) < 330)",
            r#"personal.address.postcode.startsWith("LS") // Leeds"#,
            r#"r"\d" == '\\d' && b'\x41' == b"A" && """a "quoted" word""" != ''"#,
            "0x1F + 3u + 2.5e-3 + .5 + 1e6",
            "a != !b && c - -1.0 < 0.0",
            "{'a': [1, 2,], 'b': {},} == x ? y : z ? 1 : 2",
            "size([]) == 0 && f() && personal['address']['town'] in ['Leeds']",
            "-1 < 0 && !(true)",
        ] {
            assert!(ok(t), "{t}: {:?}", scan(t, &Limits::DEFAULT));
        }
    }

    #[test]
    fn brackets_inside_strings_and_comments_do_not_count_but_real_ones_do() {
        let deep = "(".repeat(33) + "1" + &")".repeat(33);
        assert!(!ok(&deep));
        let hidden = format!(
            "'{}' == \"{}\" // {}\n",
            "(".repeat(40),
            ")".repeat(40),
            "[".repeat(40)
        );
        assert!(ok(&hidden));
        // A raw string ends at its first quote: the brackets after it are real.
        let raw = format!(r#"r"\" + {}1{}"#, "(".repeat(40), ")".repeat(40));
        assert!(!ok(&raw));
        // A quote inside a comment does not start a string.
        let comment = format!("1 // \"\"\"\n + {}1{}", "(".repeat(40), ")".repeat(40));
        assert!(!ok(&comment));
    }

    #[test]
    fn long_chains_are_refused_before_parsing() {
        assert!(ok(&format!("1{}", "+1".repeat(40))));
        assert!(!ok(&format!("1{}", "+1".repeat(80))));
        assert!(!ok(&format!("a{}", ".b".repeat(80))));
        assert!(!ok(&format!("0x1e{}", "+0x1e".repeat(80))));
        assert!(!ok(&format!("{}1", "true?1:".repeat(80))));
        // && is balanced by the parser: a long conjunction is fine.
        assert!(ok(&format!("true{}", " && true".repeat(200))));
    }

    #[test]
    fn anything_ambiguous_or_ungrammatical_is_refused() {
        for t in [
            "",
            "1 +",
            "1 2",
            "a.b.c(",
            "f(1,)",
            "[,]",
            "Foo{a: 1}",
            ".a",
            "a.?b",
            "a[?0]",
            "a.1",
            "'unterminated",
            "\"\"\" never closed",
            "'bad \\q escape' + ((((1))))",
            "a & b",
            "a = b",
            "`a.b`",
            "a # b",
            "£1",
            "(1]",
            "(1",
            "1)",
            "!!true",
            "- -1",
            "--1",
            "0x",
            "1.5u",
            "1e",
            "'line\nbreak'",
            "1 /* no */",
        ] {
            assert!(!ok(t), "{t:?} should be refused");
        }
        assert!(matches!(
            scan(&"1".repeat(2_001), &Limits::DEFAULT),
            Err(ExprError::TooLong { .. })
        ));
    }

    /// What the scan accepts, the parser parses without panicking and within a modest
    /// stack: the deepest shapes the bounds allow, on a thread with 512 KiB (a quarter
    /// of a test thread's).
    #[test]
    fn the_worst_accepted_shapes_fit_a_small_stack() {
        let shapes = [
            format!("{}1{}", "(".repeat(32), ")".repeat(32)),
            format!("{}1{}", "[".repeat(32), "]".repeat(32)),
            format!("{}1{}", "!(".repeat(31), ")".repeat(31)),
            format!("{}1{}", "(1+".repeat(31), ")".repeat(31)),
            format!("{}1{}", "[1].map(x,".repeat(20), ")".repeat(20)),
            format!(
                "{}{}{}",
                "(".repeat(16),
                "1+".repeat(46) + "1",
                ")".repeat(16)
            ),
            format!("a{}", ".b".repeat(62)),
            format!("{}1", "true?1:".repeat(62)),
        ];
        for s in shapes {
            assert!(ok(&s), "{s}: {:?}", scan(&s, &Limits::DEFAULT));
            let parsed = std::thread::Builder::new()
                .stack_size(512 * 1024)
                .spawn(move || cel_parser::Parser::new().parse(&s).is_ok())
                .unwrap()
                .join()
                .unwrap();
            assert!(parsed);
        }
    }
}
