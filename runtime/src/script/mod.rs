//! Scripts: rhai functions loaded into a running agent, which become its
//! methods and handlers (osBrain's `set_method`, `execute_as_function`).
//! docs/scripting.md is the user's side of this module.
//!
//! - [`ScriptLimits`]: the sandbox's budget per call.
//! - `convert`: codec values to rhai values and back.
//! - `env`: what a script reaches of its agent ([`ScriptEnv`]).
//!
//! One engine per agent, built on first use with the agent's limits; every
//! loaded function lives in one function-only AST, which a later load
//! extends (a function with the same name and arity is replaced). No
//! module can be imported (rhai's `no_module`), `eval` is disabled, and no
//! function reaching files, processes or the network is registered.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Instant;

use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, ParseError, Position, Scope, AST};

mod convert;
mod env;
mod limits;

pub(crate) use env::ScriptEnv;
pub use limits::ScriptLimits;

use crate::codec::Value;

/// Why a script failed to load or to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", where_(*line, *column))]
pub struct ScriptError {
    /// What went wrong, naming the limit when one was hit.
    pub message: String,
    /// The line in the script, when known (from 1).
    pub line: Option<usize>,
    /// The column in that line, when known (from 1).
    pub column: Option<usize>,
    /// Whether the script did not compile (else it ran and failed).
    pub parse: bool,
}

fn where_(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
        (Some(l), None) => format!("line {l}: "),
        _ => String::new(),
    }
}

impl ScriptError {
    fn new(message: impl Into<String>, at: Position, parse: bool) -> Self {
        ScriptError {
            message: message.into(),
            line: at.line(),
            column: at.position(),
            parse,
        }
    }

    fn parse(e: ParseError) -> Self {
        let at = e.position();
        ScriptError::new(format!("syntax error: {}", e.err_type()), at, true)
    }

    /// A runtime error, from where it happened (inside the innermost function call).
    ///
    /// rhai gives a limit hit inside a function the position of the call;
    /// a function called by the host has none, so the error names the
    /// function and the line where it is defined (`called`).
    fn run(e: &EvalAltResult, limits: &ScriptLimits, called: Option<(&str, Place)>) -> Self {
        let inner = e.unwrap_inner();
        let at = match inner.position() {
            p if p.is_none() => e.position(),
            p => p,
        };
        if let (true, Some((name, (line, column)))) = (at.is_none(), called) {
            let mut error = ScriptError::run(inner, limits, None);
            error.message = format!("{} in fn {name}", error.message);
            (error.line, error.column) = (Some(line), Some(column));
            return error;
        }
        let message = match inner {
            EvalAltResult::ErrorTooManyOperations(_) => {
                format!("operation limit of {} exceeded", limits.operations)
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                format!("call depth limit of {} exceeded", limits.call_depth)
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => format!("{what} over the size limit"),
            EvalAltResult::ErrorTerminated(why, _) => why.to_string(),
            EvalAltResult::ErrorParsing(p, _) => format!("syntax error: {p}"),
            other => {
                // Its text ends with its position, which the error gives apart.
                let text = other.to_string();
                let at = format!(" ({})", other.position());
                text.strip_suffix(&at).unwrap_or(&text).to_owned()
            }
        };
        ScriptError::new(message, at, false)
    }
}

/// A line and column, from 1.
type Place = (usize, usize);

/// Where each `fn NAME(` of `source` starts.
fn definitions(source: &str) -> impl Iterator<Item = (&str, Place)> {
    source.lines().enumerate().flat_map(|(i, line)| {
        line.match_indices("fn ").filter_map(move |(at, _)| {
            let before = line[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                return None;
            }
            let rest = line[at + 3..].trim_start();
            let name = rest
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()?;
            (!name.is_empty()).then_some((name, (i + 1, at + 1)))
        })
    })
}

/// A loaded function: its name and how many arguments it takes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Signature {
    /// The function's name.
    pub name: String,
    /// Its number of parameters.
    pub arity: usize,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.arity)
    }
}

/// Compiles `source` as `load_script` would, without an agent: what it defines, or why it does not compile.
pub fn check_script(source: &str) -> Result<Vec<Signature>, ScriptError> {
    Scripts::new(ScriptLimits::default()).load(source)
}

/// One agent's scripts: the engine and every function loaded so far.
pub(crate) struct Scripts {
    limits: ScriptLimits,
    engine: Option<Rc<Engine>>,
    functions: Rc<AST>,
    /// Loaded function names and their arities.
    arities: BTreeMap<String, Vec<usize>>,
    /// Where each loaded function is defined in its source.
    defined_at: Rc<BTreeMap<String, Place>>,
    slot: env::Slot,
    deadline: Rc<Cell<Option<Instant>>>,
}

impl Scripts {
    /// No script yet; calls will run within `limits`.
    pub(crate) fn new(limits: ScriptLimits) -> Self {
        Scripts {
            limits,
            engine: None,
            functions: Rc::new(AST::empty()),
            arities: BTreeMap::new(),
            defined_at: Rc::default(),
            slot: Rc::new(Cell::new(None)),
            deadline: Rc::new(Cell::new(None)),
        }
    }

    /// The engine, built on first use.
    fn engine(&mut self) -> Rc<Engine> {
        let (limits, slot, deadline) = (&self.limits, &self.slot, &self.deadline);
        self.engine
            .get_or_insert_with(|| Rc::new(build_engine(limits, slot, deadline.clone())))
            .clone()
    }

    /// Compiles `source` and defines every function in it; top-level code is not run.
    pub(crate) fn load(&mut self, source: &str) -> Result<Vec<Signature>, ScriptError> {
        let ast = self.compile(source)?;
        let defined = signatures(&ast);
        if defined.is_empty() {
            let why =
                "the script defines no function (fn name(..) { .. }); use exec to run code once";
            return Err(ScriptError::new(why, Position::NONE, true));
        }
        self.add(ast, &defined, source);
        Ok(defined)
    }

    /// Defines the function `name` from `source`, which must define it and nothing else.
    pub(crate) fn define(
        &mut self,
        name: &str,
        source: &str,
    ) -> Result<Vec<Signature>, ScriptError> {
        let ast = self.compile(source)?;
        let defined = signatures(&ast);
        if defined.is_empty() || defined.iter().any(|s| s.name != name) {
            let found: Vec<String> = defined.iter().map(ToString::to_string).collect();
            let why = format!("set_method's source must define fn {name}(..) and no other function (it defines {found:?})");
            return Err(ScriptError::new(why, Position::NONE, true));
        }
        self.add(ast, &defined, source);
        Ok(defined)
    }

    fn compile(&mut self, source: &str) -> Result<AST, ScriptError> {
        let mut ast = self.engine().compile(source).map_err(ScriptError::parse)?;
        ast.clear_statements();
        Ok(ast)
    }

    /// Adds the functions of `ast`, replacing those with the same name and arity.
    fn add(&mut self, ast: AST, defined: &[Signature], source: &str) {
        self.functions = Rc::new(self.functions.merge(&ast));
        let defined_at = Rc::make_mut(&mut self.defined_at);
        for (name, place) in definitions(source) {
            if defined.iter().any(|s| s.name == name) {
                defined_at.insert(name.to_owned(), place);
            }
        }
        for s in defined {
            let arities = self.arities.entry(s.name.clone()).or_default();
            if !arities.contains(&s.arity) {
                arities.push(s.arity);
                arities.sort_unstable();
            }
        }
    }

    /// The arities of the loaded function `name` (empty when there is none).
    pub(crate) fn arities(&self, name: &str) -> &[usize] {
        self.arities.get(name).map_or(&[], Vec::as_slice)
    }

    /// The loaded functions' names, sorted.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.arities.keys().map(String::as_str)
    }

    /// What runs one call, holding no borrow of `self`.
    pub(crate) fn runner(&mut self) -> Runner {
        Runner {
            engine: self.engine(),
            functions: self.functions.clone(),
            slot: self.slot.clone(),
            deadline: self.deadline.clone(),
            limits: self.limits,
            defined_at: self.defined_at.clone(),
        }
    }
}

/// The loaded functions' signatures in `ast`, sorted.
fn signatures(ast: &AST) -> Vec<Signature> {
    let mut s: Vec<Signature> = ast
        .iter_functions()
        .map(|f| Signature {
            name: f.name.to_owned(),
            arity: f.params.len(),
        })
        .collect();
    s.sort();
    s
}

/// The sandboxed engine of one agent.
fn build_engine(
    limits: &ScriptLimits,
    slot: &env::Slot,
    deadline: Rc<Cell<Option<Instant>>>,
) -> Engine {
    let mut engine = Engine::new();
    limits.apply(&mut engine, deadline);
    // Code from a string would escape nothing (the same limits hold), but a
    // script's text should be what was loaded and journaled.
    engine.disable_symbol("eval");
    engine.on_print(|text| tracing::info!(script = true, "{text}"));
    engine.on_debug(|text, _, at| tracing::debug!(script = true, at = %at, "{text}"));
    env::register(&mut engine, slot);
    engine
}

/// One script call's engine and functions.
pub(crate) struct Runner {
    engine: Rc<Engine>,
    functions: Rc<AST>,
    slot: env::Slot,
    deadline: Rc<Cell<Option<Instant>>>,
    limits: ScriptLimits,
    defined_at: Rc<BTreeMap<String, Place>>,
}

impl Runner {
    /// Calls the loaded function `name` with `args`, reaching the agent through `env`.
    pub(crate) fn call(
        &self,
        env: &mut dyn ScriptEnv,
        name: &str,
        args: Args,
    ) -> Result<Value, ScriptError> {
        let options = CallFnOptions::new().eval_ast(false);
        self.run(env, Some(name), |engine| {
            engine.call_fn_with_options::<Dynamic>(
                options,
                &mut Scope::new(),
                &self.functions,
                name,
                args,
            )
        })
    }

    /// Compiles and runs `source` once (it may call loaded functions); its value.
    pub(crate) fn exec(&self, env: &mut dyn ScriptEnv, source: &str) -> Result<Value, ScriptError> {
        let code = self.engine.compile(source).map_err(ScriptError::parse)?;
        let code = self.functions.merge(&code);
        self.run(env, None, |engine| {
            engine.eval_ast_with_scope::<Dynamic>(&mut Scope::new(), &code)
        })
    }

    fn run(
        &self,
        env: &mut dyn ScriptEnv,
        called: Option<&str>,
        f: impl FnOnce(&Engine) -> Result<Dynamic, Box<EvalAltResult>>,
    ) -> Result<Value, ScriptError> {
        self.deadline.set(None);
        let result = env::lend(&self.slot, env, || f(&self.engine));
        let value = result.map_err(|e| {
            let called = called.and_then(|name| Some((name, *self.defined_at.get(name)?)));
            ScriptError::run(&e, &self.limits, called)
        })?;
        convert::to_value(value).map_err(|why| ScriptError::new(why, Position::NONE, false))
    }
}

/// A call's arguments; a handler's (the message, the topic) stay inline, with no allocation.
pub(crate) enum Args {
    /// Up to two arguments.
    Inline(Option<Dynamic>, Option<Dynamic>),
    /// Any number.
    Many(Vec<Dynamic>),
}

impl Args {
    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        match self {
            Args::Inline(a, b) => usize::from(a.is_some()) + usize::from(b.is_some()),
            Args::Many(v) => v.len(),
        }
    }
}

impl rhai::FuncArgs for Args {
    fn parse<A: Extend<Dynamic>>(self, args: &mut A) {
        match self {
            Args::Inline(a, b) => args.extend(a.into_iter().chain(b)),
            Args::Many(v) => args.extend(v),
        }
    }
}

/// Script arguments from a control call's: an array is positional, null is none, else one.
pub(crate) fn arguments(args: Value) -> Args {
    match args {
        Value::Array(items) => Args::Many(items.into_iter().map(convert::to_dynamic).collect()),
        Value::Null => Args::Inline(None, None),
        other => Args::Inline(Some(convert::to_dynamic(other)), None),
    }
}

/// A message (and its topic) as a handler's arguments, as many as its arity takes.
pub(crate) fn message_arguments(msg: Value, topic: Option<&[u8]>, arity: usize) -> Args {
    let msg = (arity >= 1).then(|| convert::to_dynamic(msg));
    let topic = (arity >= 2).then(|| match topic.map(std::str::from_utf8) {
        Some(Ok(text)) => text.into(),
        Some(Err(_)) => Dynamic::from_blob(topic.unwrap_or_default().to_vec()),
        None => Dynamic::UNIT,
    });
    Args::Inline(msg, topic)
}

#[cfg(test)]
mod tests;
