//! Per-rule data fixtures: `tests/rules/NAME.yaml` for every rule of the
//! registry (`khc_rules::ALL`), each a list of groups — a source snippet put in
//! a tenant's `admission { … }` block, the cluster's Kubernetes version, and
//! objects with the verdict the rule must give (at least one `admit` and one
//! `deny` per rule). The snippet's CEL, evaluated by khc-analysis as the API
//! server would, must judge every object as stated; `tests/kube_server.rs`
//! replays the same files on the real API servers.

use khc_analysis::admission::{resource_of, Admission};
use khc_tests::rule_fixtures::{load_all, Verdict};
use khc_tests::*;

/// Compiles a tenant with `rules` on Kubernetes 1.`minor` (a cluster rule,
/// `Rule::cluster_only`, goes in the cluster's `admission` block instead).
fn admission(rules: &str, minor: u32) -> Admission {
    let cluster_rule = rules.split_whitespace().next().and_then(khc_rules::RuleId::from_name).is_some_and(|r| r.def().cluster_only);
    let source = if cluster_rule {
        format!("cluster c {{\n  kubernetes 1.{minor}\n  admission {{\n    {rules}\n  }}\n}}\ntenant t {{}}\n")
    } else {
        format!("cluster c {{\n  kubernetes 1.{minor}\n}}\ntenant t {{\n  admission {{\n    {rules}\n  }}\n}}\n")
    };
    let (out, diags, rendered) = compile_sources(&[("main.khc", &source)]);
    let out = out.unwrap_or_else(|| panic!("`{rules}` does not compile: {diags:?}\n{rendered}"));
    Admission::new(&khc_analysis::objects(&out))
}

/// The rules (other than the tenant's own token rule) that reject `object`.
fn denied_by(a: &Admission, object: &serde_json::Value) -> Vec<String> {
    let (group, resource) = resource_of(object["apiVersion"].as_str().unwrap_or("v1"), object["kind"].as_str().unwrap_or("")).expect("a matched kind");
    let mut out = Vec::new();
    for p in a.policies.iter().filter(|p| p.resources.iter().any(|(g, r)| *g == group && *r == resource)) {
        for v in p.evaluate(object, &["Deny".to_string()]) {
            assert!(v.error.is_none(), "{}: CEL fails to evaluate: {:?}", v.rule, v.error);
            out.push(v.rule);
        }
    }
    out.retain(|r| r != "automount-token");
    out
}

/// Every rule has a fixture file with at least one admitted and one denied
/// object, and every fixture file names a rule.
#[test]
fn every_rule_has_a_fixture() {
    let all = load_all();
    let mut problems = Vec::new();
    for r in khc_rules::ALL {
        let name = r.keyword();
        let Some(groups) = all.get(name) else {
            problems.push(format!("{name}: no tests/rules/{name}.yaml"));
            continue;
        };
        let verdicts: Vec<Verdict> = groups.iter().flat_map(|g| g.objects.iter().map(|o| o.verdict)).collect();
        if !verdicts.contains(&Verdict::Admit) || !verdicts.contains(&Verdict::Deny) {
            problems.push(format!("{name}: needs at least one `admit` and one `deny` object"));
        }
        for g in groups {
            if g.source.split_whitespace().next() != Some(name) {
                problems.push(format!("{name}: a group's source `{}` does not start with the rule", g.source));
            }
        }
    }
    for name in all.keys() {
        if khc_rules::RuleId::from_name(name).is_none() {
            problems.push(format!("tests/rules/{name}.yaml names no rule of the registry"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every object of every fixture is judged as stated, in process.
#[test]
fn fixtures_are_judged_as_stated() {
    let mut problems = Vec::new();
    let mut count = 0;
    for (name, groups) in load_all() {
        for g in groups {
            let a = admission(&g.source, g.minor());
            for o in &g.objects {
                count += 1;
                let found = denied_by(&a, &o.object);
                let expected: Vec<String> = if o.verdict == Verdict::Deny { vec![name.clone()] } else { Vec::new() };
                if found != expected {
                    problems.push(format!("{name}: `{}` (kubernetes {}), {}: denied by {found:?}, expected {expected:?}", g.source, g.kubernetes, o.name));
                }
            }
        }
    }
    eprintln!("{count} fixture objects");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
