//! What is not one rule's data fixture (those are `tests/rules/NAME.yaml`, run by
//! `tests/rule_fixtures.rs`): Service and PersistentVolumeClaim rules live in the
//! tenant's `.resources` policy, and `nodes { … }` pins pods and limits their
//! tolerations.

use khc_analysis::admission::{resource_of, Admission};
use khc_tests::*;
use serde_json::{json, Value};

/// Compiles a tenant with `rules` on Kubernetes 1.`minor`.
fn admission(rules: &str, minor: u32) -> Admission {
    let source = format!("cluster c {{\n  kubernetes 1.{minor}\n}}\ntenant t {{\n  admission {{\n    {rules}\n  }}\n}}\n");
    let (out, diags, rendered) = compile_sources(&[("main.khc", &source)]);
    let out = out.unwrap_or_else(|| panic!("`{rules}` does not compile: {diags:?}\n{rendered}"));
    Admission::new(&khc_analysis::objects(&out))
}

/// The rules (other than the tenant's own token rule) that reject `object`.
fn denied_by(a: &Admission, object: &Value) -> Vec<String> {
    let (group, resource) = resource_of(object["apiVersion"].as_str().unwrap_or("v1"), object["kind"].as_str().unwrap_or("")).expect("a matched kind");
    let mut out = Vec::new();
    // `khc-nodes-*` binds the namespaces of everyone but the tenant (see
    // `node_isolation_keeps_everyone_else_off_the_nodes`).
    for p in a.policies.iter().filter(|p| !p.name.starts_with("khc-nodes-") && p.resources.iter().any(|(g, r)| *g == group && *r == resource)) {
        for v in p.evaluate(object, &["Deny".to_string()]) {
            assert!(v.error.is_none(), "{}: CEL fails to evaluate: {:?}", v.rule, v.error);
            out.push(v.rule);
        }
    }
    out.retain(|r| r != "automount-token");
    out
}

/// A minimal pod with `spec` merged in (JSON pointer → value).
fn pod(changes: &[(&str, Value)]) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "r/app:1"}]}});
    for (pointer, value) in changes {
        put(&mut p, pointer, value.clone());
    }
    p
}

/// Sets the value at a JSON pointer, creating missing parent objects.
fn put(v: &mut Value, pointer: &str, value: Value) {
    let mut target = v;
    let keys: Vec<&str> = pointer.split('/').skip(1).collect();
    for (i, key) in keys.iter().enumerate() {
        if i + 1 == keys.len() {
            match target {
                Value::Array(a) => a[key.parse::<usize>().expect("an index")] = value,
                _ => target[*key] = value,
            }
            return;
        }
        target = match target {
            Value::Array(a) => &mut a[key.parse::<usize>().expect("an index")],
            _ => {
                if target.get(*key).is_none() {
                    target[*key] = json!({});
                }
                &mut target[*key]
            }
        };
    }
}

/// Rules that judge Services and claims go to a second policy, so the pod
/// policy never evaluates a Service; pod-only scopes get no second policy.
#[test]
fn service_rules_get_their_own_policy() {
    let a = admission("no-external-ips\n    no-privileged", 37);
    let names: Vec<&str> = a.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"khc-tenant-t.resources"), "{names:?}");
    let second = a.policies.iter().find(|p| p.name == "khc-tenant-t.resources").unwrap();
    assert_eq!(second.bindings.len(), 1);
    assert!(second.resources.contains(&(String::new(), "services".to_string())));
    let a = admission("no-privileged", 37);
    assert!(a.policies.iter().all(|p| !p.name.ends_with(".resources")));
}

/// `nodes { … }`: the tenant's pods carry the nodeSelector pairs and tolerate
/// only the listed taints and the two NoExecute ones Kubernetes adds itself.
#[test]
fn node_isolation_pins_pods_and_limits_tolerations() {
    let source = "cluster c {\n  kubernetes 1.37\n}\ntenant t {\n  nodes {\n    selector pool \"payments\"\n    selector \"topology.kubernetes.io/zone\" \"eu-1a\"\n    toleration dedicated \"payments\"\n    toleration gpu\n  }\n}\n";
    let (out, diags, rendered) = compile_sources(&[("main.khc", source)]);
    let out = out.unwrap_or_else(|| panic!("does not compile: {diags:?}\n{rendered}"));
    let a = Admission::new(&khc_analysis::objects(&out));
    let pinned = [("/spec/nodeSelector", json!({"pool": "payments", "topology.kubernetes.io/zone": "eu-1a", "disk": "ssd"}))];
    let with_tolerations = |t: Value| {
        let mut p = pod(&pinned);
        p["spec"]["tolerations"] = t;
        p
    };
    let default_tolerations = json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ]);
    let cases: Vec<(&str, Value, bool)> = vec![
        ("pinned", pod(&pinned), false),
        ("pinned with the default tolerations", with_tolerations(default_tolerations), false),
        ("listed toleration", with_tolerations(json!([{"key": "dedicated", "operator": "Equal", "value": "payments", "effect": "NoSchedule"}])), false),
        ("listed key, any value", with_tolerations(json!([{"key": "gpu", "operator": "Exists"}])), false),
        ("no nodeSelector", pod(&[]), true),
        ("one pair missing", pod(&[("/spec/nodeSelector", json!({"pool": "payments"}))]), true),
        ("other pool", pod(&[("/spec/nodeSelector", json!({"pool": "shop", "topology.kubernetes.io/zone": "eu-1a"}))]), true),
        ("other tenant's taint value", with_tolerations(json!([{"key": "dedicated", "value": "shop"}])), true),
        ("Exists on a key listed with a value", with_tolerations(json!([{"key": "dedicated", "operator": "Exists"}])), true),
        ("tolerate everything", with_tolerations(json!([{"operator": "Exists"}])), true),
        (
            "not-ready NoSchedule is not a default",
            with_tolerations(json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}])),
            true,
        ),
        ("control-plane taint", with_tolerations(json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}])), true),
    ];
    let mut problems = Vec::new();
    for (name, object, denied) in cases {
        let found = denied_by(&a, &object);
        let expected: Vec<String> = if denied { vec!["nodes".to_string()] } else { Vec::new() };
        if found != expected {
            problems.push(format!("{name}: denied by {found:?}, expected {expected:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `nodes { … }` keeps everyone else off the tenant's nodes (issue 17, item 3):
/// in another tenant's namespace and in an unmanaged one, `khc-nodes-T` refuses
/// pods that tolerate the tenant's taints or every taint, select its node labels
/// (nodeSelector or a required node affinity term) or name a node; the system
/// namespaces and the tenant's own are not bound.
#[test]
fn node_isolation_keeps_everyone_else_off_the_nodes() {
    let source = "cluster c {\n  kubernetes 1.37\n}\ntenant payments {\n  nodes {\n    selector pool \"payments\"\n    selector \"topology.kubernetes.io/zone\" \"eu-1a\"\n    toleration dedicated \"payments\"\n  }\n}\ntenant shop {}\n";
    let (out, diags, rendered) = compile_sources(&[("main.khc", source)]);
    let out = out.unwrap_or_else(|| panic!("does not compile: {diags:?}\n{rendered}"));
    let a = Admission::new(&khc_analysis::objects(&out));
    let ns = |n: &str| khc_analysis::selector::labels(&json!({"kubernetes.io/metadata.name": n}));
    let rules_denying = |namespace: &str, object: &Value| -> Vec<String> {
        let mut out = Vec::new();
        for (p, b) in a.applicable("", "pods", &ns(namespace)) {
            if p.name != "khc-nodes-payments" {
                continue;
            }
            for v in p.evaluate(object, &b.actions) {
                assert!(v.error.is_none(), "{}: {:?}", v.rule, v.error);
                out.push(v.message);
            }
        }
        out
    };
    let attack: Vec<(&str, Value)> = vec![
        ("payments' nodeSelector", pod(&[("/spec/nodeSelector", json!({"pool": "payments"}))])),
        (
            "payments' toleration",
            pod(&[("/spec/tolerations", json!([{"key": "dedicated", "operator": "Equal", "value": "payments", "effect": "NoSchedule"}]))]),
        ),
        ("Exists on payments' key", pod(&[("/spec/tolerations", json!([{"key": "dedicated", "operator": "Exists"}]))])),
        ("tolerate everything", pod(&[("/spec/tolerations", json!([{"operator": "Exists"}]))])),
        ("tolerate every NoExecute taint", pod(&[("/spec/tolerations", json!([{"operator": "Exists", "effect": "NoExecute"}]))])),
        ("nodeName", pod(&[("/spec/nodeName", json!("payments-node-1"))])),
        (
            "required node affinity for payments' pool",
            pod(&[(
                "/spec/affinity",
                json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["shop", "payments"]}]}]}}}),
            )]),
        ),
        (
            "DaemonSet tolerating everything",
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "r/a:1"}], "tolerations": [{"operator": "Exists"}]}}}}),
        ),
    ];
    let fine: Vec<(&str, Value)> = vec![
        ("plain pod", pod(&[])),
        ("another pool", pod(&[("/spec/nodeSelector", json!({"pool": "shop"}))])),
        ("only the shared zone label", pod(&[("/spec/nodeSelector", json!({"topology.kubernetes.io/zone": "eu-1a"}))])),
        ("another tenant's taint", pod(&[("/spec/tolerations", json!([{"key": "dedicated", "operator": "Equal", "value": "shop"}]))])),
        (
            "the default NoExecute tolerations",
            pod(&[(
                "/spec/tolerations",
                json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
            )]),
        ),
    ];
    let mut problems = Vec::new();
    for namespace in ["shop", "ingress-nginx"] {
        for (name, object) in &attack {
            if rules_denying(namespace, object).is_empty() {
                problems.push(format!("{namespace}: {name} admitted"));
            }
        }
        for (name, object) in &fine {
            let d = rules_denying(namespace, object);
            if !d.is_empty() {
                problems.push(format!("{namespace}: {name} denied: {d:?}"));
            }
        }
    }
    // Not bound in the tenant's own namespace nor in the system namespaces.
    for namespace in ["payments", "kube-system"] {
        assert!(a.applicable("", "pods", &ns(namespace)).iter().all(|(p, _)| p.name != "khc-nodes-payments"), "bound in {namespace}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A projected `serviceAccountToken` volume mounts the token as surely as
/// `automountServiceAccountToken: true` (issue 17, item 7): only workloads
/// declared `automount-token true` may have one.
#[test]
fn projected_token_volumes_need_automount_token() {
    let source = "cluster c {\n  kubernetes 1.37\n}\ntenant t {\n  workload reader { automount-token true }\n  workload app {}\n}\n";
    let (out, diags, rendered) = compile_sources(&[("main.khc", source)]);
    let out = out.unwrap_or_else(|| panic!("does not compile: {diags:?}\n{rendered}"));
    let a = Admission::new(&khc_analysis::objects(&out));
    let token_rule = |object: &Value| -> bool {
        a.policies.iter().filter(|p| p.name == "khc-tenant-t").flat_map(|p| p.evaluate(object, &["Deny".to_string()])).any(|v| v.rule == "automount-token")
    };
    let projected = json!([{"name": "tok", "projected": {"sources": [{"configMap": {"name": "c"}}, {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}]);
    let as_sa = |sa: &str, volumes: Option<&Value>| {
        let mut p = pod(&[("/spec/serviceAccountName", json!(sa))]);
        if let Some(v) = volumes {
            p["spec"]["volumes"] = v.clone();
        }
        p
    };
    assert!(token_rule(&as_sa("app", Some(&projected))), "a projected token volume for a workload without automount-token true is admitted");
    assert!(token_rule(&as_sa("default", Some(&projected))), "a projected token volume for `default` is admitted");
    assert!(!token_rule(&as_sa("reader", Some(&projected))), "the automount-token true workload may project its token");
    assert!(!token_rule(&as_sa("app", None)), "a pod without a token is denied");
    let other = json!([{"name": "cm", "projected": {"sources": [{"configMap": {"name": "c"}}, {"downwardAPI": {"items": []}}]}}]);
    assert!(!token_rule(&as_sa("app", Some(&other))), "projected volumes without a token are denied");
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {"serviceAccountName": "app", "containers": [{"name": "a", "image": "r/a:1"}], "volumes": projected}}}});
    assert!(token_rule(&deployment), "a Deployment's template with a projected token is admitted");
}

/// `managed-by serviceaccount "argocd/…"` (issue 17, item 2): pods and pod
/// templates in the applier's namespace may not run as the applier.
#[test]
fn pods_may_not_run_as_the_applier() {
    let source = "cluster c {\n  kubernetes 1.37\n  managed-by serviceaccount \"argocd/argocd-application-controller\"\n}\ntenant t {}\n";
    let (out, diags, rendered) = compile_sources(&[("main.khc", source)]);
    let out = out.unwrap_or_else(|| panic!("does not compile: {diags:?}\n{rendered}"));
    let a = Admission::new(&khc_analysis::objects(&out));
    let ns = khc_analysis::selector::labels(&json!({"kubernetes.io/metadata.name": "argocd"}));
    let denied = |object: &Value| -> bool {
        a.applicable("", "pods", &ns).iter().filter(|(p, _)| p.name == "khc-managed-by.applier").any(|(p, b)| !p.evaluate(object, &b.actions).is_empty())
    };
    let in_argocd = |sa: Option<&str>, old_field: bool| {
        let mut p = pod(&[("/metadata/namespace", json!("argocd"))]);
        if let Some(sa) = sa {
            p["spec"][if old_field { "serviceAccount" } else { "serviceAccountName" }] = json!(sa);
        }
        p
    };
    assert!(denied(&in_argocd(Some("argocd-application-controller"), false)), "a pod as the applier is admitted");
    assert!(denied(&in_argocd(Some("argocd-application-controller"), true)), "a pod as the applier (deprecated serviceAccount) is admitted");
    assert!(!denied(&in_argocd(Some("argocd-server"), false)), "another ServiceAccount is denied");
    assert!(!denied(&in_argocd(None, false)), "default is denied");
    assert!(a
        .applicable("", "pods", &khc_analysis::selector::labels(&json!({"kubernetes.io/metadata.name": "t"})))
        .iter()
        .all(|(p, _)| p.name != "khc-managed-by.applier"));
    assert!(a.policies.iter().any(|p| p.name == "khc-managed-by.tokens" && p.resources.contains(&(String::new(), "serviceaccounts/token".to_string()))));
}

/// Custom rules (issue 20 item 8): each is a ValidatingAdmissionPolicy of its own,
/// matching only its resources (built-in groups at `v1`, others at `*`), with the
/// scope's binding actions; `khc eval`'s evaluator applies it like the API server.
#[test]
fn custom_rules_get_their_own_policy() {
    let a = admission(
        r#"mode warn audit
    no-privileged
    rule few-replicas {
      kinds deployments.apps statefulsets.apps
      cel "!has(object.spec.replicas) || object.spec.replicas <= 5"
      message "at most 5 replicas"
    }
    rule widget-owner {
      kinds widgets.example.com
      cel "has(object.spec.owner)"
      message "widgets need an owner"
    }"#,
        35,
    );
    let p = a.policies.iter().find(|p| p.name == "khc-tenant-t.rule-few-replicas").expect("its own policy");
    assert_eq!(p.resources, [("apps".to_string(), "deployments".to_string()), ("apps".to_string(), "statefulsets".to_string())]);
    assert_eq!(p.bindings[0].actions, ["Warn", "Audit"], "the block's mode");
    assert!(p.checks[0].message.ends_with("[khc rule few-replicas at main.khc:8]"), "{}", p.checks[0].message);
    let deployment = |replicas: u32| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": replicas}});
    assert_eq!(p.evaluate(&deployment(9), &["Deny".into()]).iter().map(|v| v.rule.clone()).collect::<Vec<_>>(), ["few-replicas"]);
    assert!(p.evaluate(&deployment(5), &["Deny".into()]).is_empty());
    // The pod policy is untouched (no custom rule in it).
    let pods = a.policies.iter().find(|p| p.name == "khc-tenant-t").expect("the pod policy");
    assert!(pods.checks.iter().all(|c| c.rule != "few-replicas"));
    let widget = a.policies.iter().find(|p| p.name == "khc-tenant-t.rule-widget-owner").expect("a CRD rule");
    assert_eq!(widget.resources, [("example.com".to_string(), "widgets".to_string())]);
}

/// Bad custom rules are errors with a span: CEL that does not parse, a resource
/// that is not `PLURAL[.GROUP]`, a missing part, a built-in rule's name, a
/// duplicate.
#[test]
fn custom_rule_mistakes_are_errors() {
    let rule = |body: &str| format!("rule r {{\n      {body}\n    }}");
    let good = r#"kinds pods; cel "true"; message "m""#;
    let cases = [
        (rule(r#"kinds pods; cel "object.spec.replicas <="; message "m""#), "the expression is not CEL"),
        (rule(r#"kinds Deployment; cel "true"; message "m""#), "`Deployment` is not a resource"),
        (rule(r#"kinds deployments.Apps; cel "true"; message "m""#), "is not a resource"),
        (rule(r#"kinds pods; message "m""#), "rule `r` needs `cel`"),
        (rule(r#"kinds pods; cel "true"; message """#), "`message` needs one quoted, non-empty text"),
        (rule(r#"kinds pods; cel true; message "m""#), "`cel` needs one quoted expression"),
        (format!("rule no-privileged {{ {good} }}"), "is a built-in rule"),
        (format!("rule r {{ {good} }}\n    rule r {{ {good} }}"), "rule `r`"),
        ("rule r".to_string(), "needs a block"),
    ];
    for (rules, want) in cases {
        let source = format!("cluster c {{\n  kubernetes 1.35\n}}\ntenant t {{\n  admission {{\n    {rules}\n  }}\n}}\n");
        let (_, diags, rendered) = compile_sources(&[("main.khc", &source)]);
        assert!(diags.iter().any(|d| d.is_error() && d.message.contains(want)), "{rules}: want {want:?}, got\n{rendered}");
    }
}

/// `khc report` lists each custom rule with its scope, resources, actions,
/// message and expression.
#[test]
fn custom_rules_are_in_the_report() {
    let tmp = kube::TempDir::new("custom-report");
    std::fs::write(
        tmp.0.join("main.khc"),
        "cluster c {\n  kubernetes 1.35\n}\ntenant t {\n  admission {\n    mode warn\n    rule few-replicas {\n      kinds deployments.apps\n      cel \"object.spec.replicas <= 5\"\n      message \"at most 5 replicas\"\n    }\n  }\n}\n",
    )
    .unwrap();
    let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
    let md = khc_analysis::report::custom_rules_markdown(&ws);
    assert_eq!(
        md,
        "\n## Custom rules\n\n* t / `few-replicas` (main.khc:7): warn judges deployments.apps: \"at most 5 replicas\" — `object.spec.replicas <= 5`\n"
    );
    let rows = khc_analysis::report::compliance(&ws);
    assert!(khc_analysis::report::markdown(&ws, &rows).contains("## Custom rules"));
}

/// `khc diff` shows a custom rule whose `cel` changed while its message and
/// mode stayed (the expression is part of the rule's fact), and a changed
/// expression that mentions `Deny` is not read as an action change.
#[test]
fn diff_shows_a_changed_custom_rule_expression() {
    let project = |tag: &str, cel: &str| {
        let tmp = kube::TempDir::new(tag);
        std::fs::write(
            tmp.0.join("main.khc"),
            format!("cluster c {{\n  kubernetes 1.35\n}}\ntenant t {{\n  admission {{\n    rule few-replicas {{\n      kinds deployments.apps\n      cel \"{cel}\"\n      message \"too many replicas\"\n    }}\n  }}\n}}\n"),
        )
        .unwrap();
        let ws = khc_analysis::Workspace::load(&tmp.0).expect("builds");
        (tmp, ws)
    };
    let (_a, old) = project("custom-diff-old", "object.spec.replicas <= 5");
    let (_b, new) = project("custom-diff-new", "object.spec.replicas <= 9 || object.metadata.name != 'Deny'");
    let changes = khc_analysis::diff::compare(&old, &new);
    let rule: Vec<_> = changes.iter().filter(|c| c.category == "admission" && c.what.contains("few-replicas")).collect();
    assert_eq!(rule.len(), 1, "{changes:#?}");
    assert_eq!(rule[0].effect, khc_analysis::diff::Effect::Changed, "{changes:#?}");
    assert!(rule[0].before.ends_with("object.spec.replicas <= 5"), "{:?}", rule[0]);
    assert!(rule[0].after.contains("<= 9"), "{:?}", rule[0]);
    // The same source twice: no change.
    let (_c, same) = project("custom-diff-same", "object.spec.replicas <= 5");
    assert!(khc_analysis::diff::compare(&old, &same).is_empty());
}
