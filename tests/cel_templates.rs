//! Issue 24, item 1 (`khc eval` within 2× of `khc check`): the admission
//! evaluator's fast path — expressions that differ only in their string
//! literals parsed once per template (`admission::Templates`), `matches`
//! through a cache of compiled patterns, a rule two policies share evaluated
//! once per object, each policy variable bound on its own (`variables.NAME`
//! read as an identifier of its own) — answers exactly as compiling each generated policy's CEL
//! text as emitted and running it with the `cel` crate alone
//! (`admission::Programs::as_written`). Held on the examples, a generated
//! workspace (baseline and restricted profiles, batch jobs), a generated fleet,
//! every rule fixture's snippet (every rule with varied arguments) and a tenant
//! with exceptions and custom rules whose patterns are invalid or meet other
//! types than strings; judged on the rule fixtures' objects.

use khc_analysis::admission::{compile_text, read_variables_alone, rewrite_for_interpreter, template_of, Admission, Programs, Templates};
use khc_tests::rule_fixtures::load_all;
use khc_tests::*;

/// Source files as `(path, text)`, the entry first.
type Files = Vec<(String, String)>;

/// The programs whose policies are compared: `(name, emitted objects, the
/// objects to judge: a rule fixture's own, else `None` for every fixture's)`.
fn programs() -> Vec<(String, Vec<khc_analysis::Object>, Option<Vec<serde_json::Value>>)> {
    let mut out = Vec::new();
    for example in ["examples/multi-tenant", "examples/multi-cluster"] {
        let (o, diags) = compile(&repo_root().join(example));
        assert!(diags.iter().all(|d| !d.is_error()), "{example}: {diags:?}");
        out.push((example.to_string(), khc_analysis::objects(&o), None));
    }
    let mut sources: Vec<(String, Files, Option<Vec<serde_json::Value>>)> = vec![
        ("generated workspace".into(), workspace_gen::Workspace::new(12).files(), None),
        ("fleet".into(), fleet_sources(6), None),
        (
            "exceptions and custom rules".into(),
            vec![(
                "main.khc".into(),
                r#"import "std/restricted"
cluster c {
  kubernetes 1.35
  admission { use host-isolation }
  exception agents {
    workloads "mon/agent"
    lifts no-host-namespaces no-host-path
    reason "node agents"
    expires "2099-06-30"
  }
}
tenant mon {
  namespaces mon mon-jobs
  workload agent { selector { app "agent" } }
  admission {
    use restricted
    allowed-registries "registry.example.com/mon/" "ghcr.io/mon/"
    allowed-capabilities NET_BIND_SERVICE
    require-digest
    rule named-apps {
      kinds deployments.apps
      cel "object.metadata.name.matches('^app-[a-z]+$') && object.metadata.name != 'app-x'"
      message "apps are named app-NAME"
    }
    rule bad-pattern {
      kinds deployments.apps
      cel "object.metadata.name.matches('[')"
      message "never compiles"
    }
    rule replicas-as-text {
      kinds deployments.apps
      cel "!has(object.spec.replicas) || object.spec.replicas.matches('1')"
      message "an int is no string"
    }
  }
  exception old-agent {
    workloads agent
    lifts run-as-non-root read-only-root-fs
    reason "the agent writes its state"
    expires "2099-01-01"
  }
}
"#
                .into(),
            )],
            None,
        ),
    ];
    for (name, groups) in load_all() {
        for (i, g) in groups.iter().enumerate() {
            let cluster_rule = khc_rules::RuleId::from_name(&name).is_some_and(|r| r.def().cluster_only);
            let source = if cluster_rule {
                format!("cluster c {{\n  kubernetes {}\n  admission {{\n    {}\n  }}\n}}\ntenant t {{}}\n", g.kubernetes, g.source)
            } else {
                format!("cluster c {{\n  kubernetes {}\n}}\ntenant t {{\n  admission {{\n    {}\n  }}\n}}\n", g.kubernetes, g.source)
            };
            sources.push((format!("fixture {name} #{i}"), vec![("main.khc".into(), source)], Some(g.objects.iter().map(|c| c.object.clone()).collect())));
        }
    }
    for (name, files, own) in sources {
        let refs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        let (o, diags, rendered) = compile_sources(&refs);
        let o = o.unwrap_or_else(|| panic!("{name} does not compile: {diags:?}\n{rendered}"));
        out.push((name, khc_analysis::objects(&o), own));
    }
    out
}

/// Every CEL text of the admission policies among `objects`.
fn expressions(objects: &[khc_analysis::Object]) -> Vec<String> {
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| o.kind() == "ValidatingAdmissionPolicy") {
        let spec = &o.value["spec"];
        for field in ["variables", "validations", "matchConditions"] {
            out.extend(spec[field].as_array().into_iter().flatten().filter_map(|v| v["expression"].as_str().map(str::to_string)));
        }
    }
    out
}

/// Every expression parsed through its template is the very tree (node ids
/// included) that parsing its text gives, with one cache of templates for all
/// programs (as `khc eval` shares it across tenants); tenants' policies do
/// share templates.
#[test]
fn templates_parse_as_the_text() {
    let mut templates = Templates::default();
    let mut dotted_seen = 0;
    let (mut texts, mut templated, mut keys) = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    for (name, objects, _) in programs() {
        for text in expressions(&objects) {
            if let Some((key, _)) = template_of(&text) {
                templated.insert(text.clone());
                keys.insert(key);
            }
            let direct = compile_text(&text);
            assert_eq!(templates.compile(&text), direct, "{name}: {text}");
            // The fast path's trees, copied from the template's rewritten
            // once, are the text's own parsed and rewritten.
            let cached = direct.map(|mut tree| {
                rewrite_for_interpreter(&mut tree);
                tree
            });
            assert_eq!(templates.compile_cached(&text), cached, "{name}: {text} with its patterns cached");
            let dotted = cached.ok().and_then(read_variables_alone);
            dotted_seen += usize::from(dotted.as_ref().is_some_and(|(_, names)| !names.is_empty()));
            assert_eq!(templates.compile_dotted(&text), dotted, "{name}: {text} with each variable on its own");
            texts.insert(text);
        }
    }
    // Distinct texts share templates (one parse for several).
    assert!(
        texts.len() > 100 && templated.len() > 50 && keys.len() < templated.len(),
        "{} distinct expressions, {} templated, {} templates",
        texts.len(),
        templated.len(),
        keys.len()
    );
    assert!(dotted_seen > 50, "{dotted_seen} expressions read variables");
    // Texts that name `variables` otherwise than as `variables.NAME` (one
    // template for several), or hold the word in a literal, and a pattern
    // that does not compile: the same trees through the templates.
    let mut templates = Templates::default();
    for text in [
        "has(variables.x) && variables.x == 'a'",
        "has(variables.x) && variables.x == 'b'",
        "variables['x'] == 'a'",
        "variables.x.matches('^a') && 'variables' != 'b'",
        "[1].all(variables, variables > 0) || 'a' == 'b'",
        "variables.x == 'c' && object.y.matches('[')",
    ] {
        let mut cached = compile_text(text);
        if let Ok(tree) = cached.as_mut() {
            rewrite_for_interpreter(tree);
        }
        assert_eq!(templates.compile_cached(text), cached, "{text}");
        assert_eq!(templates.compile_dotted(text), cached.ok().and_then(read_variables_alone), "{text}");
    }
    // Texts that cannot be templated safely are parsed as written.
    for text in ["r'a' == 'b'", "'''a''' == 'a'", "'a' == 'b' // c", "b\"a\" == b'a'", "'a\\'b' == 'c'", "'unterminated"] {
        let parsed = Templates::default().compile(text);
        assert_eq!(parsed, compile_text(text), "{text}");
    }
    assert_eq!(template_of("x == 'a' || y in [\"b\", 'c\\'d']"), Some(("x == '\u{1}0' || y in ['\u{1}1', 'c\\'d']".into(), vec!["a".into(), "b".into()])));
}

/// Every policy judges objects (as a CREATE, and as UPDATEs with its match
/// conditions) with the same violations, messages and evaluation errors
/// through the fast path as through the `cel` crate alone: a rule fixture's
/// snippet its own objects, the other programs every rule fixture's.
#[test]
fn fast_path_answers_as_the_text() {
    let fixtures: Vec<serde_json::Value> = load_all().into_values().flatten().flat_map(|g| g.objects.into_iter().map(|c| c.object)).collect();
    assert!(fixtures.len() > 100, "{} fixture objects", fixtures.len());
    let mut compared = 0;
    let mut errors = 0;
    // One cache for all programs, as `khc eval` shares it across tenants.
    let mut fast_programs = Programs::default();
    for (name, objects, own) in programs() {
        // A rule fixture's snippet judges its own objects; the larger programs every fixture's.
        let judged = own.as_ref().unwrap_or(&fixtures);
        let refs: Vec<&khc_analysis::Object> = objects.iter().collect();
        let fast = Admission::with_programs(&refs, &mut fast_programs);
        let written = Admission::with_programs(&refs, &mut Programs::as_written());
        assert_eq!(fast.policies.len(), written.policies.len());
        for object in judged {
            // One conversion for every policy (as `khc eval` judges an object).
            let mut judged = khc_analysis::admission::Judged::create(object);
            for (f, w) in fast.policies.iter().zip(&written.policies) {
                let (a, b) = (f.evaluate_judged(&mut judged, &["Deny".into()]), w.evaluate(object, &["Deny".into()]));
                assert_eq!(a, b, "{name}: policy {} on {object}", f.name);
                errors += a.iter().filter(|v| v.error.is_some()).count();
                // An UPDATE of the labels (match conditions false) and one of the spec.
                let mut relabelled = object.clone();
                relabelled["metadata"]["labels"]["khc-test"] = "old".into();
                let mut respecced = object.clone();
                respecced["spec"] = serde_json::json!({"khc-test": 1});
                let request = serde_json::json!({"operation": "UPDATE", "userInfo": {"username": "u", "groups": []}, "namespace": "t", "name": "x"});
                for old in [&relabelled, &respecced] {
                    assert_eq!(
                        f.evaluate_request(&request, object, old, &["Deny".into()]),
                        w.evaluate_request(&request, object, old, &["Deny".into()]),
                        "{name}: policy {} on an UPDATE of {object}",
                        f.name
                    );
                }
                compared += 1;
            }
        }
    }
    eprintln!("{compared} judgements, {errors} evaluation errors");
    assert!(compared > 3_000 && errors > 0, "{compared} judgements, {errors} evaluation errors");
}
