//! `khc import`'s property: for what was imported, `who-can`/`can` and `reach`
//! answer the same on the built project as on the imported objects — khc's RBAC
//! and NetworkPolicy evaluators (`khc-analysis`) run on both sides — on the
//! hand-written legacy sample (`tests/import/legacy.yaml`, its project and
//! report golden) and on generated objects (proptest). The project builds with no
//! error.

use khc_analysis::admission::Admission;
use khc_analysis::manifest::{parse, Manifest};
use khc_analysis::network::{Endpoint, Network};
use khc_analysis::rbac::{Rbac, Request, Subject};
use khc_analysis::Object;
use khc_import::{import, Imported, Options};
use khc_tests::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Builds the imported project: no error, its objects.
fn build(imported: &Imported) -> Vec<Object> {
    let (out, diags, rendered) = compile_sources(&[("imported.khc", &imported.source)]);
    let errors: Vec<_> = diags.iter().filter(|d| d.severity == khc_syntax::Severity::Error).collect();
    assert!(errors.is_empty(), "the imported project has errors:\n{rendered}\n{}", imported.source);
    khc_analysis::objects(&out.expect("built"))
}

/// The legacy objects that were imported: every object the report does not
/// leave out in full.
fn imported_objects(manifests: &[Manifest], imported: &Imported) -> Vec<Object> {
    let left: BTreeSet<&str> =
        imported.left_out.iter().filter(|i| i.field.is_none() || i.field.as_deref() == Some("roleRef")).map(|i| i.object.as_str()).collect();
    manifests
        .iter()
        .filter(|m| {
            let v = &m.value;
            let kind = v["kind"].as_str().unwrap_or("");
            let name = v["metadata"]["name"].as_str().unwrap_or("");
            let what = match v["metadata"]["namespace"].as_str() {
                Some(ns) => format!("{kind} {ns}/{name}"),
                None => format!("{kind} {name}"),
            };
            // A role left out because one of its rules cannot be expressed is
            // reported with that rule's field.
            let role_left = matches!(kind, "Role" | "ClusterRole") && imported.left_out.iter().any(|i| i.object == what);
            !left.contains(what.as_str()) && !role_left
        })
        .map(|m| Object { path: m.location(), value: m.value.clone() })
        .collect()
}

/// Every subject of the legacy bindings and every ServiceAccount.
fn subjects(objs: &[Object]) -> Vec<Subject> {
    let mut out = BTreeSet::from([Subject::user("mallory")]);
    for o in objs {
        for s in o.value["subjects"].as_array().cloned().unwrap_or_default() {
            let name = s["name"].as_str().unwrap_or_default();
            match s["kind"].as_str() {
                Some("User") => drop(out.insert(Subject::user(name))),
                Some("Group") => drop(out.insert(Subject::group(name))),
                Some("ServiceAccount") => drop(out.insert(Subject::sa(s["namespace"].as_str().or(o.namespace()).unwrap_or_default(), name))),
                _ => {}
            }
        }
    }
    out.into_iter().collect()
}

/// Questions: every verb × resource (and URL) the legacy roles name, plus risky ones.
fn questions(objs: &[Object], namespaces: &[String]) -> Vec<Request> {
    let mut asked = BTreeSet::new();
    for o in objs.iter().filter(|o| matches!(o.kind(), "Role" | "ClusterRole")) {
        for r in o.value["rules"].as_array().cloned().unwrap_or_default() {
            let s = |v: &Value| v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect::<Vec<_>>()).unwrap_or_default();
            let names = s(&r["resourceNames"]);
            for verb in s(&r["verbs"]) {
                for url in s(&r["nonResourceURLs"]) {
                    asked.insert((verb.clone(), url, None));
                }
                for g in s(&r["apiGroups"]) {
                    for res in s(&r["resources"]) {
                        let text = match res.split_once('/') {
                            Some((b, sub)) if !g.is_empty() => format!("{b}.{g}/{sub}"),
                            _ if !g.is_empty() => format!("{res}.{g}"),
                            _ => res.clone(),
                        };
                        asked.insert((verb.clone(), text.clone(), None));
                        // A top-level create or deletecollection carries no name.
                        let named = res.contains('/') || !matches!(verb.as_str(), "create" | "deletecollection");
                        for n in names.iter().filter(|_| named) {
                            asked.insert((verb.clone(), text.clone(), Some(n.clone())));
                            asked.insert((verb.clone(), text.clone(), Some("other".to_string())));
                        }
                    }
                }
            }
        }
    }
    for (v, r) in
        [("get", "secrets"), ("create", "pods"), ("list", "pods"), ("update", "deployments.apps"), ("get", "nodes"), ("get", "/metrics"), ("get", "/healthz")]
    {
        asked.insert((v.to_string(), r.to_string(), None));
    }
    let mut out = Vec::new();
    for (v, r, n) in asked {
        out.push(Request::new(&v, &r, None, n.as_deref()));
        if !r.starts_with('/') {
            for ns in namespaces {
                out.push(Request::new(&v, &r, Some(ns), n.as_deref()));
            }
        }
    }
    out
}

/// Asserts the RBAC equivalence; returns the number of questions asked.
fn rbac_equivalent(legacy: &[Object], built: &[Object], namespaces: &[String]) -> usize {
    let (a, b) = (Rbac::new(legacy), Rbac::new(built));
    let mut differ = Vec::new();
    let mut n = 0;
    for who in subjects(legacy) {
        for req in questions(legacy, namespaces) {
            n += 1;
            let (x, y) = (a.can(&who, &req), b.can(&who, &req));
            if x != y {
                differ.push(format!("{who} {}: legacy {x}, imported {y}", req.describe()));
            }
        }
    }
    assert!(differ.is_empty(), "who-can/can differ:\n{}", differ.join("\n"));
    n
}

/// Endpoints: in every namespace whose policies were imported, a pod without
/// labels and one per selector of the legacy policies and the built workloads;
/// and some addresses.
fn endpoints(legacy: &[Object], built: &[Object], namespaces: &[String], tenant_namespaces: &[String]) -> Vec<Endpoint> {
    let mut sels: BTreeSet<(String, Vec<(String, String)>)> = BTreeSet::new();
    let labels = |v: &Value| -> Vec<(String, String)> {
        v["matchLabels"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default()
    };
    for o in legacy.iter().chain(built).filter(|o| o.kind() == "NetworkPolicy") {
        let ns = o.namespace().unwrap_or_default().to_string();
        sels.insert((ns.clone(), labels(&o.value["spec"]["podSelector"])));
        for dir in ["ingress", "egress"] {
            for r in o.value["spec"][dir].as_array().cloned().unwrap_or_default() {
                for p in r["from"].as_array().or(r["to"].as_array()).cloned().unwrap_or_default() {
                    let pns = p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str().map(str::to_string).unwrap_or(ns.clone());
                    sels.insert((pns, labels(&p["podSelector"])));
                }
            }
        }
    }
    let mut out: Vec<Endpoint> = Vec::new();
    for ns in namespaces {
        sels.insert((ns.clone(), Vec::new()));
    }
    for (ns, l) in sels {
        // Pods of the namespaces whose policies were imported, and of namespaces no
        // tenant owns (ingress-nginx); kube-system's DNS is khc's own `allow-dns`.
        if namespaces.contains(&ns) || (!tenant_namespaces.contains(&ns) && ns != "kube-system") {
            // Each pod with and without named container ports, so that a named
            // port (`port: http`) is asked about where it resolves and where not.
            let labels: std::collections::BTreeMap<String, String> = l.into_iter().collect();
            out.push(Endpoint::Pod { namespace: ns.clone(), labels: labels.clone(), ports: Vec::new() });
            out.push(Endpoint::Pod { namespace: ns, labels, ports: vec![("http".into(), "TCP".into(), 8080), ("metrics".into(), "TCP".into(), 9102)] });
        }
    }
    for ip in [Ipv4Addr::new(203, 0, 113, 5), Ipv4Addr::new(198, 51, 100, 7), Ipv4Addr::new(10, 1, 2, 3)] {
        out.push(Endpoint::ip(ip));
    }
    out
}

/// Asserts the reach equivalence; returns the number of questions asked.
fn reach_equivalent(legacy: &[Object], built: &[Object], imported: &Imported, ports: &[(u16, &str)]) -> usize {
    let (a, b) = (Network::new(legacy), Network::new(built));
    let tenant_namespaces: Vec<String> = imported.tenants.values().flatten().cloned().collect();
    let eps = endpoints(legacy, built, &imported.network_imported, &tenant_namespaces);
    let mut differ = Vec::new();
    let mut n = 0;
    for src in &eps {
        for dst in &eps {
            if matches!((src, dst), (Endpoint::Net { .. }, Endpoint::Net { .. })) {
                continue;
            }
            for (port, proto) in ports {
                n += 1;
                let (x, y) = (a.allowed(src, dst, *port, proto), b.allowed(src, dst, *port, proto));
                if x != y {
                    differ.push(format!("{src:?} → {dst:?} {port}/{proto}: legacy {x}, imported {y}"));
                }
            }
        }
    }
    assert!(differ.is_empty(), "reach differs:\n{}", differ.join("\n"));
    n
}

fn legacy_sample() -> (Vec<Manifest>, Imported) {
    let path = repo_root().join("tests/import/legacy.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifests = parse("tests/import/legacy.yaml", &text).unwrap();
    let imported = import(&manifests, &Options::default());
    (manifests, imported)
}

#[test]
fn legacy_sample_imports_builds_and_answers_alike() {
    let (manifests, imported) = legacy_sample();
    assert_golden(&repo_root().join("tests/import/legacy.khc"), &imported.source);
    assert_golden(&repo_root().join("tests/import/legacy.report"), &imported.report_text());
    let built = build(&imported);
    let legacy = imported_objects(&manifests, &imported);
    let namespaces: Vec<String> = imported.tenants.values().flatten().cloned().collect();
    let rbac = rbac_equivalent(&legacy, &built, &namespaces);
    let reach =
        reach_equivalent(&legacy, &built, &imported, &[(8080, "TCP"), (443, "TCP"), (53, "UDP"), (80, "TCP"), (9102, "TCP"), (9102, "UDP"), (9102, "SCTP")]);
    eprintln!("legacy sample: {rbac} RBAC questions and {reach} reach questions answered alike");
    // The network of `web` (ingress-only isolation, a named port) is imported with
    // the port's name; billing's too.
    assert!(imported.network_imported.contains(&"web".to_string()));
    assert!(imported.source.contains("allow ingress from namespace ingress-nginx to workload frontend ports http"), "{}", imported.source);
    assert!(imported.network_imported.contains(&"billing".to_string()));
    assert!(imported.network_imported.contains(&"blog".to_string()));
    assert!(imported.source.contains("tenant blog {\n  namespaces blog\n  pod-security restricted\n  isolation ingress"), "{}", imported.source);
    assert!(!imported.left_out.iter().any(|i| i.object.starts_with("NetworkPolicy web/")));
    // Kyverno's `validate.cel` → a custom rule, built into its own policy.
    assert!(imported.source.contains("rule require-team {\n      kinds deployments.apps statefulsets.apps\n"), "{}", imported.source);
    assert!(built.iter().any(|o| o.kind() == "ValidatingAdmissionPolicy" && o.name() == "khc-cluster.rule-require-team"));
    // Gatekeeper's K8sNativeValidation → custom rules that judge like the template.
    let judged = gatekeeper_cel_equivalent(&manifests, &built);
    eprintln!("legacy sample: {judged} Gatekeeper CEL verdicts alike");
}

/// The oracle for an imported Gatekeeper CEL constraint: a ValidatingAdmissionPolicy
/// with the template's own `variables` (after `params`, the constraint's
/// parameters, and `anyObject`, the object, as Gatekeeper binds them) and its
/// validations as written, judged by the same evaluator as the imported custom
/// rule (variables inlined, parameters written in).
fn gatekeeper_oracle(manifests: &[Manifest], constraint: &str) -> Admission {
    let find = |kind: &str, name: &str| manifests.iter().find(|m| m.value["kind"] == kind && m.value["metadata"]["name"] == name).unwrap().value.clone();
    let c = find("K8sRequiredLabels", constraint);
    let t = find("ConstraintTemplate", "k8srequiredlabels");
    let source = &t["spec"]["targets"][0]["code"][0]["source"];
    let mut variables = vec![
        json!({"name": "params", "expression": serde_json::to_string(&c["spec"]["parameters"]).unwrap()}),
        json!({"name": "anyObject", "expression": "object"}),
    ];
    variables.extend(source["variables"].as_array().unwrap().iter().cloned());
    let validations: Vec<Value> = source["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| json!({"expression": v["expression"], "message": v["message"].as_str().unwrap_or("from messageExpression")}))
        .collect();
    let policy = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": "gatekeeper"},
        "spec": {"failurePolicy": "Fail", "variables": variables, "validations": validations,
            "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}]}}});
    let binding = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "gatekeeper"},
        "spec": {"policyName": "gatekeeper", "validationActions": ["Deny"], "matchResources": {"namespaceSelector": {}}}});
    Admission::new(&[Object { path: "oracle".into(), value: policy }, Object { path: "oracle".into(), value: binding }])
}

/// Deployments in `shop` with and without the `owner` label, matching its
/// pattern or not: the imported rules (policy `khc-tenant-shop.rule-shop-owner-N`)
/// and the oracle deny exactly the same ones, with at least one of each.
fn gatekeeper_cel_equivalent(manifests: &[Manifest], built: &[Object]) -> usize {
    let oracle = gatekeeper_oracle(manifests, "shop-owner");
    let imported = Admission::new(built);
    let labels = [json!(null), json!({}), json!({"owner": "alice"}), json!({"owner": "Alice-1"}), json!({"team": "shop"}), json!({"owner": ""})];
    let mut denied = 0;
    for l in &labels {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "shop"}, "spec": {}});
        if !l.is_null() {
            d["metadata"]["labels"] = l.clone();
        }
        let oracle_says: Vec<_> = oracle.policies.iter().flat_map(|p| p.evaluate(&d, &[])).collect();
        assert!(oracle_says.iter().all(|v| v.error.is_none()), "the oracle fails to evaluate on {l}: {oracle_says:?}");
        let want: Vec<String> = oracle_says.into_iter().map(|v| v.message).collect();
        let got: Vec<String> = imported
            .policies
            .iter()
            .filter(|p| p.name.starts_with("khc-tenant-shop.rule-shop-owner"))
            .flat_map(|p| p.evaluate(&d, &[]))
            .map(|v| match v.error {
                None => v.message,
                Some(e) => panic!("the imported rule fails to evaluate on {l}: {e}"),
            })
            .collect();
        assert_eq!(got.len(), want.len(), "labels {l}: Gatekeeper's CEL denies {want:?}, the imported rules {got:?}");
        denied += usize::from(!want.is_empty());
    }
    assert!(denied > 0 && denied < labels.len(), "a sample all admitted or all denied proves nothing");
    labels.len()
}

#[test]
fn tenants_group_by_label_or_mapping() {
    let (manifests, _) = legacy_sample();
    let by_label = import(&manifests, &Options { tenant_label: Some("team".into()), ..Options::default() });
    assert_eq!(by_label.tenants.keys().cloned().collect::<Vec<_>>(), ["billing", "platform", "shop", "web"]);
    assert_eq!(by_label.tenants["platform"], ["monitoring"]);
    let mut opts = Options::default();
    opts.tenant_of.insert("shop".into(), "commerce".into());
    opts.tenant_of.insert("billing".into(), "commerce".into());
    let mapped = import(&manifests, &opts);
    assert_eq!(mapped.tenants["commerce"], ["billing", "shop"]);
    // Two namespaces in one tenant: billing's NetworkPolicies and shop's Role are
    // not alike in both, so they are left out rather than widened; it still builds.
    assert!(mapped.left_out.iter().any(|i| i.object == "Role shop/deployer"));
    assert!(mapped.left_out.iter().any(|i| i.object == "NetworkPolicy billing/from-shop-api"));
    let built = build(&mapped);
    let legacy = imported_objects(&manifests, &mapped);
    let namespaces: Vec<String> = mapped.tenants.values().flatten().cloned().collect();
    rbac_equivalent(&legacy, &built, &namespaces);
}

// ---------------------------------------------------------------------------------
// Generated legacy objects.

const RESOURCES: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "pods/log"),
    ("", "secrets"),
    ("", "configmaps"),
    ("apps", "deployments"),
    ("apps", "deployments/scale"),
    ("batch", "jobs"),
    ("example.com", "widgets"),
];
const CLUSTER_RESOURCES: &[(&str, &str)] = &[("", "nodes"), ("", "nodes/metrics"), ("", "namespaces")];
const VERBS: &[&str] = &["get", "list", "watch", "create", "update", "delete"];
const LABELS: &[&str] = &["api", "db", "worker"];

fn ns_name(i: usize) -> String {
    format!("ns{i}")
}

fn rule(is_cluster: bool) -> impl Strategy<Value = Value> {
    let res = if is_cluster { [RESOURCES, CLUSTER_RESOURCES].concat() } else { RESOURCES.to_vec() };
    (
        proptest::sample::select(res),
        proptest::sample::subsequence(VERBS.to_vec(), 1..4),
        proptest::option::of(proptest::sample::select(vec!["a", "b"])),
        any::<bool>(),
    )
        .prop_map(move |((g, r), verbs, name, url)| {
            if is_cluster && url {
                return json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]});
            }
            let mut v = json!({"apiGroups": [g], "resources": [r], "verbs": verbs});
            if let Some(n) = name {
                v["resourceNames"] = json!([n]);
            }
            v
        })
}

fn subject(nss: usize) -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::sample::select(vec!["alice", "bob"]).prop_map(|u| json!({"kind": "User", "name": u})),
        proptest::sample::select(vec!["devs", "ops"]).prop_map(|g| json!({"kind": "Group", "name": g})),
        (0..nss, proptest::sample::select(vec!["ci", "app"])).prop_map(|(i, n)| json!({"kind": "ServiceAccount", "name": n, "namespace": ns_name(i)})),
    ]
}

fn np_peer(nss: usize) -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::option::of(proptest::sample::select(LABELS.to_vec())).prop_map(|l| match l {
            Some(l) => json!({"podSelector": {"matchLabels": {"app": l}}}),
            None => json!({"podSelector": {}}),
        }),
        (0..nss, proptest::option::of(proptest::sample::select(LABELS.to_vec()))).prop_map(|(i, l)| {
            let mut p = json!({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns_name(i)}}});
            if let Some(l) = l {
                p["podSelector"] = json!({"matchLabels": {"app": l}});
            }
            p
        }),
        Just(json!({"ipBlock": {"cidr": "203.0.113.0/24"}})),
    ]
}

fn policies(ns: String, nss: usize) -> impl Strategy<Value = Vec<Value>> {
    (
        0..3u8,
        proptest::collection::vec(
            (
                proptest::option::of(proptest::sample::select(LABELS.to_vec())),
                any::<bool>(),
                np_peer(nss),
                proptest::option::of(proptest::sample::select(vec![80u16, 443, 8080])),
                proptest::sample::select(vec![vec!["TCP"], vec!["UDP"], vec!["TCP", "UDP"]]),
            ),
            0..3,
        ),
    )
        .prop_map(move |(deny, rules)| {
            let mut out = Vec::new();
            // 0: no default deny; 1: ingress and egress; 2: ingress only (staged).
            let types = match deny {
                1 => json!(["Ingress", "Egress"]),
                2 => json!(["Ingress"]),
                _ => Value::Null,
            };
            if !types.is_null() {
                out.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": ns},
                    "spec": {"podSelector": {}, "policyTypes": types}}));
            }
            for (i, (target, ingress, peer, port, protos)) in rules.into_iter().enumerate() {
                let sel = match target {
                    Some(l) => json!({"matchLabels": {"app": l}}),
                    None => json!({}),
                };
                let mut r = json!({});
                r[if ingress { "from" } else { "to" }] = json!([peer]);
                if let Some(p) = port {
                    r["ports"] = json!(protos.iter().map(|proto| json!({"port": p, "protocol": proto})).collect::<Vec<_>>());
                }
                let (ty, key) = if ingress { ("Ingress", "ingress") } else { ("Egress", "egress") };
                let mut spec = json!({"podSelector": sel, "policyTypes": [ty]});
                spec[key] = json!([r]);
                out.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": format!("p{i}"), "namespace": ns}, "spec": spec}));
            }
            out
        })
}

fn legacy_objects() -> impl Strategy<Value = Vec<Value>> {
    (1usize..4).prop_flat_map(|nss| {
        let namespaces: Vec<Value> = (0..nss)
            .map(|i| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns_name(i), "labels": {"kubernetes.io/metadata.name": ns_name(i)}}}))
            .collect();
        let roles = proptest::collection::vec((0..nss, proptest::collection::vec(rule(false), 1..3), proptest::collection::vec(subject(nss), 1..3)), 0..3);
        let croles =
            proptest::collection::vec((proptest::collection::vec(rule(true), 1..3), proptest::collection::vec(subject(nss), 1..3), any::<bool>()), 0..2);
        let nps = (0..nss).map(|i| policies(ns_name(i), nss)).collect::<Vec<_>>();
        (Just(namespaces), roles, croles, nps).prop_map(|(namespaces, roles, croles, nps)| {
            let mut out = namespaces;
            for (i, (ns, rules, subjects)) in roles.into_iter().enumerate() {
                let name = format!("role{i}");
                out.push(
                    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns_name(ns)}, "rules": rules}),
                );
                out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns_name(ns)},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}, "subjects": subjects}));
            }
            for (i, (rules, subjects, in_ns)) in croles.into_iter().enumerate() {
                let name = format!("cluster-role{i}");
                out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules}));
                if in_ns {
                    out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": ns_name(0)},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}, "subjects": subjects}));
                } else {
                    out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}, "subjects": subjects}));
                }
            }
            out.extend(nps.into_iter().flatten());
            out
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_objects_import_and_answer_alike(objs in legacy_objects()) {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objs});
        let manifests = parse("generated.yaml", &serde_json::to_string(&list).unwrap()).unwrap();
        let imported = import(&manifests, &Options::default());
        let built = build(&imported);
        let legacy = imported_objects(&manifests, &imported);
        let namespaces: Vec<String> = imported.tenants.values().flatten().cloned().collect();
        rbac_equivalent(&legacy, &built, &namespaces);
        reach_equivalent(&legacy, &built, &imported, &[(80, "TCP"), (443, "TCP"), (8080, "TCP"), (53, "UDP"), (80, "UDP"), (443, "UDP")]);
    }
}
