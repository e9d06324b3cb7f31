//! khc's own evaluator of the generated admission policies: the CEL of an emitted
//! ValidatingAdmissionPolicy is evaluated with the `cel` interpreter against an
//! object, giving the khc rules that reject it. Shared by `tests/cel_semantics.rs`
//! and `tests/kube_server.rs` (where its answers are compared with the real server's).

use serde_json::Value;
use std::collections::BTreeSet;

/// `(name, CEL expression)` pairs.
pub type Named = Vec<(String, String)>;

/// A ValidatingAdmissionPolicy's variables and `(khc rule, expression)` validations.
pub struct Policy {
    /// The policy's name.
    pub name: String,
    /// `spec.variables`, in order.
    pub vars: Named,
    /// `spec.validations`, keyed by the khc rule their message names.
    pub validations: Named,
}

fn eval(expr: &str, ctx: &cel::Context) -> cel::Value {
    let program = cel::Program::compile(expr).unwrap_or_else(|e| panic!("CEL does not parse: {expr}\n{e:?}"));
    program.execute(ctx).unwrap_or_else(|e| panic!("CEL fails to evaluate: {expr}\n{e:?}"))
}

/// The khc rule a validation message names (`… [khc rule NAME at FILE:LINE]`).
pub fn rule_of_message(msg: &str) -> Option<String> {
    Some(msg.split("[khc rule ").nth(1)?.split([' ', ']']).next()?.to_string())
}

impl Policy {
    /// Reads a ValidatingAdmissionPolicy object.
    pub fn from_vap(vap: &Value) -> Policy {
        let vars = vap["spec"]["variables"]
            .as_array()
            .map(|a| a.iter().map(|v| (v["name"].as_str().unwrap().to_string(), v["expression"].as_str().unwrap().to_string())).collect())
            .unwrap_or_default();
        let validations = vap["spec"]["validations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let msg = v["message"].as_str().unwrap();
                (rule_of_message(msg).unwrap_or_else(|| panic!("no khc rule in {msg:?}")), v["expression"].as_str().unwrap().to_string())
            })
            .collect();
        Policy { name: vap["metadata"]["name"].as_str().unwrap_or_default().to_string(), vars, validations }
    }

    /// The rules that reject `object`.
    pub fn violations(&self, object: &Value) -> BTreeSet<String> {
        let mut variables = serde_json::Map::new();
        for (name, expr) in &self.vars {
            let mut ctx = cel::Context::default();
            ctx.add_variable_from_value("object", cel::to_value(object).unwrap());
            ctx.add_variable_from_value("variables", cel::to_value(Value::Object(variables.clone())).unwrap());
            let v = eval(expr, &ctx).json().expect("variable converts to JSON");
            variables.insert(name.clone(), v);
        }
        let mut failed = BTreeSet::new();
        for (rule, expr) in &self.validations {
            let mut ctx = cel::Context::default();
            ctx.add_variable_from_value("object", cel::to_value(object).unwrap());
            ctx.add_variable_from_value("variables", cel::to_value(Value::Object(variables.clone())).unwrap());
            match eval(expr, &ctx) {
                cel::Value::Bool(true) => {}
                cel::Value::Bool(false) => {
                    failed.insert(rule.clone());
                }
                other => panic!("{rule}: expression did not give a bool: {other:?}"),
            }
        }
        failed
    }
}
