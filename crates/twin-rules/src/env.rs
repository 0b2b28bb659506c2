//! The CEL environment: the functions rule packs may call, and the context one
//! evaluation sees (`today`, the categories the citizen's values are available in, and
//! the records, reachable only through the record functions).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel_interpreter::extractors::Arguments;
use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, ExecutionError, FunctionContext, Value};
use time::Date;

use crate::expr::{RECORDS, TODAY};
use crate::format;

/// The functions, registered once; each evaluation adds its variables in a child scope.
static BASE: LazyLock<Context<'static>> = LazyLock::new(|| {
    let mut ctx = Context::empty();
    ctx.add_function("size", cel_interpreter::functions::size);
    ctx.add_function("contains", cel_interpreter::functions::contains);
    ctx.add_function("startsWith", cel_interpreter::functions::starts_with);
    ctx.add_function("endsWith", cel_interpreter::functions::ends_with);
    ctx.add_function("max", cel_interpreter::functions::max);
    ctx.add_function("min", cel_interpreter::functions::min);
    ctx.add_function("double", cel_interpreter::functions::double);
    ctx.add_function("int", cel_interpreter::functions::int);
    ctx.add_function("string", cel_interpreter::functions::string);
    ctx.add_function("age", age);
    ctx.add_function("days_until", days_until);
    ctx.add_function("days_since", days_since);
    ctx.add_function("add_days", add_days);
    ctx.add_function("weekly", weekly);
    ctx.add_function("money", money);
    ctx.add_function("long_date", long_date);
    ctx.add_function("lower", lower);
    ctx.add_function("has_record", has_record);
    ctx.add_function("record", record);
    ctx.add_function("records_of", records_of);
    ctx
});

/// The variables of one evaluation, made once per [`crate::RulePack::evaluate`].
pub(crate) struct Scope {
    vars: Vec<(String, Value)>,
}

impl Scope {
    /// `today`, one map per available category, and the records list.
    pub(crate) fn new(today: Date, categories: Vec<(String, Value)>, records: Value) -> Scope {
        let mut vars = categories;
        vars.push((
            TODAY.to_owned(),
            Value::String(Arc::new(format::iso(today))),
        ));
        vars.push((RECORDS.to_owned(), records));
        Scope { vars }
    }

    /// A context holding these variables over the registered functions.
    pub(crate) fn context(&self) -> Context<'static> {
        let mut ctx = BASE.new_inner_scope();
        for (name, value) in &self.vars {
            ctx.add_variable_from_value(name.clone(), value.clone());
        }
        ctx
    }
}

type Res = Result<Value, ExecutionError>;

fn arg<'a>(
    ftx: &FunctionContext,
    args: &'a [Value],
    i: usize,
) -> Result<&'a Value, ExecutionError> {
    args.get(i)
        .ok_or_else(|| ftx.error("it was called without all of its arguments"))
}

/// A `"YYYY-MM-DD"` argument as a date.
fn date_arg(ftx: &FunctionContext, args: &[Value], i: usize) -> Result<Date, ExecutionError> {
    match arg(ftx, args, i)? {
        Value::String(s) => format::parse_iso(s)
            .ok_or_else(|| ftx.error("a date is not a real date written like 2026-03-14")),
        _ => Err(ftx.error("it needs a date written like 2026-03-14")),
    }
}

fn number_arg(ftx: &FunctionContext, args: &[Value], i: usize) -> Result<f64, ExecutionError> {
    match arg(ftx, args, i)? {
        Value::Float(x) => Ok(*x),
        Value::Int(x) => Ok(*x as f64),
        Value::UInt(x) => Ok(*x as f64),
        _ => Err(ftx.error("it needs a number")),
    }
}

fn today(ftx: &FunctionContext) -> Result<Date, ExecutionError> {
    match ftx.ptx.get_variable(TODAY)? {
        Value::String(s) => format::parse_iso(&s).ok_or_else(|| ftx.error("today is not set")),
        _ => Err(ftx.error("today is not set")),
    }
}

/// `age(date)`: whole years from `date` to today; a 29 February birthday counts from
/// 1 March in other years. A date after today is an error.
fn age(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    let born = date_arg(ftx, &args, 0)?;
    let now = today(ftx)?;
    if born > now {
        return Err(ftx.error("a date of birth is after today"));
    }
    let mut years = now.year() - born.year();
    let had_birthday = (now.month() as u8, now.day()) >= (born.month() as u8, born.day());
    if !had_birthday {
        years -= 1;
    }
    Ok(Value::Int(i64::from(years)))
}

/// `days_until(date)`: days from today to `date`, negative when it has passed.
fn days_until(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    let d = date_arg(ftx, &args, 0)?;
    Ok(Value::Int((d - today(ftx)?).whole_days()))
}

/// `days_since(date)`: days from `date` to today, negative when it is still to come.
fn days_since(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    let d = date_arg(ftx, &args, 0)?;
    Ok(Value::Int((today(ftx)? - d).whole_days()))
}

/// `add_days(date, n)`: the date `n` days after `date` (before, when `n` is negative).
fn add_days(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    let d = date_arg(ftx, &args, 0)?;
    let n = match arg(ftx, &args, 1)? {
        Value::Int(n) if n.abs() <= 100 * 366 => *n,
        _ => return Err(ftx.error("it needs a whole number of days, at most 36,600")),
    };
    d.checked_add(time::Duration::days(n))
        .map(|d| Value::String(Arc::new(format::iso(d))))
        .ok_or_else(|| ftx.error("the date is out of range"))
}

/// `weekly(yearly)`: a yearly amount per week (divided by 52), as a double.
fn weekly(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    Ok(Value::Float(number_arg(ftx, &args, 0)? / 52.0))
}

/// `money(x)`: `£1,234.56`.
fn money(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    let x = number_arg(ftx, &args, 0)?;
    format::money(x)
        .map(|s| Value::String(Arc::new(s)))
        .ok_or_else(|| ftx.error("the amount is not a finite number"))
}

/// `long_date(date)`: `14 March 1958`.
fn long_date(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    let d = date_arg(ftx, &args, 0)?;
    Ok(Value::String(Arc::new(format::long_date(d))))
}

/// `lower(text)`: in lower case.
fn lower(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    match arg(ftx, &args, 0)? {
        Value::String(s) => Ok(Value::String(Arc::new(s.to_lowercase()))),
        _ => Err(ftx.error("it needs text")),
    }
}

/// The records of type `kind`, newest first (the list is kept newest first).
fn of_type(ftx: &FunctionContext, args: &[Value]) -> Result<Vec<Value>, ExecutionError> {
    let kind = match arg(ftx, args, 0)? {
        Value::String(s) => s.clone(),
        _ => return Err(ftx.error("it needs a record type")),
    };
    let Value::List(all) = ftx.ptx.get_variable(RECORDS)? else {
        return Ok(Vec::new());
    };
    let type_key = Key::from("type");
    let body_key = Key::from("body");
    Ok(all
        .iter()
        .filter_map(|r| match r {
            Value::Map(m) if m.get(&type_key) == Some(&Value::String(kind.clone())) => {
                m.get(&body_key).cloned()
            }
            _ => None,
        })
        .collect())
}

/// The message of the error [`record`] gives when there is no record of the type: the
/// evaluator turns it into "undecided", not "couldn't check".
pub(crate) const NO_RECORD: &str = "there is no record of this type";

/// `has_record(type)`: whether any record of that type is in the twin.
fn has_record(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    Ok(Value::Bool(!of_type(ftx, &args)?.is_empty()))
}

/// `record(type)`: the newest record of that type's body; an error when there is none.
fn record(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    of_type(ftx, &args)?
        .into_iter()
        .next()
        .ok_or_else(|| ftx.error(NO_RECORD))
}

/// `records_of(type)`: the bodies of every record of that type, newest first.
fn records_of(ftx: &FunctionContext, Arguments(args): Arguments) -> Res {
    Ok(Value::List(Arc::new(of_type(ftx, &args)?)))
}

/// How JSON numbers become CEL numbers.
#[derive(Clone, Copy)]
pub(crate) enum Numbers {
    /// Whole numbers as `int` (a field of integer kind).
    Int,
    /// Every number as `double` (number fields and record bodies).
    Double,
}

/// A JSON value as a CEL value.
pub(crate) fn to_cel(v: &serde_json::Value, numbers: Numbers) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (numbers, n.as_i64()) {
            (Numbers::Int, Some(i)) => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(a) => {
            Value::List(Arc::new(a.iter().map(|x| to_cel(x, numbers)).collect()))
        }
        serde_json::Value::Object(o) => map(o
            .iter()
            .map(|(k, x)| (k.clone(), to_cel(x, numbers)))
            .collect()),
    }
}

/// A CEL map with text keys.
pub(crate) fn map(entries: HashMap<String, Value>) -> Value {
    Value::Map(Map {
        map: Arc::new(
            entries
                .into_iter()
                .map(|(k, v)| (Key::String(Arc::new(k)), v))
                .collect(),
        ),
    })
}

/// A CEL value as JSON, for pre-filled values; `None` for what JSON cannot hold
/// (non-finite numbers, functions).
pub(crate) fn to_json(v: &Value) -> Option<serde_json::Value> {
    Some(match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(x) => serde_json::Value::from(serde_json::Number::from_f64(*x)?),
        Value::String(s) => serde_json::Value::String(s.as_ref().clone()),
        Value::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect::<Option<_>>()?),
        Value::Map(m) => serde_json::Value::Object(
            m.map
                .iter()
                .map(|(k, x)| Some((k.to_string(), to_json(x)?)))
                .collect::<Option<_>>()?,
        ),
        Value::Bytes(_) | Value::Function(..) => return None,
    })
}
