//! The emitted ValidatingAdmissionPolicies, evaluated as the API server does:
//! a policy applies to an object when one of its bindings selects the object's
//! namespace and its match constraints name the object's resource; its
//! variables are evaluated in order, then every validation (CEL, with the `cel`
//! interpreter); a validation that is false — or fails to evaluate, with
//! `failurePolicy: Fail` — rejects the object with the binding's actions.

use crate::selector::{Labels, Selector};
use crate::{source_of, Object};
use khc_semantics::model::Origin;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// One validation of a policy. Held in an `Arc` ([`Policy::checks`]): a rule
/// stated alike by many tenants (the rules of `use restricted`, whose origin
/// is the profile's line) is one check shared by every tenant view
/// ([`Programs::rule_check`]).
#[derive(Clone)]
pub struct Check {
    /// The khc rule (`no-privileged`), from the message's `[khc rule …]` tag.
    pub rule: String,
    /// The rule's `FILE:LINE`.
    pub rule_source: String,
    /// The message shown on rejection.
    pub message: String,
    /// The expression (its text shared with every check of the same one).
    pub expression: Arc<str>,
    program: Program,
}

/// A policy binding.
#[derive(Clone, Debug)]
pub struct PolicyBinding {
    /// Binding name.
    pub name: String,
    /// Namespaces it selects.
    pub namespaces: Selector,
    /// `Deny`, `Warn`, `Audit`.
    pub actions: Vec<String>,
    /// `FILE:LINE`.
    pub source: String,
}

/// A ValidatingAdmissionPolicy with its bindings.
#[derive(Clone)]
pub struct Policy {
    /// Name.
    pub name: String,
    /// `FILE:LINE` of the `admission` block.
    pub source: String,
    /// Whether an evaluation error rejects (`failurePolicy: Fail`).
    pub fail_closed: bool,
    /// `(apiGroup, resource)` pairs the policy matches.
    pub resources: Vec<(String, String)>,
    variables: Vec<(String, Program)>,
    /// The match conditions (all must hold for the policy to judge a request).
    match_conditions: Vec<Program>,
    /// The validations (shared with other policies that state them alike).
    pub checks: Vec<Arc<Check>>,
    /// Its bindings.
    pub bindings: Vec<PolicyBinding>,
    /// Whether its variables and validations can read each variable bound on
    /// its own ([`Policy::dotted`]).
    dotted: std::sync::OnceLock<bool>,
}

/// A rejected (or warned, or audited) validation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The policy.
    pub policy: String,
    /// The khc rule.
    pub rule: String,
    /// The rule's `FILE:LINE`.
    pub rule_source: String,
    /// The message.
    pub message: String,
    /// The binding's actions (`Deny`, `Warn`, `Audit`).
    pub actions: Vec<String>,
    /// When the expression failed to evaluate: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every admission policy.
#[derive(Default)]
pub struct Admission {
    /// The policies.
    pub policies: Vec<Policy>,
    /// The bindings by a label their namespace selector requires, built on the
    /// first [`Admission::applicable`] (the policies are not changed after).
    index: std::sync::OnceLock<BindingIndex>,
}

/// `(policy, binding)` positions by a `(key, value)` label the binding's
/// namespace selector requires (its first `matchLabels` entry, or one of the
/// values of its first `In` expression); the bindings that require none are
/// `unindexed`. A namespace whose labels lack that pair
/// cannot be selected, so [`Admission::applicable`] matches only the bindings
/// found under its labels, not every binding of the fleet (a tenant's bindings
/// require its tenant label).
#[derive(Default)]
struct BindingIndex {
    by_label: std::collections::HashMap<String, std::collections::HashMap<String, Vec<(usize, usize)>>>,
    unindexed: Vec<(usize, usize)>,
}

type Compiled = Result<Arc<cel::IdedExpr>, String>;

/// A function bound in a context (the `cel` crate's boxed form).
type ContextFn = Box<dyn for<'c, 'a> Fn(&mut cel::FunctionContext<'c, 'a>) -> Result<cel::common::value::CowVal<'c, 'a>, cel::ExecutionError> + Send + Sync>;

/// An expression, compiled on first use: a question that evaluates no manifest
/// compiles nothing, and `eval` compiles only the policies that judge its
/// objects. One per distinct text (tenants share most of theirs); texts that
/// differ only in their string literals share one parse ([`Templates`]).
#[derive(Debug)]
struct Expression {
    text: Arc<str>,
    compiled: std::sync::OnceLock<Compiled>,
    templates: Arc<std::sync::Mutex<Templates>>,
    /// Parsed as written and run by the `cel` crate alone ([`Programs::as_written`]).
    as_written: bool,
    /// The program with each `variables.NAME` read as a variable of its own
    /// ([`dotted`]), built on first use.
    dotted: std::sync::OnceLock<Option<Dotted>>,
}

/// A program whose every `variables.NAME` reads the variable
/// `VARIABLE + NAME` instead ([`dotted`]), and the names it reads.
#[derive(Debug)]
struct Dotted {
    tree: Arc<cel::IdedExpr>,
    names: Vec<String>,
}

/// The prefix of the name each policy variable is bound under on its own (not
/// a CEL identifier: no expression can name it but through [`dotted`]).
const VARIABLE: &str = "variables (khc) ";

/// The program of `e` reading each policy variable as a variable of its own
/// ([`Policy::judge`] binds each once, converted once, instead of the
/// `variables` map converted again after each variable): `None` when it was
/// parsed as written ([`Programs::as_written`], the oracle), does not
/// compile, or names `variables` otherwise than as `variables.NAME` (alone,
/// in `has(variables.NAME)`, indexed, or bound by a comprehension).
fn dotted(e: &Program) -> Option<&Dotted> {
    e.dotted
        .get_or_init(|| {
            if e.as_written {
                return None;
            }
            // A text without the word reads no variable: its program as it is.
            if !e.text.contains("variables") {
                return Some(Dotted { tree: program(e).as_ref().ok()?.clone(), names: Vec::new() });
            }
            // Its own tree (the map's, [`program`], is built only if a
            // policy needs it): no copy of a tenant's own expressions; from
            // its template's tree renamed once ([`Templates::compile_dotted`]).
            let (tree, names) = match e.compiled.get() {
                Some(compiled) => read_variables_alone((**compiled.as_ref().ok()?).clone())?,
                None => e.templates.lock().unwrap_or_else(|p| p.into_inner()).compile_dotted(&e.text)?,
            };
            Some(Dotted { tree: Arc::new(tree), names })
        })
        .as_ref()
}

/// `tree` with each `variables.NAME` (a field selection, not a presence
/// test) read as the identifier `VARIABLE + NAME`, and the names in the
/// order they are written: what [`Policy::judge`] runs when it binds each
/// variable on its own; `None` when `variables` appears in another way.
pub fn read_variables_alone(mut tree: cel::IdedExpr) -> Option<(cel::IdedExpr, Vec<String>)> {
    let mut names = Vec::new();
    if !rename_variables(&mut tree, &mut names) {
        return None;
    }
    // The renamed variables are values too ([`from_value`]); the other
    // rewrites find nothing new to do.
    fast_rewrites(&mut tree, &mut Vec::new());
    Some((tree, names))
}

/// Replaces each `variables.NAME` of a tree (a field selection, not a
/// presence test) by the identifier `VARIABLE + NAME`, collecting the names;
/// false when `variables` appears in another way.
fn rename_variables(e: &mut cel::IdedExpr, names: &mut Vec<String>) -> bool {
    use cel::common::ast::Expr;
    match &mut e.expr {
        Expr::Select(s) if !s.test && matches!(&s.operand.expr, Expr::Ident(i) if i == "variables") => {
            names.push(s.field.clone());
            e.expr = Expr::Ident(format!("{VARIABLE}{}", s.field));
            return true;
        }
        Expr::Ident(i) => return i != "variables",
        Expr::Comprehension(c) if [&c.iter_var, &c.accu_var].iter().any(|v| *v == "variables") || c.iter_var2.as_deref() == Some("variables") => return false,
        _ => {}
    }
    // The children after the first that fails are left as they are (the
    // tree is then not used).
    let mut all = true;
    each_child_mut(e, &mut |x| all = all && rename_variables(x, names));
    all
}

/// Calls `f` on each subexpression of `e`, in the order they are written (a
/// call's target before its arguments, a map entry's key before its value):
/// what the tree rewrites here ([`rename_variables`], [`fast_rewrites`],
/// [`substitute`]) walk into, without a list of them built at each node
/// (each tenant's own programs are rewritten on first use).
fn each_child_mut(e: &mut cel::IdedExpr, f: &mut dyn FnMut(&mut cel::IdedExpr)) {
    use cel::common::ast::{EntryExpr, Expr};
    fn entries(entries: &mut [cel::common::ast::IdedEntryExpr], f: &mut dyn FnMut(&mut cel::IdedExpr)) {
        for entry in entries {
            match &mut entry.expr {
                EntryExpr::MapEntry(m) => {
                    f(&mut m.key);
                    f(&mut m.value);
                }
                EntryExpr::StructField(s) => f(&mut s.value),
            }
        }
    }
    match &mut e.expr {
        Expr::Call(c) => {
            if let Some(t) = c.target.as_deref_mut() {
                f(t);
            }
            c.args.iter_mut().for_each(f);
        }
        Expr::Comprehension(c) => {
            for x in [&mut c.iter_range, &mut c.accu_init, &mut c.loop_cond, &mut c.loop_step, &mut c.result] {
                f(x);
            }
        }
        Expr::List(l) => l.elements.iter_mut().for_each(f),
        Expr::Map(m) => entries(&mut m.entries, f),
        Expr::Struct(s) => entries(&mut s.entries, f),
        Expr::Select(s) => f(&mut s.operand),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

type Program = Arc<Expression>;

/// The compiled program of an expression (rewritten for the interpreter,
/// [`fast_rewrites`]).
fn program(e: &Program) -> &Compiled {
    e.compiled.get_or_init(|| {
        if e.as_written {
            return compile_text(&e.text).map(Arc::new);
        }
        tree_of(e).map(Arc::new)
    })
}

/// The fast path's tree of an expression: through its template, rewritten
/// for the interpreter ([`fast_rewrites`]).
fn tree_of(e: &Expression) -> Result<cel::IdedExpr, String> {
    e.templates.lock().unwrap_or_else(|p| p.into_inner()).compile_cached(&e.text)
}

/// `tree` rewritten as the fast path runs it ([`fast_rewrites`]: `matches`
/// through the cache of compiled patterns, negations of booleans as
/// conditionals, selection chains from values); the same value or error
/// as the tree as written.
pub fn rewrite_for_interpreter(tree: &mut cel::IdedExpr) {
    fast_rewrites(tree, &mut Vec::new());
}

/// The fast path's rewrites of a tree, in one walk, each giving the value
/// or the error of the tree as written (`tests::rewrites_answer_as_written`,
/// `tests/cel_templates.rs`): `matches` calls through the cache of
/// compiled patterns ([`cache_regex`]), `!X` of a [`boolish`] `X` as a
/// conditional ([`negation_as_condition`]) and selection chains from
/// values ([`from_value`]); `scope` holds the comprehension
/// variables around `e`.
fn fast_rewrites(e: &mut cel::IdedExpr, scope: &mut Vec<String>) {
    use cel::common::ast::Expr;
    if matches!(e.expr, Expr::Select(_)) && from_value(e, scope) {
        return;
    }
    match &mut e.expr {
        Expr::Comprehension(c) => {
            fast_rewrites(&mut c.iter_range, scope);
            fast_rewrites(&mut c.accu_init, scope);
            let depth = scope.len();
            scope.extend([c.accu_var.clone(), c.iter_var.clone()].into_iter().chain(c.iter_var2.clone()));
            for x in [&mut c.loop_cond, &mut c.loop_step, &mut c.result] {
                fast_rewrites(x, scope);
            }
            scope.truncate(depth);
            return;
        }
        _ => each_child_mut(e, &mut |x| fast_rewrites(x, scope)),
    }
    cache_regex(e);
    negation_as_condition(e);
}

/// Whether `e` evaluates to a `bool` or fails, whatever its operands and
/// whatever the context (read off the `cel` crate's interpreter): a literal
/// `bool`, a presence test, the logical and comparison operators (their
/// results are built as `bool`s), `?:` with two such branches, and a
/// comprehension whose result is one, or is its accumulator when the
/// accumulator starts as one and each step is one (`all`, `exists`).
fn boolish(e: &cel::IdedExpr) -> bool {
    use cel::common::ast::{operators as op, Expr, LiteralValue};
    match &e.expr {
        Expr::Literal(LiteralValue::Boolean(_)) => true,
        Expr::Select(s) => s.test,
        Expr::Call(c) if c.target.is_none() => match (c.func_name.as_str(), c.args.len()) {
            (op::LOGICAL_AND | op::LOGICAL_OR | op::EQUALS | op::NOT_EQUALS | op::LESS | op::LESS_EQUALS | op::GREATER | op::GREATER_EQUALS | op::IN, 2) => {
                true
            }
            (op::LOGICAL_NOT | op::NOT_STRICTLY_FALSE, 1) => true,
            (op::CONDITIONAL, 3) => boolish(&c.args[1]) && boolish(&c.args[2]),
            _ => false,
        },
        Expr::Comprehension(c) => {
            boolish(&c.result)
                || (matches!(&c.result.expr, Expr::Ident(i) if *i == c.accu_var)
                    && c.iter_var != c.accu_var
                    && c.iter_var2.as_deref() != Some(c.accu_var.as_str())
                    && boolish(&c.accu_init)
                    && boolish(&c.loop_step))
        }
        _ => false,
    }
}

/// Rewrites `e`, when it is `!X` of a [`boolish`] `X`, as `X ? false :
/// true`: the same value, or the same error (`X`'s), but the `cel` crate
/// builds the error of a non-`bool` operand (its types' names, a vector) at
/// every `!`, before it looks at the operand, and khc's pod rules negate
/// dozens of presence tests per object. `!X` of another `X` is left as
/// written (its error, when `X` is no `bool`, is not the conditional's).
fn negation_as_condition(e: &mut cel::IdedExpr) {
    use cel::common::ast::{operators as op, CallExpr, Expr, LiteralValue};
    let id = e.id;
    if let Expr::Call(c) = &mut e.expr {
        if c.func_name == op::LOGICAL_NOT && c.target.is_none() && c.args.len() == 1 && boolish(&c.args[0]) {
            let operand = c.args.pop().expect("one argument");
            let literal = |b: bool| cel::IdedExpr { id, expr: Expr::Literal(LiteralValue::Boolean(b.into())) };
            e.expr = Expr::Call(CallExpr { func_name: op::CONDITIONAL.to_string(), target: None, args: vec![operand, literal(false), literal(true)] });
        }
    }
}

/// Rewrites the identifier at the root of the field selection chain `e`
/// (`object.spec.template`, `has(c.securityContext.privileged)`) as
/// `true ? ID : ID` when the identifier is always a bound variable — a
/// comprehension's variable in `scope`, `object`, `oldObject`, `request` or
/// a policy variable bound on its own ([`VARIABLE`]) —, so that the `cel`
/// crate selects each field on the value instead of resolving the chain as
/// a qualified name (its segments joined into a new string, each prefix
/// looked up as a variable and the whole as a type: a name `a.b` could be a
/// variable of its own, but khc binds none with a dot). The same value and
/// the same errors: an identifier that may not be bound (a type name, an
/// undeclared one) keeps its chain as written. True when the chain's root is
/// an identifier (nothing else to rewrite in it), false when it is another
/// expression (to be walked into).
fn from_value(e: &mut cel::IdedExpr, scope: &[String]) -> bool {
    use cel::common::ast::{operators as op, CallExpr, Expr, LiteralValue};
    fn chain_root(e: &mut cel::IdedExpr) -> &mut cel::IdedExpr {
        if matches!(e.expr, Expr::Select(_)) {
            let Expr::Select(s) = &mut e.expr else { unreachable!("a selection") };
            return chain_root(&mut s.operand);
        }
        e
    }
    let root = chain_root(e);
    let Expr::Ident(name) = &root.expr else { return false };
    if scope.contains(name) || ["object", "oldObject", "request"].contains(&name.as_str()) || name.starts_with(VARIABLE) {
        let id = root.id;
        let ident = cel::IdedExpr { id, expr: std::mem::replace(&mut root.expr, Expr::Unspecified) };
        let always = cel::IdedExpr { id, expr: Expr::Literal(LiteralValue::Boolean(true.into())) };
        root.expr = Expr::Call(CallExpr { func_name: op::CONDITIONAL.to_string(), target: None, args: vec![always, ident.clone(), ident] });
    }
    true
}

/// The name `X.matches(P)` calls are renamed to: not a CEL identifier, so no
/// expression can call it; [`Judged`]'s context binds it to [`matches_cached`].
const MATCHES_CACHED: &str = "matches (khc: compiled patterns cached)";

/// Renames `e`, when it is a member call `X.matches(P)`, to
/// [`MATCHES_CACHED`] ([`fast_rewrites`] does it to every node): the `cel`
/// crate compiles the pattern at every call (a tenth of `khc eval`'s time:
/// two patterns of `no-latest-tag` per container per policy).
fn cache_regex(e: &mut cel::IdedExpr) {
    if let cel::common::ast::Expr::Call(c) = &mut e.expr {
        if c.func_name == "matches" && c.target.is_some() && c.args.len() == 1 {
            c.func_name = MATCHES_CACHED.to_string();
        }
    }
}

/// `X.matches(P)` as the `cel` crate's standard member overload answers it —
/// the same `regex` engine, the same errors (no overload for other types than
/// two strings; a pattern that does not compile) —, each pattern compiled once
/// per thread.
fn matches_cached<'c, 'a>(ftx: &mut cel::FunctionContext<'c, 'a>) -> Result<cel::common::value::CowVal<'c, 'a>, cel::ExecutionError> {
    use cel::common::types::{CelBool, CelString};
    thread_local! {
        static PATTERNS: std::cell::RefCell<std::collections::HashMap<String, Result<regex::Regex, String>>> = Default::default();
    }
    let (Some(this), [arg]) = (ftx.this.as_ref(), ftx.args.as_slice()) else {
        return Err(cel::ExecutionError::invalid_argument_count(1, ftx.args.len()));
    };
    let (Some(text), Some(re)) = (this.downcast_ref::<CelString>(), arg.downcast_ref::<CelString>()) else {
        let types = [this, arg].iter().map(|v| v.get_type().name().to_owned()).collect();
        return Err(cel::ExecutionError::no_such_member_overload("matches", types));
    };
    let found = PATTERNS.with(|p| {
        let mut p = p.borrow_mut();
        // Patterns come from policy texts: a bound keeps a long-running
        // language server's cache small.
        if p.len() >= 4096 {
            p.clear();
        }
        let compiled = p.entry(re.inner().to_string()).or_insert_with(|| regex::Regex::new(re.inner()).map_err(|e| e.to_string()));
        compiled.as_ref().map(|r| r.is_match(text.inner())).map_err(Clone::clone)
    });
    match found {
        Ok(b) => Ok(cel::common::value::CowVal::owned(CelBool::from(b))),
        Err(err) => Err(cel::ExecutionError::FunctionError { function: "matches".to_string(), message: format!("'{}' not a valid regex:\n{err}", re.inner()) }),
    }
}

/// The CEL environment of the API server's admission policies, as far as khc's
/// expressions use it: the standard library plus the strings extension
/// (`split`, `join`, `substring`…), which Kubernetes enables for every policy.
fn env() -> Arc<cel::Env> {
    static ENV: std::sync::OnceLock<Arc<cel::Env>> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = cel::Env::stdlib();
        // Registering a fresh extension on a fresh environment cannot clash.
        let _ = env.add_extension(cel::extensions::strings);
        Arc::new(env)
    })
    .clone()
}

/// Compiles `text` with the `cel` parser, as the expression is written (the
/// oracle of [`Templates::compile`]).
pub fn compile_text(text: &str) -> Result<cel::IdedExpr, String> {
    env().compile(text).map(|p| p.expression().clone()).map_err(|err| format!("{err}"))
}

/// The character that opens a placeholder literal of a template (CEL text khc
/// emits never holds it; a text that does is not templated).
const MARK: char = '\u{1}';

/// `text` with each plain string literal — quoted with `'` or `"`, on one
/// line, without a backslash — replaced by the placeholder `'\u{1}N'` (N: its
/// position), and the literals' contents in order. `None` when the text holds
/// no such literal or cannot be scanned safely without a full lexer (a
/// triple-quoted, raw or bytes literal, a comment, the placeholder mark, an
/// unterminated quote): it is then parsed as written.
pub fn template_of(text: &str) -> Option<(String, Vec<String>)> {
    if text.contains(MARK) {
        return None;
    }
    let b = text.as_bytes();
    let (mut i, mut last) = (0, 0);
    let mut key = String::with_capacity(text.len());
    let mut literals = Vec::new();
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => return None,
            q @ (b'\'' | b'"') => {
                if b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
                    return None;
                }
                // `r'…'`, `b"…"`: raw and bytes literals are lexed otherwise.
                if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
                    return None;
                }
                let (mut j, mut plain) = (i + 1, true);
                loop {
                    match b.get(j) {
                        None | Some(b'\n') | Some(b'\r') => return None,
                        Some(&c) if c == q => break,
                        Some(b'\\') => {
                            plain = false;
                            j += 2;
                        }
                        Some(_) => j += 1,
                    }
                }
                if plain {
                    key.push_str(&text[last..i]);
                    key.push('\'');
                    key.push(MARK);
                    key.push_str(&literals.len().to_string());
                    key.push('\'');
                    literals.push(text[i + 1..j].to_string());
                    last = j + 1;
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    if literals.is_empty() {
        return None;
    }
    key.push_str(&text[last..]);
    Some((key, literals))
}

/// Replaces each placeholder literal of a template's tree by its literal;
/// counts the replacements of each.
fn substitute(e: &mut cel::IdedExpr, literals: &[String], seen: &mut [usize]) {
    use cel::common::ast::{Expr, LiteralValue};
    if let Expr::Literal(LiteralValue::String(s)) = &mut e.expr {
        let n = s.inner().strip_prefix(MARK).and_then(|n| n.parse::<usize>().ok()).filter(|&n| n < literals.len());
        if let Some(n) = n {
            *s = literals[n].clone().into();
            seen[n] += 1;
        }
        return;
    }
    each_child_mut(e, &mut |x| substitute(x, literals, seen));
}

/// Replaces each placeholder literal of a template's tree by its literal:
/// false when one of them is not found in it (the text is then parsed as
/// written).
fn substitute_all(e: &mut cel::IdedExpr, literals: &[String]) -> bool {
    let mut seen = vec![0; literals.len()];
    substitute(e, literals, &mut seen);
    seen.iter().all(|&n| n > 0)
}

/// A template's trees as the fast path runs them, its literals still
/// placeholders ([`Templates::compile_cached`], [`Templates::compile_dotted`]):
/// rewritten once for every text of the template.
#[derive(Debug)]
struct Processed {
    /// The template's tree, its `matches` calls through the cache of
    /// compiled patterns ([`rewrite_for_interpreter`]).
    cached: cel::IdedExpr,
    /// That tree with each `variables.NAME` read on its own, and the names
    /// ([`read_variables_alone`]); `None` when `variables` appears otherwise.
    dotted: Option<(cel::IdedExpr, Vec<String>)>,
}

/// The parsed trees of expression templates ([`template_of`]): expressions
/// that differ only in their string literals — a tenant's
/// `allowed-registries` prefix, the namespaces of an exception — are parsed
/// once, and each gets a copy of the tree with its own literals (the same
/// tree, node ids included, as parsing it: `tests/cel_templates.rs`).
#[derive(Debug, Default)]
pub struct Templates {
    /// Each template's tree (`None`: it does not parse).
    parsed: std::collections::HashMap<String, Option<Arc<cel::IdedExpr>>>,
    /// Each template's trees as the fast path runs them.
    processed: std::collections::HashMap<String, Option<Arc<Processed>>>,
}

impl Templates {
    /// The tree of `text`: its template's with its literals, or parsed as
    /// written when it has no template, the template does not parse (the
    /// error is then the text's own) or a literal is not found in the tree.
    pub fn compile(&mut self, text: &str) -> Result<cel::IdedExpr, String> {
        if let Some((key, literals)) = template_of(text) {
            if let Some(tree) = self.parsed(&key) {
                let mut e = (*tree).clone();
                if substitute_all(&mut e, &literals) {
                    return Ok(e);
                }
            }
        }
        compile_text(text)
    }

    /// The parsed tree of template `key`.
    fn parsed(&mut self, key: &str) -> Option<Arc<cel::IdedExpr>> {
        if let Some(tree) = self.parsed.get(key) {
            return tree.clone();
        }
        let tree = compile_text(key).ok().map(Arc::new);
        self.parsed.insert(key.to_string(), tree.clone());
        tree
    }

    /// The trees of template `key` as the fast path runs them.
    fn processed(&mut self, key: &str) -> Option<Arc<Processed>> {
        if let Some(p) = self.processed.get(key) {
            return p.clone();
        }
        let p = self.parsed(key).map(|tree| {
            let mut cached = (*tree).clone();
            rewrite_for_interpreter(&mut cached);
            let dotted = read_variables_alone(cached.clone());
            Arc::new(Processed { cached, dotted })
        });
        self.processed.insert(key.to_string(), p.clone());
        p
    }

    /// The fast path's tree of `text`: [`Templates::compile`]'s with its
    /// `matches` calls through the cache of compiled patterns
    /// ([`rewrite_for_interpreter`]), copied from its template's tree rewritten once
    /// (`tests/cel_templates.rs` holds it equal to the text parsed and
    /// rewritten).
    pub fn compile_cached(&mut self, text: &str) -> Result<cel::IdedExpr, String> {
        if let Some((key, literals)) = template_of(text) {
            if let Some(p) = self.processed(&key) {
                let mut tree = p.cached.clone();
                if substitute_all(&mut tree, &literals) {
                    return Ok(tree);
                }
            }
        }
        let mut tree = self.compile(text)?;
        rewrite_for_interpreter(&mut tree);
        Ok(tree)
    }

    /// [`Templates::compile_cached`]'s tree with each `variables.NAME` read on
    /// its own, and the names ([`read_variables_alone`]), copied from its
    /// template's tree rewritten once; `None` when it does not compile or
    /// names `variables` otherwise.
    pub fn compile_dotted(&mut self, text: &str) -> Option<(cel::IdedExpr, Vec<String>)> {
        if let Some((key, literals)) = template_of(text) {
            if let Some((tree, names)) = self.processed(&key).as_ref().and_then(|p| p.dotted.as_ref()) {
                let mut tree = tree.clone();
                if substitute_all(&mut tree, &literals) {
                    return Some((tree, names.clone()));
                }
            }
        }
        read_variables_alone(self.compile_cached(text).ok()?)
    }
}

/// The expressions of the admission policies built with it, one per distinct
/// text, each compiled on first use: policies built one tenant at a time
/// ([`Admission::with_programs`], `khc eval`) share the cluster's expressions and
/// the rules every tenant states alike, so each distinct program is compiled
/// once, and programs that differ only in their string literals are parsed once.
#[derive(Default)]
pub struct Programs {
    /// Each expression, and whether it was asked for more than once.
    by_text: std::collections::HashMap<String, (Program, bool)>,
    /// Each rule's pod validation by minor and rule ([`Programs::rule_check`]).
    by_rule: std::collections::HashMap<u32, std::collections::HashMap<khc_rules::RuleKind, RuleEntry>>,
    /// The checks [`Programs::rule_checks`] gave last, by the rule's
    /// position: the next tenant of a fleet states the same rules at the same
    /// origins, found again without hashing.
    recent: Vec<RecentCheck>,
    /// The variables and match conditions of [`pod_policy`], by the
    /// addresses and lengths of their static lists.
    pod_parts: std::collections::HashMap<[usize; 4], PodParts>,
    templates: Arc<std::sync::Mutex<Templates>>,
    as_written: bool,
}

/// A rule's pod validation as [`Programs::rule_check`] keeps it.
struct RuleEntry {
    /// Its program and message without the tag; `None` for a rule with no
    /// pod validation.
    program: Option<RuleProgram>,
    /// Whether it was asked for more than once.
    shared: bool,
    /// Its check tagged with each origin it was stated at, and whether that
    /// one was asked for more than once.
    tagged: std::collections::HashMap<Origin, (Arc<Check>, bool)>,
}

/// A pod policy's variables and match conditions ([`pod_policy`]).
type PodParts = (Vec<(String, Program)>, Vec<Program>);

/// A rule, its minor, its origin and its check ([`Programs::recent`]).
type RecentCheck = (khc_rules::RuleKind, u32, Origin, Option<Arc<Check>>);

impl Programs {
    /// Programs parsed as written, each on its own, and run by the `cel` crate
    /// alone (its `matches`): the oracle of the fast path
    /// (`tests/cel_templates.rs` holds every policy's answers equal both ways).
    pub fn as_written() -> Programs {
        Programs { as_written: true, ..Programs::default() }
    }

    /// Whether these are the oracle's programs ([`Programs::as_written`]).
    pub fn is_as_written(&self) -> bool {
        self.as_written
    }

    /// Forgets the expressions and checks that no policy holds any more and
    /// that were asked for once only (one tenant's own: its
    /// `allowed-registries`, a rule stated in its own file), so that policies
    /// built one tenant at a time and dropped (`khc eval`'s tenant views) do
    /// not leave every tenant's programs behind; the shared ones, and the
    /// parsed templates, are kept.
    pub fn forget_unshared(&mut self) {
        for rules in self.by_rule.values_mut() {
            for entry in rules.values_mut() {
                entry.tagged.retain(|_, (c, shared)| *shared || Arc::strong_count(c) > 1);
            }
            rules.retain(|_, entry| entry.shared || !entry.tagged.is_empty());
        }
        self.recent.clear();
        self.by_text.retain(|_, (p, shared)| *shared || Arc::strong_count(p) > 1);
    }

    /// The check of `expression` with `message` (its rule and source read
    /// from the message's tag, as [`AdmissionBuilder::read`] reads them).
    pub fn check(&mut self, expression: &str, message: String) -> Arc<Check> {
        Arc::new(check_of(compile(self, expression), message))
    }

    /// The check of rule `kind`'s pod validation on Kubernetes `1.minor`
    /// (`khc_rules::RuleKind::pod_validation`), tagged as stated at `origin`:
    /// the validation a tenant's policy emits for the rule, found by the rule
    /// and its origin (each rule's CEL text built and looked up once, and its
    /// tagged check made once per origin and shared, not once per tenant);
    /// `None` when the rule has no pod validation.
    pub fn rule_check(&mut self, kind: &khc_rules::RuleKind, minor: u32, origin: &Origin) -> Option<Arc<Check>> {
        match self.by_rule.get_mut(&minor).and_then(|rules| rules.get_mut(kind)) {
            Some(entry) => entry.shared = true,
            None => {
                // Built here, not through the rules' own per-thread cache: this
                // one keeps it (a tenant's own rule is asked for once).
                let program = kind.pod_validation_uncached(minor).map(|(expression, message)| (compile(self, &expression), message));
                let entry = RuleEntry { program, shared: false, tagged: std::collections::HashMap::new() };
                self.by_rule.entry(minor).or_default().insert(kind.clone(), entry);
            }
        }
        let entry = self.by_rule.get_mut(&minor)?.get_mut(kind)?;
        let (program, message) = entry.program.as_ref()?;
        if let Some((check, shared)) = entry.tagged.get_mut(origin) {
            *shared = true;
            return Some(check.clone());
        }
        let keyword = kind.keyword();
        let source = origin.to_string();
        // `{message} [khc rule {keyword} at {origin}]`, written without the
        // formatting machinery.
        let mut tagged = String::with_capacity(message.len() + keyword.len() + source.len() + 16);
        for part in [message.as_str(), " [khc rule ", keyword, " at ", &source, "]"] {
            tagged.push_str(part);
        }
        // The tag read back gives the keyword and `origin` (a keyword has no
        // space), unless `origin` holds a `]`.
        let check = if source.contains(']') {
            check_of(program.clone(), tagged)
        } else {
            Check { rule: keyword.to_string(), rule_source: source, expression: program.text.clone(), message: tagged, program: program.clone() }
        };
        let check = Arc::new(check);
        entry.tagged.insert(origin.clone(), (check.clone(), false));
        Some(check)
    }

    /// [`Programs::rule_check`] of each rule `(kind, origin)` in order, on
    /// Kubernetes `1.minor`: the checks of the rules that have a pod
    /// validation. A rule stated at the same position, with the same
    /// arguments and origin, as in the previous call (the next tenant of a
    /// fleet that states `use restricted`) gets the same check without a
    /// lookup.
    pub fn rule_checks<'r>(&mut self, rules: impl IntoIterator<Item = (&'r khc_rules::RuleKind, &'r Origin)>, minor: u32) -> Vec<Arc<Check>> {
        let mut out = Vec::new();
        for (i, (kind, origin)) in rules.into_iter().enumerate() {
            let check = match self.recent.get(i) {
                Some((k, m, o, check)) if *m == minor && k == kind && o == origin => check.clone(),
                _ => {
                    let check = self.rule_check(kind, minor, origin);
                    let recent = (kind.clone(), minor, origin.clone(), check.clone());
                    match self.recent.get_mut(i) {
                        Some(r) => *r = recent,
                        None => self.recent.push(recent),
                    }
                    check
                }
            };
            out.extend(check);
        }
        out
    }
}

/// A rule's pod validation program and its message without the tag.
type RuleProgram = (Program, String);

/// One [`Expression`] per distinct text (compiled on first use); the key is
/// the expression's own text (one copy of it), and a text already there is
/// looked up without copying it.
fn compile(cache: &mut Programs, expr: &str) -> Program {
    if let Some((p, shared)) = cache.by_text.get_mut(expr) {
        *shared = true;
        return p.clone();
    }
    let p = Arc::new(Expression {
        text: expr.into(),
        compiled: std::sync::OnceLock::new(),
        templates: cache.templates.clone(),
        as_written: cache.as_written,
        dotted: std::sync::OnceLock::new(),
    });
    cache.by_text.insert(expr.to_string(), (p.clone(), false));
    p
}

/// The `(group, resource)` of a kind that carries a pod template (or is a pod or
/// Service or PersistentVolumeClaim), as admission matches it
/// (`khc_rules::facts::judged_resource`); the group is the manifest's.
pub fn resource_of(api_version: &str, kind: &str) -> Option<(String, String)> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g).to_string();
    let (_, plural) = khc_rules::facts::judged_resource(kind)?;
    Some((group, plural.to_string()))
}

/// A validation message without its tag: the text before the last
/// ` [khc rule `, or the whole message (`rsplit_once`'s answer, found from
/// the `[`s at the end without building a string searcher for each finding:
/// `tests::untagged_is_rsplit_once`).
fn untagged(message: &str) -> &str {
    const TAG: &str = " [khc rule ";
    let b = message.as_bytes();
    let mut end = b.len();
    while let Some(i) = b[..end].iter().rposition(|&c| c == b'[') {
        if i >= 1 && message[i - 1..].starts_with(TAG) {
            return &message[..i - 1];
        }
        end = i;
    }
    message
}

/// The khc rule and its `FILE:LINE` named by a validation message's tag
/// (`… [khc rule NAME at FILE:LINE]`), also inside the API server's denial
/// (`ValidatingAdmissionPolicy '…' with binding '…' denied request: MESSAGE`).
/// `None` when the message carries no tag; the source is `?` when the tag has no
/// ` at FILE:LINE`.
pub fn rule_of_message(message: &str) -> Option<(&str, &str)> {
    let (_, tag) = message.rsplit_once("[khc rule ")?;
    let tag = tag.split_once(']').map_or(tag, |(t, _)| t);
    Some(tag.split_once(" at ").unwrap_or((tag, "?")))
}

/// A ValidatingAdmissionPolicy or a binding (with the name of the policy it
/// binds), read but not yet given to an [`AdmissionBuilder`]
/// ([`AdmissionBuilder::add_part`]).
#[derive(Clone)]
pub enum Part {
    /// A policy, without its bindings.
    Policy(Policy),
    /// A binding and the policy name it names.
    Binding(String, PolicyBinding),
}

/// A policy's name, source, failure policy and matched resources.
pub type Head = (String, String, bool, Vec<(String, String)>);

/// A policy, without bindings, from its parts, however read: variables
/// `(name, expression)`, checks, match conditions' expressions (compiled
/// through `cache`).
fn policy_of<'e>(
    cache: &mut Programs,
    (name, source, fail_closed, resources): Head,
    variables: impl Iterator<Item = (&'e str, &'e str)>,
    checks: Vec<Arc<Check>>,
    conditions: impl Iterator<Item = &'e str>,
) -> Policy {
    let variables = variables.map(|(name, expression)| (name.to_string(), compile(cache, expression))).collect();
    let match_conditions = conditions.map(|c| compile(cache, c)).collect();
    Policy { name, source, fail_closed, resources, variables, match_conditions, checks, bindings: Vec::new(), dotted: std::sync::OnceLock::new() }
}

/// The checks of validations `(expression, message)` (their rule and source
/// read from the message's tag).
fn checks_of<'e>(cache: &mut Programs, validations: impl Iterator<Item = (&'e str, &'e str)>) -> Vec<Arc<Check>> {
    validations.map(|(expression, message)| cache.check(expression, message.to_string())).collect()
}

/// A validation's check: its rule and source from the message's tag.
fn check_of(program: Program, message: String) -> Check {
    let (rule, rule_source) = rule_of_message(&message).unwrap_or(("", "?"));
    Check { rule: rule.into(), rule_source: rule_source.into(), expression: program.text.clone(), message, program }
}

/// A pod policy khc emits, from its parts (`tenant_view`'s reading of a
/// tenant's policy from the model): name, source, failure policy and
/// matched resources, its variables `(name, expression)`, its checks
/// ([`Programs::rule_check`], [`Programs::check`]) and its match
/// conditions' expressions, compiled through `cache` — the variables and
/// conditions once for every policy that reads the same (static) lists,
/// found by their addresses, not by hashing their texts.
pub fn pod_policy(
    cache: &mut Programs,
    head: Head,
    variables: &'static [(&'static str, String)],
    checks: Vec<Arc<Check>>,
    conditions: &'static [String],
) -> Policy {
    // Static: never freed nor changed, so the addresses name the lists.
    let key = [variables.as_ptr() as usize, variables.len(), conditions.as_ptr() as usize, conditions.len()];
    if !cache.pod_parts.contains_key(&key) {
        let empty = policy_of(
            cache,
            Head::default(),
            variables.iter().map(|(name, expression)| (*name, expression.as_str())),
            Vec::new(),
            conditions.iter().map(String::as_str),
        );
        cache.pod_parts.insert(key, (empty.variables, empty.match_conditions));
    }
    let (variables, match_conditions) = cache.pod_parts[&key].clone();
    let (name, source, fail_closed, resources) = head;
    Policy { name, source, fail_closed, resources, variables, match_conditions, checks, bindings: Vec::new(), dotted: std::sync::OnceLock::new() }
}

impl Admission {
    /// The policies and bindings among `objects` (expressions compiled once).
    pub fn new(objects: &[Object]) -> Admission {
        Admission::with_programs(&objects.iter().collect::<Vec<_>>(), &mut Programs::default())
    }

    /// Like [`Admission::new`], with the expressions of `cache` (and the new
    /// ones added to it): an expression another admission built with the same
    /// cache compiled is not compiled again.
    pub fn with_programs(objects: &[&Object], cache: &mut Programs) -> Admission {
        let mut b = AdmissionBuilder::new(cache);
        for o in objects {
            b.add(o);
        }
        b.finish()
    }
}

/// Builds an [`Admission`] from objects added one by one, in order (the query
/// commands convert and add each tenant's policies in turn, so the converted
/// policies of the whole fleet are never held at once as JSON).
pub struct AdmissionBuilder<'c> {
    cache: &'c mut Programs,
    policies: Vec<Policy>,
    /// Each binding with the policy it names, resolved at the end (a binding may
    /// come before its policy).
    bindings: Vec<(String, PolicyBinding)>,
}

impl<'c> AdmissionBuilder<'c> {
    /// No policy yet; expressions shared through `cache`.
    pub fn new(cache: &'c mut Programs) -> AdmissionBuilder<'c> {
        AdmissionBuilder { cache, policies: Vec::new(), bindings: Vec::new() }
    }

    /// Adds a ValidatingAdmissionPolicy or a binding (other kinds are ignored).
    pub fn add(&mut self, o: &Object) {
        if let Some(part) = self.read(o) {
            self.add_part(part);
        }
    }

    /// A ValidatingAdmissionPolicy or a binding read from its JSON form
    /// (`None` for other kinds, and a binding that names no policy), its
    /// expressions through this builder's programs.
    pub fn read(&mut self, o: &Object) -> Option<Part> {
        let spec = &o.value["spec"];
        let strs = |v: &Value| v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect::<Vec<_>>();
        match o.kind() {
            "ValidatingAdmissionPolicy" => {
                let mut resources = Vec::new();
                for r in spec["matchConstraints"]["resourceRules"].as_array().into_iter().flatten() {
                    for g in strs(&r["apiGroups"]) {
                        resources.extend(strs(&r["resources"]).into_iter().map(|res| (g.clone(), res)));
                    }
                }
                fn text<'v>(v: &'v Value, key: &str) -> &'v str {
                    v[key].as_str().unwrap_or("")
                }
                let variables = spec["variables"].as_array().into_iter().flatten().map(|v| (text(v, "name"), text(v, "expression")));
                let validations = spec["validations"].as_array().into_iter().flatten().map(|v| (text(v, "expression"), text(v, "message")));
                let conditions = spec["matchConditions"].as_array().into_iter().flatten().map(|c| text(c, "expression"));
                let head = (o.name().to_string(), source_of(&o.value), spec["failurePolicy"].as_str() != Some("Ignore"), resources);
                let checks = checks_of(self.cache, validations);
                Some(Part::Policy(policy_of(self.cache, head, variables, checks, conditions)))
            }
            "ValidatingAdmissionPolicyBinding" => {
                let policy = spec["policyName"].as_str()?;
                let binding = PolicyBinding {
                    name: o.name().into(),
                    namespaces: Selector::parse(&spec["matchResources"]["namespaceSelector"]),
                    actions: strs(&spec["validationActions"]),
                    source: source_of(&o.value),
                };
                Some(Part::Binding(policy.to_string(), binding))
            }
            _ => None,
        }
    }

    /// [`AdmissionBuilder::read`] of the typed object khc builds
    /// (`khc_emit::objects::Body::typed`), without its JSON form: the same
    /// policy or binding (`tests/typed_model.rs` holds the tenant views built
    /// both ways equal).
    pub fn read_typed(&mut self, typed: &dyn std::any::Any) -> Option<Part> {
        use k8s_openapi::api::admissionregistration::v1::{ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let name = |m: &ObjectMeta| m.name.clone().unwrap_or_default();
        let source = |m: &ObjectMeta| m.annotations.as_ref().and_then(|a| a.get(crate::SOURCE_ANNOTATION)).map_or_else(|| "?".to_string(), Clone::clone);
        if let Some(p) = typed.downcast_ref::<ValidatingAdmissionPolicy>() {
            let spec = p.spec.as_ref();
            let mut resources = Vec::new();
            for r in spec.and_then(|s| s.match_constraints.as_ref()).and_then(|m| m.resource_rules.as_ref()).into_iter().flatten() {
                for g in r.api_groups.iter().flatten() {
                    resources.extend(r.resources.iter().flatten().map(|res| (g.clone(), res.clone())));
                }
            }
            let variables = spec.and_then(|s| s.variables.as_ref()).into_iter().flatten().map(|v| (v.name.as_str(), v.expression.as_str()));
            let validations =
                spec.and_then(|s| s.validations.as_ref()).into_iter().flatten().map(|v| (v.expression.as_str(), v.message.as_deref().unwrap_or("")));
            let conditions = spec.and_then(|s| s.match_conditions.as_ref()).into_iter().flatten().map(|c| c.expression.as_str());
            let fail_closed = spec.and_then(|s| s.failure_policy.as_deref()) != Some("Ignore");
            let head = (name(&p.metadata), source(&p.metadata), fail_closed, resources);
            let checks = checks_of(self.cache, validations);
            return Some(Part::Policy(policy_of(self.cache, head, variables, checks, conditions)));
        }
        let b = typed.downcast_ref::<ValidatingAdmissionPolicyBinding>()?;
        let spec = b.spec.as_ref()?;
        let policy = spec.policy_name.clone()?;
        let selector = spec.match_resources.as_ref().and_then(|m| m.namespace_selector.as_ref());
        let binding = PolicyBinding {
            name: name(&b.metadata),
            namespaces: selector.map_or_else(Selector::default, Selector::of_label_selector),
            actions: spec.validation_actions.clone().unwrap_or_default(),
            source: source(&b.metadata),
        };
        Some(Part::Binding(policy, binding))
    }

    /// The programs the policies are compiled through.
    pub fn programs(&mut self) -> &mut Programs {
        self.cache
    }

    /// Adds a policy or binding read before ([`AdmissionBuilder::read`]; a
    /// copy of one read once serves every tenant view).
    pub fn add_part(&mut self, part: Part) {
        match part {
            Part::Policy(p) => self.policies.push(p),
            Part::Binding(policy, b) => self.bindings.push((policy, b)),
        }
    }

    /// The policies, each binding given to the first policy of the name it names
    /// (as a scan would find it), in the bindings' order; a binding of no policy
    /// is dropped.
    pub fn finish(self) -> Admission {
        let mut policies = self.policies;
        let mut by_name: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (i, p) in policies.iter().enumerate() {
            by_name.entry(p.name.clone()).or_insert(i);
        }
        for (name, b) in self.bindings {
            if let Some(&i) = by_name.get(&name) {
                policies[i].bindings.push(b);
            }
        }
        Admission { policies, index: std::sync::OnceLock::new() }
    }
}

impl Admission {
    /// Every policy and binding as text, in order: name, source, failure
    /// policy, resources, variables, match conditions, validations (rule,
    /// source, message, expression) and bindings (name, selector, actions,
    /// source) — what judging reads, for tests that build the same policies
    /// two ways.
    pub fn outline(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for p in &self.policies {
            let _ = writeln!(out, "policy {} at {} fail-closed {} resources {:?}", p.name, p.source, p.fail_closed, p.resources);
            for (name, e) in &p.variables {
                let _ = writeln!(out, "  variable {name} = {}", e.text);
            }
            for e in &p.match_conditions {
                let _ = writeln!(out, "  match {}", e.text);
            }
            for c in &p.checks {
                let _ = writeln!(out, "  check {} at {}: {} = {}", c.rule, c.rule_source, c.message, c.expression);
            }
            for b in &p.bindings {
                let _ = writeln!(out, "  binding {} at {}: {:?} {:?}", b.name, b.source, b.namespaces, b.actions);
            }
        }
        out
    }
}

impl Admission {
    /// The `(policy, binding)` pairs that apply to an object of `(group,
    /// resource)` in a namespace with `ns_labels`.
    /// In policy order, then binding order.
    pub fn applicable<'a>(&'a self, group: &str, resource: &str, ns_labels: &Labels) -> Vec<(&'a Policy, &'a PolicyBinding)> {
        let index = self.index.get_or_init(|| {
            let mut index = BindingIndex::default();
            for (i, p) in self.policies.iter().enumerate() {
                for (j, b) in p.bindings.iter().enumerate() {
                    // A required pair: the first `matchLabels` entry, else each
                    // value of the first `In` expression (khc binds a tenant's
                    // policies to `kubernetes.io/metadata.name In (its namespaces)`).
                    let required: Vec<(&String, &String)> = match b.namespaces.labels.iter().next() {
                        Some(kv) => vec![kv],
                        None => b
                            .namespaces
                            .expressions
                            .iter()
                            .find(|(_, op, _)| op == "In")
                            .map(|(k, _, vs)| vs.iter().map(|v| (k, v)).collect())
                            .unwrap_or_default(),
                    };
                    if required.is_empty() && !b.namespaces.expressions.iter().any(|(_, op, _)| op == "In") {
                        index.unindexed.push((i, j));
                    }
                    for (k, v) in required {
                        index.by_label.entry(k.clone()).or_default().entry(v.clone()).or_default().push((i, j));
                    }
                }
            }
            index
        });
        let mut candidates = index.unindexed.clone();
        for (k, v) in ns_labels {
            if let Some(found) = index.by_label.get(k).and_then(|by_value| by_value.get(v)) {
                candidates.extend(found);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut out = Vec::new();
        for (i, j) in candidates {
            let (p, b) = (&self.policies[i], &self.policies[i].bindings[j]);
            if p.resources.iter().any(|(g, r)| (g == "*" || g == group) && (r == "*" || r == resource)) && b.namespaces.matches(ns_labels) {
                out.push((p, b));
            }
        }
        out
    }
}

/// The `variables` map as CEL sees it.
fn variables_value(variables: &std::collections::HashMap<cel::objects::Key, cel::Value>) -> cel::Value {
    cel::Value::Map(cel::objects::Map { map: Arc::new(variables.clone()) })
}

/// A variable's value as the API server holds it: converted to JSON and back
/// to CEL, or `v` itself when that gives `v` again ([`json_stable`]); `None`
/// when it has no JSON form.
fn as_json_gives(v: cel::Value) -> Option<cel::Value> {
    if json_stable(&v) {
        Some(v)
    } else {
        v.json().ok().and_then(|v| cel::to_value(v).ok())
    }
}

/// Whether converting `v` to JSON and back to CEL (what a variable's value
/// goes through, as the API server's variables hold JSON) gives `v` again:
/// `null`, booleans, strings, negative `int`s, `uint`s, finite `double`s, and
/// lists and string-keyed maps of those — every value read out of an object
/// converted from JSON (a non-negative JSON integer converts to a `uint`). A
/// computed non-negative `int` (it comes back a `uint`), a non-finite
/// `double` (`null`), bytes, timestamps, durations and maps with other keys
/// are not.
pub fn json_stable(v: &cel::Value) -> bool {
    match v {
        cel::Value::Null | cel::Value::Bool(_) | cel::Value::String(_) | cel::Value::UInt(_) => true,
        cel::Value::Int(i) => *i < 0,
        cel::Value::Float(f) => f.is_finite(),
        cel::Value::List(items) => items.iter().all(json_stable),
        cel::Value::Map(m) => m.map.iter().all(|(k, v)| matches!(k, cel::objects::Key::String(_)) && json_stable(v)),
        _ => false,
    }
}

/// A variable's value (its program's result, [`as_json_gives`]) as the
/// interpreter binds it: the result itself when [`json_stable_val`] (not
/// converted to a `cel::Value` and back), else through `cel::Value` as
/// before; `None` when it fails to evaluate or has no JSON form.
fn bound_value<'v>(tree: &cel::IdedExpr, ctx: &cel::Context<'_, 'v>) -> Option<Box<dyn cel::common::value::Val + 'v>> {
    let v = cel::Value::resolve_val(tree, ctx).ok()?;
    if json_stable_val(v.as_ref()) {
        return Some(v.into_owned());
    }
    let v: cel::Value = v.as_ref().try_into().ok()?;
    as_json_gives(v)?.try_into().ok()
}

/// [`json_stable`] of a value as the interpreter holds it (the crate's
/// null, bool, string, int, uint, double, list and map types; any other
/// representation answers false, and goes through `cel::Value`):
/// `tests::json_stable_as_the_interpreter_holds_it`.
pub fn json_stable_val(v: &dyn cel::common::value::Val) -> bool {
    use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt};
    if v.downcast_ref::<CelNull>().is_some()
        || v.downcast_ref::<CelBool>().is_some()
        || v.downcast_ref::<CelString>().is_some()
        || v.downcast_ref::<CelUInt>().is_some()
    {
        return true;
    }
    if let Some(i) = v.downcast_ref::<CelInt>() {
        return *i.inner() < 0;
    }
    if let Some(f) = v.downcast_ref::<CelDouble>() {
        return f.inner().is_finite();
    }
    if let Some(l) = v.downcast_ref::<CelList>() {
        return l.inner().iter().all(|x| json_stable_val(x.as_ref()));
    }
    if let Some(m) = v.downcast_ref::<CelMap>() {
        return m.inner().iter().all(|(k, x)| matches!(k, CelMapKey::String(_)) && json_stable_val(x.as_ref()));
    }
    false
}

/// `v` as the `cel` crate's interpreter holds a bound variable — what
/// `cel::Context::add_variable_from_value` makes of `cel::to_value`'s value,
/// value for value and type for type (`tests::json_binds_as_the_crate_binds`)
/// —, built directly from the JSON in one pass and borrowing its strings
/// (keys and values) instead of copying them: the crate's cheapest form of a
/// bound value (a borrowed string is copied as a reference, when the
/// interpreter copies a container into a comprehension's variable or a
/// policy variable's value).
fn val_borrowing<'v>(v: &'v Value) -> Box<dyn cel::common::value::Val + 'v> {
    use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt};
    match v {
        Value::Null => Box::new(CelNull),
        Value::Bool(b) => Box::new(CelBool::from(*b)),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Box::new(CelUInt::from(u)),
            (None, Some(i)) => Box::new(CelInt::from(i)),
            (None, None) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(s) => Box::new(CelString::from(s.as_str())),
        Value::Array(items) => Box::new(CelList::from(items.iter().map(val_borrowing).collect::<Vec<_>>())),
        Value::Object(map) => {
            let map: std::collections::HashMap<CelMapKey<'v>, Box<dyn cel::common::value::Val + 'v>> =
                map.iter().map(|(k, v)| (CelMapKey::from(k.as_str()), val_borrowing(v))).collect();
            Box::new(CelMap::from(map))
        }
    }
}

/// The request of a CREATE of `object` by a user who is neither the applier
/// nor a controller, as CEL sees it ([`val_borrowing`] of
/// [`create_request_json`], built without the JSON: `tests::create_request_is_its_json`).
fn create_request(object: &Value) -> Box<dyn cel::common::value::Val + '_> {
    use cel::common::types::{CelList, CelMap, CelMapKey, CelString};
    type Boxed<'v> = Box<dyn cel::common::value::Val + 'v>;
    fn text(t: &str) -> Boxed<'_> {
        Box::new(CelString::from(t))
    }
    fn map<'v>(entries: Vec<(&'v str, Boxed<'v>)>) -> Boxed<'v> {
        Box::new(CelMap::from(entries.into_iter().map(|(k, v)| (CelMapKey::from(k), v)).collect::<std::collections::HashMap<_, _>>()))
    }
    let mut entries = vec![
        ("operation", text("CREATE")),
        ("kind", map(vec![("kind", text(object["kind"].as_str().unwrap_or("")))])),
        ("userInfo", map(vec![("username", text("khc-eval")), ("groups", Box::new(CelList::from(vec![text("system:authenticated")])))])),
    ];
    for key in ["namespace", "name"] {
        if let Some(v) = object["metadata"][key].as_str() {
            entries.push((key, text(v)));
        }
    }
    map(entries)
}

/// The JSON form of [`create_request`] (its oracle).
#[cfg(test)]
pub(crate) fn create_request_json(object: &Value) -> Value {
    let mut request = serde_json::json!({
        "operation": "CREATE",
        "kind": { "kind": object["kind"].as_str().unwrap_or("") },
        "userInfo": { "username": "khc-eval", "groups": ["system:authenticated"] },
    });
    for key in ["namespace", "name"] {
        if let Some(v) = object["metadata"][key].as_str() {
            request[key] = Value::from(v);
        }
    }
    request
}

/// An object (and its request) converted to CEL once, for every policy that
/// judges it ([`Policy::evaluate_judged`]: `khc eval` asks the cluster's
/// policy and the tenant's of one object).
pub struct Judged<'v> {
    /// The context, its values borrowing the object's strings for `'v`.
    ctx: cel::Context<'v, 'v>,
    /// The variables bound in `ctx` (their programs, in order, and whether
    /// each on its own, [`Policy::bind_each`]), when a policy bound them
    /// without a match condition.
    bound: Option<(bool, Vec<Program>)>,
    /// The result of each validation program evaluated with `bound`, by the
    /// program's address (the program held, so the address stays its): CEL is
    /// pure, so a rule the cluster's policy and the tenant's both state
    /// (`no-privileged` in `host-isolation` and `restricted`) is evaluated once.
    results: std::collections::HashMap<usize, (Program, Result<cel::Value, String>), std::hash::BuildHasherDefault<AddressHasher>>,
}

/// Hashes a program's address ([`Judged`]'s results) as it is: addresses
/// are distinct, and SipHash cost more than the lookup.
#[derive(Default)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).rotate_left(5);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Allocations are aligned: the low bits carry little; hashbrown
        // takes the top seven bits for its tags, the low ones for the slot.
        self.0 = (n as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl<'v> Judged<'v> {
    /// A CREATE of `object` by a user who is neither the applier nor a
    /// controller (see [`Policy::evaluate`]).
    pub fn create(object: &'v Value) -> Judged<'v> {
        Judged::with_request(create_request(object), object, &Value::Null)
    }

    /// The request as CEL sees it, with `object` and `old_object` (see
    /// [`Policy::evaluate_request`]).
    pub fn new(request: &'v Value, object: &'v Value, old_object: &'v Value) -> Judged<'v> {
        Judged::with_request(val_borrowing(request), object, old_object)
    }

    /// [`Judged::new`] of a request already converted.
    fn with_request(request: Box<dyn cel::common::value::Val + 'v>, object: &'v Value, old_object: &'v Value) -> Judged<'v> {
        let mut ctx = cel::Context::with_env(env());
        // The name is no overload of the environment's: binding it cannot fail.
        let _ = ctx.add_function(MATCHES_CACHED, Box::new(matches_cached) as ContextFn);
        // Every JSON value converts (as `cel::to_value` converts it, bound
        // as `add_variable_from_value` binds it): no conversion error.
        ctx.add_variable_as_val("object", val_borrowing(object));
        ctx.add_variable_as_val("oldObject", val_borrowing(old_object));
        ctx.add_variable_as_val("request", request);
        Judged { ctx, bound: None, results: std::collections::HashMap::with_capacity_and_hasher(64, Default::default()) }
    }
}

impl Policy {
    /// Evaluates every validation against `object`, as a CREATE of it by a user
    /// who is neither the applier nor a controller (match conditions, which
    /// exempt those or skip unchanged UPDATEs, are not evaluated): the failing ones.
    pub fn evaluate(&self, object: &Value, actions: &[String]) -> Vec<Violation> {
        self.evaluate_judged(&mut Judged::create(object), actions)
    }

    /// [`Policy::evaluate`] of an object converted once ([`Judged::create`]).
    pub fn evaluate_judged(&self, judged: &mut Judged<'_>, actions: &[String]) -> Vec<Violation> {
        self.judge(judged, actions, false).unwrap_or_default()
    }

    /// Judges a request as the API server does: `None` when a match condition
    /// is false (the policy does not apply), else the failing validations.
    /// `request` is the AdmissionRequest as CEL sees it (`operation`,
    /// `namespace` and `name` only when the API server sets them, `userInfo`,
    /// `resource`, `subResource`); `object` and `old_object` are `null` where
    /// the operation has none (DELETE, CREATE).
    pub fn evaluate_request(&self, request: &Value, object: &Value, old_object: &Value, actions: &[String]) -> Option<Vec<Violation>> {
        self.judge(&mut Judged::new(request, object, old_object), actions, true)
    }

    fn judge(&self, judged: &mut Judged<'_>, actions: &[String], conditions: bool) -> Option<Vec<Violation>> {
        let Judged { ctx, bound, results } = judged;
        if conditions {
            for c in &self.match_conditions {
                match program(c).as_ref().map(|p| cel::Value::resolve(p, ctx)) {
                    Ok(Ok(cel::Value::Bool(true))) => {}
                    Ok(Ok(cel::Value::Bool(false))) => return None,
                    // An error in a match condition rejects with failurePolicy Fail.
                    Ok(Ok(other)) => return Some(vec![self.violation_error("match-condition", &format!("match condition gave {other:?}"), actions)]),
                    Ok(Err(e)) => return Some(vec![self.violation_error("match-condition", &format!("{e}"), actions)]),
                    Err(e) => return Some(vec![self.violation_error("match-condition", e, actions)]),
                }
            }
        }
        // Each variable's value as JSON would give it back (what the API
        // server's variables hold), converted once. The same variables (the
        // same programs, in order: every khc pod policy's), bound the same way,
        // for the previous policy are bound still, with the results of its
        // validations; otherwise they are evaluated again. A match condition
        // is evaluated without the previous variables: bind them again (as
        // before it) after one.
        let eligible = self.dotted();
        let same = !conditions
            && bound.as_ref().is_some_and(|(mode, b)| {
                *mode == eligible && b.len() == self.variables.len() && b.iter().zip(&self.variables).all(|(a, (_, p))| Arc::ptr_eq(a, p))
            });
        let each = if same {
            eligible
        } else {
            results.clear();
            // Each variable bound on its own, converted once, when the
            // programs allow it and every variable evaluates; else the
            // `variables` map, as the programs are written.
            let each = eligible && self.bind_each(ctx);
            if !each {
                // The map bound is built up in place (its keys made once).
                let mut variables: std::collections::HashMap<cel::objects::Key, cel::Value> = std::collections::HashMap::with_capacity(self.variables.len());
                ctx.add_variable_from_value("variables", variables_value(&variables));
                for (name, program) in &self.variables {
                    // A variable that fails to evaluate only matters when a validation uses
                    // it; leaving it out makes that validation fail with the error.
                    let Ok(program) = self::program(program) else { continue };
                    if let Some(v) = cel::Value::resolve(program, ctx).ok().and_then(as_json_gives) {
                        variables.insert(cel::objects::Key::String(Arc::new(name.clone())), v);
                        ctx.add_variable_from_value("variables", variables_value(&variables));
                    }
                }
            }
            *bound = (!conditions).then(|| (each, self.variables.iter().map(|(_, p)| p.clone()).collect()));
            each
        };
        let mut out = Vec::new();
        for c in &self.checks {
            let key = Arc::as_ptr(&c.program) as usize;
            let result = match results.get(&key) {
                Some((_, r)) => r.clone(),
                None => {
                    let compiled = match dotted(&c.program) {
                        Some(d) if each => Ok(&d.tree),
                        _ => program(&c.program).as_ref(),
                    };
                    let r = match compiled {
                        Ok(p) => cel::Value::resolve(p, ctx).map_err(|e| format!("{e}")),
                        Err(e) => Err(format!("does not compile: {e}")),
                    };
                    results.insert(key, (c.program.clone(), r.clone()));
                    r
                }
            };
            let (failed, error) = match result {
                Ok(cel::Value::Bool(true)) => (false, None),
                Ok(cel::Value::Bool(false)) => (true, None),
                Ok(other) => (self.fail_closed, Some(format!("expression gave {other:?}, not a bool"))),
                Err(e) => (self.fail_closed, Some(e)),
            };
            if failed {
                out.push(Violation {
                    policy: self.name.clone(),
                    rule: c.rule.clone(),
                    rule_source: c.rule_source.clone(),
                    message: untagged(&c.message).to_string(),
                    actions: actions.to_vec(),
                    error,
                });
            }
        }
        Some(out)
    }

    /// Whether every variable reads only the variables before it, and every
    /// validation only the policy's variables, all as `variables.NAME`
    /// ([`dotted`]): each variable can then be bound on its own.
    fn dotted(&self) -> bool {
        *self.dotted.get_or_init(|| {
            let mut known: Vec<&str> = Vec::new();
            for (name, p) in &self.variables {
                let Some(d) = dotted(p) else { return false };
                if !d.names.iter().all(|n| known.contains(&n.as_str())) {
                    return false;
                }
                known.push(name);
            }
            self.checks.iter().all(|c| dotted(&c.program).is_some_and(|d| d.names.iter().all(|n| known.contains(&n.as_str()))))
        })
    }

    /// Binds each variable on its own (`VARIABLE + NAME`), in order, each
    /// value converted once; false when one fails to evaluate (the
    /// `variables` map, where it is left out, answers then).
    fn bind_each<'v>(&self, ctx: &mut cel::Context<'v, 'v>) -> bool {
        for (name, p) in &self.variables {
            let Some(d) = dotted(p) else { return false };
            let Some(v) = bound_value(&d.tree, ctx) else { return false };
            ctx.add_variable_as_val(format!("{VARIABLE}{name}"), v);
        }
        true
    }

    fn violation_error(&self, rule: &str, error: &str, actions: &[String]) -> Violation {
        Violation {
            policy: self.name.clone(),
            rule: rule.into(),
            rule_source: self.source.clone(),
            message: error.into(),
            actions: actions.to_vec(),
            error: Some(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{rule_of_message, Admission};
    use crate::selector::Labels;
    use crate::Object;
    use std::sync::Arc;

    /// The binding index finds exactly the bindings a scan of every binding finds,
    /// whatever the selector's form.
    #[test]
    fn applicable_through_the_index_is_the_scan() {
        let selectors = [
            serde_json::json!({}),
            serde_json::json!({"matchLabels": {"team": "a"}}),
            serde_json::json!({"matchLabels": {"team": "a", "env": "prod"}}),
            serde_json::json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}]}),
            serde_json::json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": []}]}),
            serde_json::json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]}),
            serde_json::json!({"matchExpressions": [{"key": "env", "operator": "Exists"}, {"key": "team", "operator": "In", "values": ["b"]}]}),
        ];
        let mut objects = Vec::new();
        for (i, sel) in selectors.iter().enumerate() {
            let rules = [{ serde_json::json!({"apiGroups": [""], "resources": ["pods"]}) }, serde_json::json!({"apiGroups": ["apps"], "resources": ["*"]})];
            objects.push(Object {
                path: format!("p{i}"),
                value: serde_json::json!({"kind": "ValidatingAdmissionPolicy", "metadata": {"name": format!("p{i}")},
                    "spec": {"matchConstraints": {"resourceRules": [rules[i % 2].clone()]}, "validations": [{"expression": "true"}]}}),
            });
            for j in 0..2 {
                objects.push(Object {
                    path: format!("p{i}-b{j}"),
                    value: serde_json::json!({"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": format!("p{i}-b{j}")},
                        "spec": {"policyName": format!("p{}", (i + j) % selectors.len()), "matchResources": {"namespaceSelector": sel}, "validationActions": ["Deny"]}}),
                });
            }
        }
        let admission = Admission::new(&objects);
        for ns in ["a", "b", "c", "kube-system"] {
            for extra in [vec![], vec![("team", "a")], vec![("team", "b"), ("env", "prod")], vec![("team", "a"), ("env", "prod")]] {
                let mut labels = Labels::from([("kubernetes.io/metadata.name".to_string(), ns.to_string())]);
                labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
                for (group, resource) in [("", "pods"), ("apps", "deployments")] {
                    let scan: Vec<(&str, &str)> = admission
                        .policies
                        .iter()
                        .filter(|p| p.resources.iter().any(|(g, r)| (g == "*" || g == group) && (r == "*" || r == resource)))
                        .flat_map(|p| p.bindings.iter().filter(|b| b.namespaces.matches(&labels)).map(move |b| (p.name.as_str(), b.name.as_str())))
                        .collect();
                    let got: Vec<(&str, &str)> =
                        admission.applicable(group, resource, &labels).into_iter().map(|(p, b)| (p.name.as_str(), b.name.as_str())).collect();
                    assert_eq!(got, scan, "{labels:?} {group}/{resource}");
                }
            }
        }
    }

    /// A rule's check is shared by every tenant that states it at the same
    /// origin ([`super::Programs::rule_check`]) and is, field by field, the
    /// check read from the validation as emitted (message tagged with the
    /// rule and that origin); another origin or other arguments get their
    /// own; [`super::Programs::rule_checks`] gives each position the check of
    /// its own rule when a list differs from the previous one, and
    /// [`super::Programs::forget_unshared`] keeps the shared ones.
    #[test]
    fn rule_checks_are_shared_by_rule_and_origin() {
        use khc_rules::{Args, RuleId, RuleKind};
        use khc_semantics::model::Origin;
        let origin = |file: &str, line| Origin { file: file.into(), line };
        let rule = |id, args| RuleKind { id, args };
        let (profile, own, other) = (origin("std/restricted.khc", 32), origin("t0.khc", 3), origin("t1.khc", 3));
        let registries = |p: &str| rule(RuleId::AllowedRegistries, Args::Names(vec![p.into()]));
        let mut programs = super::Programs::default();
        let outline = |c: &super::Check| format!("{} {} {} {}", c.rule, c.rule_source, c.message, c.expression);
        let emitted = |programs: &mut super::Programs, kind: &RuleKind, at: &Origin| {
            let (expression, message) = kind.pod_validation(35).expect("a pod rule");
            outline(&programs.check(&expression, format!("{message} [khc rule {} at {at}]", kind.keyword())))
        };
        let privileged = rule(RuleId::NoPrivileged, Args::None);
        let a = programs.rule_check(&privileged, 35, &profile).expect("a pod rule");
        let b = programs.rule_check(&privileged, 35, &origin("std/restricted.khc", 32)).expect("a pod rule");
        assert!(Arc::ptr_eq(&a, &b), "one check for one rule at one origin");
        assert_eq!(outline(&a), emitted(&mut programs, &privileged, &profile));
        let c = programs.rule_check(&privileged, 35, &own).expect("a pod rule");
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(outline(&c), emitted(&mut programs, &privileged, &own));
        assert!(Arc::ptr_eq(&a.program, &c.program), "one program for the rule");
        assert!(programs.rule_check(&rule(RuleId::NoExternalIps, Args::None), 35, &profile).is_none(), "a rule of Services has no pod check");
        // Lists as tenants state them: the same rules, then another
        // argument, another origin, a shorter and a longer list.
        let lists: Vec<Vec<(RuleKind, Origin)>> = vec![
            vec![(privileged.clone(), profile.clone()), (registries("r/t0/"), own.clone())],
            vec![(privileged.clone(), profile.clone()), (registries("r/t1/"), own.clone())],
            vec![(privileged.clone(), other.clone()), (registries("r/t1/"), other.clone())],
            vec![(registries("r/t1/"), other.clone())],
            vec![(privileged.clone(), profile.clone()), (rule(RuleId::NoExternalIps, Args::None), profile.clone()), (registries("r/t0/"), own.clone())],
            vec![(privileged.clone(), profile.clone()), (registries("r/t0/"), own.clone())],
        ];
        for list in &lists {
            let got: Vec<String> = programs.rule_checks(list.iter().map(|(k, o)| (k, o)), 35).iter().map(|c| outline(c)).collect();
            let want: Vec<String> = list.iter().filter(|(k, _)| k.pod_validation(35).is_some()).map(|(k, o)| emitted(&mut programs, k, o)).collect();
            assert_eq!(got, want, "{list:?}");
        }
        programs.forget_unshared();
        let again = programs.rule_check(&privileged, 35, &profile).expect("a pod rule");
        assert!(Arc::ptr_eq(&a, &again), "a shared check is kept");
    }

    #[test]
    fn rule_of_message_reads_the_tag() {
        assert_eq!(rule_of_message("images must be pinned [khc rule no-latest-tag at tenants/a.khc:3]"), Some(("no-latest-tag", "tenants/a.khc:3")));
        let server = "ValidatingAdmissionPolicy 'khc-tenant-a' with binding 'khc-tenant-a' denied request: no [khc rule automount-token at a.khc:2]";
        assert_eq!(rule_of_message(server), Some(("automount-token", "a.khc:2")));
        assert_eq!(rule_of_message("[khc rule r]"), Some(("r", "?")));
        assert_eq!(rule_of_message("no tag"), None);
    }

    /// `a` and `b` are the same CEL value of the same types all through (the
    /// crate's `==` holds `1 == 1u`; a variable's value must keep its type).
    fn same(a: &cel::Value, b: &cel::Value) -> bool {
        use cel::Value as V;
        match (a, b) {
            (V::Int(x), V::Int(y)) => x == y,
            (V::UInt(x), V::UInt(y)) => x == y,
            (V::Float(x), V::Float(y)) => x.to_bits() == y.to_bits(),
            (V::List(x), V::List(y)) => x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same(x, y)),
            (V::Map(x), V::Map(y)) => x.map.len() == y.map.len() && x.map.iter().all(|(k, v)| y.map.get(k).is_some_and(|w| same(v, w))),
            (V::Int(_) | V::UInt(_) | V::Float(_) | V::List(_) | V::Map(_), _) => false,
            _ => std::mem::discriminant(a) == std::mem::discriminant(b) && a == b,
        }
    }

    /// A variable's value bound as it is ([`super::json_stable`]) is exactly what
    /// converting it to JSON and back gives; the values left to that round
    /// trip are those it changes; an object's parts (what khc's variables
    /// select) take the fast path.
    #[test]
    fn json_stable_values_are_the_json_round_trip() {
        let object = cel::to_value(serde_json::json!({
            "kind": "Deployment",
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "r/a:1", "ports": [{"containerPort": 8080}],
                "resources": {"limits": {"cpu": 0.5}}, "securityContext": {"runAsUser": -1, "privileged": false}, "args": [null, "x"]}]}}}
        }))
        .unwrap();
        let round_trip = |v: &cel::Value| v.json().ok().and_then(|j| cel::to_value(j).ok());
        assert!(super::json_stable(&object));
        let s = |t: &str| cel::Value::String(std::sync::Arc::new(t.to_string()));
        let mut keyed = std::collections::HashMap::new();
        keyed.insert(cel::objects::Key::Int(1), s("one"));
        let unstable = [
            cel::Value::Int(0),
            cel::Value::Int(7),
            cel::Value::Float(f64::NAN),
            cel::Value::Float(f64::INFINITY),
            cel::Value::Bytes(std::sync::Arc::new(vec![1, 2])),
            cel::Value::List(std::sync::Arc::new(vec![s("a"), cel::Value::Int(2)])),
            cel::Value::Map(cel::objects::Map { map: std::sync::Arc::new(keyed) }),
        ];
        let stable = [
            cel::Value::Null,
            cel::Value::Bool(true),
            s("x"),
            cel::Value::Int(-3),
            cel::Value::UInt(0),
            cel::Value::UInt(u64::MAX),
            cel::Value::Float(2.0),
            cel::Value::Float(-0.5),
            cel::Value::List(std::sync::Arc::new(vec![])),
            object,
        ];
        for v in &stable {
            assert!(super::json_stable(v), "{v:?}");
            assert!(round_trip(v).is_some_and(|w| same(v, &w)), "{v:?} changes through JSON");
        }
        for v in &unstable {
            assert!(!super::json_stable(v), "{v:?}");
            assert!(!round_trip(v).is_some_and(|w| same(v, &w)), "{v:?} is kept by JSON: it could be bound as it is");
        }
    }

    /// [`super::val_borrowing`] binds what the crate binds: the boxed value
    /// read back is `cel::to_value`'s, value for value and type for type.
    #[test]
    fn json_binds_as_the_crate_binds() {
        let values = [
            serde_json::json!(null),
            serde_json::json!({"kind": "Deployment", "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "r/a:1",
                "ports": [{"containerPort": 8080}], "resources": {"limits": {"cpu": 0.5, "memory": "1Gi"}},
                "securityContext": {"runAsUser": -1, "runAsGroup": 0, "privileged": false}, "args": [null, "x", true, 1.0e300, -2.5]}]}}}}),
            serde_json::json!([u64::MAX, i64::MIN, 0, -0.0, {}, [], {"": ""}]),
            serde_json::json!("text"),
            serde_json::json!(true),
        ];
        for v in &values {
            let crates: Box<dyn cel::common::value::Val> = cel::to_value(v).expect("JSON converts").try_into().expect("binds");
            let crates = cel::Value::try_from(crates.as_ref()).expect("reads back");
            let borrowed = super::val_borrowing(v);
            let borrowed = cel::Value::try_from(borrowed.as_ref()).expect("reads back");
            assert!(same(&borrowed, &crates), "{v} borrowed: {borrowed:?} vs {crates:?}");
        }
    }

    /// The request [`super::Judged::create`] binds, built directly, is its
    /// JSON form converted: with and without a kind, a namespace, a name
    /// (strings only), and metadata.
    #[test]
    fn create_request_is_its_json() {
        for object in [
            serde_json::json!({"kind": "Deployment", "metadata": {"name": "app", "namespace": "t0"}}),
            serde_json::json!({"kind": "Pod", "metadata": {"name": "p"}}),
            serde_json::json!({"kind": 3, "metadata": {"namespace": 7, "name": null}}),
            serde_json::json!({"metadata": "x"}),
            serde_json::json!(null),
        ] {
            let direct = super::create_request(&object);
            let direct = cel::Value::try_from(direct.as_ref()).expect("reads back");
            let json = super::create_request_json(&object);
            let json = super::val_borrowing(&json);
            let json = cel::Value::try_from(json.as_ref()).expect("reads back");
            assert!(same(&direct, &json), "{object}: {direct:?} vs {json:?}");
        }
    }

    /// [`super::untagged`] answers as `rsplit_once(" [khc rule ")` did.
    #[test]
    fn untagged_is_rsplit_once() {
        for m in [
            "a [khc rule x at y]",
            "no tag",
            "[khc rule x]",
            " [khc rule x]",
            "a [khc rule b] c [khc rule d at e]",
            "x [[khc rule y]",
            "x [ [khc rule y]",
            "a  [khc rule ",
            " [khc rule",
            "",
            "[",
            "é [khc rule ü] [",
            "q [khc rule r] [khc rul s]",
        ] {
            assert_eq!(super::untagged(m), m.rsplit_once(" [khc rule ").map_or(m, |(a, _)| a), "{m:?}");
        }
    }

    /// The fast path's rewrites of a program ([`super::tree_of`]: `!X` as a
    /// conditional, [`super::negation_as_condition`]; selection chains
    /// from values, [`super::from_value`]) give the value or
    /// the error the program as written gives, on objects with the fields
    /// present, missing, null, of other types; and they do rewrite (the
    /// trees differ where they apply).
    #[test]
    fn rewrites_answer_as_written() {
        let expressions = [
            "!has(object.spec.x)",
            "!has(object.spec.template)",
            "!(object.kind == 'Pod')",
            "!object.spec.flag",
            "!1",
            "!(1 < 'a')",
            "![1].all(x, x > 0)",
            "![1, 'a'].all(x, x > 0)",
            "![].exists(x, x)",
            "![1, 2].exists_one(x, x > 1)",
            "!(true ? has(object.a) : object.kind == 'x')",
            "!(has(object.a) ? 1 : true)",
            "!!has(object.spec)",
            "!('a' in object.spec)",
            "!(object.spec.n >= 2 || object.spec.n < 0)",
            "object.spec.template.spec.containers[0].image",
            "object.spec.missing.x",
            "object.kind.x",
            "has(object.kind.x)",
            "object.metadata.labels.app",
            "has(object.metadata.labels.app)",
            "has(object.spec.template.spec)",
            "object.spec.list.all(c, has(c.name) && c.name.startsWith('a'))",
            "object.spec.list.map(c, c.name)",
            "object.spec.list.filter(c, !has(c.ports)).size()",
            "object.spec.list.exists(c, has(c.ports) && c.ports.exists(p, p.hostPort == 0))",
            "object.spec.list.all(object, has(object.name))",
            "object.spec.list.all(c, c.ports.all(p, p.hostPort > 0))",
            "object.spec.list[0].name",
            "int.x",
            "undeclared.x",
            "has(undeclared.x)",
            "request.userInfo.username",
            "request.userInfo.groups[0]",
            "oldObject.x",
            "has(oldObject.x)",
            "[{'a': {'b': 1}}].all(m, m.a.b == 1)",
            "{'a': {'b': 2}}.a.b",
            "[object.spec].all(s, !has(s.flag) || s.flag)",
            "object.spec.n.x",
            "object.spec.list.x",
        ];
        let objects = [
            serde_json::json!({"kind": "Deployment", "metadata": {"name": "a", "namespace": "n", "labels": {"app": "x"}},
                "spec": {"flag": true, "n": 3, "template": {"spec": {"containers": [{"name": "c", "image": "r/c:1"}]}},
                    "list": [{"name": "a", "ports": [{"hostPort": 0}]}, {"name": "b"}]}}),
            serde_json::json!({"kind": "Pod", "metadata": {"labels": null}, "spec": {"flag": "yes", "n": -1, "template": null, "list": []}}),
            serde_json::json!({"kind": "Service", "spec": {"list": [1, "x", null]}}),
            serde_json::json!({"kind": "Pod", "metadata": {"name": "b", "labels": {"app": 3}}, "spec": {"list": [{"ports": [{"hostPort": 1}]}]}}),
        ];
        let (mut fast, mut written) = (super::Programs::default(), super::Programs::as_written());
        let mut rewritten = 0;
        for text in expressions {
            let (f, w) = (super::compile(&mut fast, text), super::compile(&mut written, text));
            let (ft, wt) = (super::program(&f).as_ref().expect("compiles"), super::program(&w).as_ref().expect("compiles"));
            rewritten += usize::from(ft.expr != wt.expr);
            for object in &objects {
                let judged = super::Judged::create(object);
                let answer = |t: &cel::IdedExpr| cel::Value::resolve(t, &judged.ctx).map_err(|e| format!("{e}"));
                assert_eq!(answer(ft), answer(wt), "{text} on {object}");
            }
        }
        assert!(rewritten >= 30, "only {rewritten} programs rewritten");
    }

    /// [`super::json_stable_val`] answers as [`super::json_stable`] of the
    /// same value read back: objects bound from JSON, computed values
    /// (non-negative and negative `int`s, non-finite `double`s, bytes, maps
    /// with int keys, lists of them).
    #[test]
    fn json_stable_as_the_interpreter_holds_it() {
        let ctx = cel::Context::default();
        let objects = [
            serde_json::json!({"spec": {"containers": [{"name": "a", "image": "r/a:1", "ports": [{"containerPort": 8080}], "x": [null, true, -2.5, 1]}]}}),
            serde_json::json!([u64::MAX, i64::MIN, 0, -0.0, {}, []]),
        ];
        let mut values: Vec<Box<dyn cel::common::value::Val + '_>> = objects.iter().map(super::val_borrowing).collect();
        for e in
            ["1 + 2", "-3", "[1, -1]", "{'a': 2 - 5}", "{1: 'x'}", "b'x'", "1.0 / 0.0", "[{'k': [1.0 / 0.0]}]", "'s'", "2.5", "null", "[]", "{}", "uint(3)"]
        {
            let tree = super::compile_text(e).expect("compiles");
            values.push(cel::Value::resolve_val(&tree, &ctx).expect("evaluates").into_owned());
        }
        for v in &values {
            let read: cel::Value = v.as_ref().try_into().expect("reads back");
            assert_eq!(super::json_stable_val(v.as_ref()), super::json_stable(&read), "{read:?}");
        }
    }

    /// Variables bound each on its own ([`super::Policy::bind_each`]) answer
    /// as the `variables` map of the programs as written, one object judged
    /// by policies in turn (one [`super::Judged`]): a variable that fails (the
    /// map then), one read before it is defined, `has(variables.x)` and
    /// `variables` indexed (not renamed), a computed `int` (through JSON it
    /// comes back a `uint`), and policies sharing or not the same variables.
    #[test]
    fn variables_each_on_their_own_answer_as_the_map() {
        let policy = |name: &str, variables: serde_json::Value, validations: &[&str]| Object {
            path: name.into(),
            value: serde_json::json!({"kind": "ValidatingAdmissionPolicy", "metadata": {"name": name},
                "spec": {"variables": variables, "validations": validations.iter().map(|e| serde_json::json!({"expression": e, "message": e})).collect::<Vec<_>>()}}),
        };
        let vars = serde_json::json!([{"name": "spec", "expression": "object.spec"}, {"name": "n", "expression": "size(variables.spec.containers)"},
            {"name": "first", "expression": "variables.spec.containers[0].name"}]);
        let checks = ["variables.n == 1", "type(variables.n) == uint", "variables.first == 'a'", "variables.spec.containers.all(c, c.image.startsWith('r/'))"];
        let objects = [
            policy("each", vars.clone(), &checks),
            policy("same", vars.clone(), &["variables.first != 'b'", "variables.n > 0"]),
            policy("has", vars.clone(), &["has(variables.first)", "variables['n'] == 1"]),
            policy(
                "later",
                serde_json::json!([{"name": "a", "expression": "variables.b"}, {"name": "b", "expression": "1"}]),
                &["variables.a == 1", "variables.b == 1"],
            ),
            policy(
                "fails",
                serde_json::json!([{"name": "x", "expression": "object.nothing.here"}, {"name": "y", "expression": "2"}]),
                &["variables.y == 2", "variables.x == 1"],
            ),
            policy("each again", vars.clone(), &checks),
            policy("missing", vars, &["variables.missing == 1", "variables.n == 1"]),
        ];
        let refs: Vec<&Object> = objects.iter().collect();
        let fast = Admission::with_programs(&refs, &mut super::Programs::default());
        let written = Admission::with_programs(&refs, &mut super::Programs::as_written());
        for object in [
            serde_json::json!({"kind": "Pod", "spec": {"containers": [{"name": "a", "image": "r/a"}]}}),
            serde_json::json!({"kind": "Pod", "spec": {"containers": [{"name": "b", "image": "x/b"}, {"name": "c", "image": "r/c"}]}}),
            serde_json::json!({"kind": "Service", "spec": {}}),
        ] {
            let mut judged = super::Judged::create(&object);
            for (f, w) in fast.policies.iter().zip(&written.policies) {
                assert_eq!(f.evaluate_judged(&mut judged, &["Deny".into()]), w.evaluate(&object, &["Deny".into()]), "{} on {object}", f.name);
            }
        }
        let each: Vec<bool> = fast.policies.iter().map(|p| p.dotted()).collect();
        assert_eq!(each, [true, true, false, false, true, true, false]);
    }
}
