//! Issue 24, item 1: the query commands load the evaluators from the typed
//! objects khc emits (`Workspace::load`, `khc_analysis::model_objects`), never
//! from YAML written and parsed again. The YAML round trip stays as the oracle:
//! on the examples, generated workspaces and a
//! generated fleet, both paths give the same objects (path, order, every field)
//! and the same answers (the whole posture — reachability matrix with reasons,
//! every subject's permissions, every admission rule —, `who-can` per namespace
//! with escalations in a sample of namespaces, and `eval` of manifests in every namespace).
//! The fast paths of the question commands hold too (`assert_fast_paths_same`):
//! evaluators built in one pass, a tenant's unit built only for the kinds an
//! evaluator reads, the applier head built without its policy's CEL.

use khc_analysis::diff::Posture;
use khc_analysis::rbac::Request;
use khc_analysis::Workspace;
use khc_tests::repo_root;
use std::path::Path;

/// `khc eval`'s tenant views emit only what judges a pod, Service or claim
/// (`khc_emit::objects::tenant_judges`): the tenant's Namespaces, admission
/// policies and bindings among everything it emits (`khc_emit::tenant_built`),
/// in its order, each the same object; every policy left out matches none of
/// the resources `eval` judges, and so does every left-out binding's policy.
fn assert_views_leave_out_only_other_kinds(ws: &Workspace, tag: &str) {
    let kinds = ["Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"];
    let judged: Vec<(&str, &str)> =
        khc_rules::facts::POD_KINDS.iter().map(|k| (k.group, k.plural)).chain(khc_rules::facts::RESOURCE_KINDS.iter().map(|r| (r.1, r.2))).collect();
    let mut left_out = 0;
    for t in ws.tenants() {
        let all: Vec<(&str, String, serde_json::Value)> =
            khc_emit::tenant_built(t).into_iter().filter(|b| kinds.contains(&b.kind)).map(|b| (b.kind, b.name.clone(), b.body.json())).collect();
        let judges: Vec<(&str, String, serde_json::Value)> =
            khc_emit::objects::tenant_judges(t).into_iter().map(|b| (b.kind, b.name.clone(), b.body.json())).collect();
        let mut rest = all.iter();
        for j in &judges {
            assert!(rest.any(|a| a == j), "{tag}: tenant {}: {} {} is not among its objects, in order", t.name, j.0, j.1);
        }
        for (kind, name, value) in all.iter().filter(|a| !judges.contains(a)) {
            left_out += 1;
            let policy = if *kind == "ValidatingAdmissionPolicyBinding" { value["spec"]["policyName"].as_str().unwrap_or("") } else { name.as_str() };
            assert_ne!(*kind, "Namespace", "{tag}: tenant {}: Namespace {name} left out", t.name);
            let spec = &all.iter().find(|(k, n, _)| *k == "ValidatingAdmissionPolicy" && n == policy).expect("the binding's policy is the tenant's").2["spec"];
            for rule in spec["matchConstraints"]["resourceRules"].as_array().into_iter().flatten() {
                for g in rule["apiGroups"].as_array().into_iter().flatten().filter_map(|g| g.as_str()) {
                    for r in rule["resources"].as_array().into_iter().flatten().filter_map(|r| r.as_str()) {
                        let matches = |(jg, jr): &(&str, &str)| (g == "*" || g == *jg) && (r == "*" || r == *jr);
                        assert!(!judged.iter().any(matches), "{tag}: tenant {}: {kind} {name} left out, but its policy matches {g}/{r}", t.name);
                    }
                }
            }
        }
    }
    assert!(left_out > 0 || ws.tenants().all(|t| t.managed_by.is_empty()), "{tag}: the protection policies are left out");
}

/// Loads `path` both ways and asserts the objects and the answers are equal.
fn assert_same(path: &Path) {
    let typed = Workspace::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_views_leave_out_only_other_kinds(&typed, &path.display().to_string());
    let yaml = Workspace::load_through_yaml(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tag = path.display();
    // First the posture: it builds every evaluator of the typed workspace from
    // the kinds each reads (its objects are not converted yet).
    let (pa, pb) = (Posture::of(&typed), Posture::of(&yaml));
    assert!(pa.facts.len() > 3, "{tag}: a posture");
    assert_eq!(pa.facts, pb.facts, "{tag}: posture");
    // The reachability matrix (its receivers found through indexes) is every
    // pair's answer, pods and CIDR endpoints, ports included.
    let mut endpoints: Vec<_> = typed.workloads().map(|(t, w)| khc_analysis::posture::workload_endpoint(t, w).endpoint).collect();
    endpoints.push(khc_analysis::network::Endpoint::bare_pod("kube-system"));
    endpoints.push(khc_analysis::network::Endpoint::pod("kube-system", &[("k8s-app", "kube-dns")]));
    for net in ["0.0.0.0/0", "10.1.0.0/16", "10.1.2.3", "192.168.0.1"] {
        endpoints.push(khc_analysis::network::Endpoint::parse_net(net).expect("a CIDR"));
    }
    let mut pairs = Vec::new();
    for (a, ea) in endpoints.iter().enumerate() {
        for (b, eb) in endpoints.iter().enumerate() {
            let ports = typed.network.ports(ea, eb);
            if a != b && !ports.is_empty() {
                pairs.push((a, b, ports));
            }
        }
    }
    assert_eq!(typed.network.matrix(&endpoints), pairs, "{tag}: matrix");
    // who-can (direct grants, one-step escalations, multi-step paths) in every
    // namespace and cluster-wide.
    let mut namespaces: Vec<Option<String>> = typed.tenants().flat_map(|t| t.namespaces.iter().cloned().map(Some)).collect();
    namespaces.push(None);
    // The escalation search is the slow part of a debug build: a sample of namespaces.
    let step = namespaces.len().div_ceil(8);
    for ns in namespaces.iter().step_by(step).chain(namespaces.last()) {
        for (verb, resource) in [("get", "secrets"), ("create", "pods"), ("create", "deployments.apps"), ("delete", "networkpolicies.networking.k8s.io")] {
            let req = Request::new(verb, resource, ns.as_deref(), None);
            let answer = |ws: &Workspace| {
                let direct = serde_json::to_string(&ws.rbac.who_can(&req)).expect("answers serialize");
                let paths: Vec<String> =
                    khc_analysis::escalation::who_can_by_escalation(ws, &req).into_iter().map(|(s, c)| format!("{s} {}", c.paths.len())).collect();
                (direct, paths)
            };
            assert_eq!(answer(&typed), answer(&yaml), "{tag}: who-can {verb} {resource} in {ns:?}");
        }
    }
    // eval: a privileged Deployment and a plain Pod in each namespace (and in
    // two no tenant owns), judged through each tenant's own evaluators
    // (`Workspace::tenant_view`) on the typed side, the whole fleet's on the
    // YAML side; a Service, a RoleBinding and a Namespace, which read the
    // fleet's objects.
    let mut docs = String::from(
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\nspec: {type: NodePort, selector: {app: d}}\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b, namespace: default}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}\nsubjects: [{kind: Group, name: g}]\n\
         ---\napiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n",
    );
    for ns in namespaces.iter().flatten().chain([&"default".to_string(), &"kube-system".to_string()]) {
        docs.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d, namespace: {ns}}}\nspec:\n  selector: {{matchLabels: {{app: d}}}}\n  template:\n    metadata: {{labels: {{app: d}}}}\n    spec:\n      hostNetwork: true\n      containers: [{{name: c, image: docker.io/x:latest, securityContext: {{privileged: true}}}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: {ns}}}\nspec:\n  containers: [{{name: c, image: registry.example.com/x@sha256:0000000000000000000000000000000000000000000000000000000000000000}}]\n"
        ));
    }
    let manifests = khc_analysis::manifest::parse("m.yaml", &docs).expect("manifests parse");
    let findings = |ws: &Workspace| format!("{:?}", khc_analysis::eval::evaluate_all(ws, &manifests, "default"));
    assert_eq!(findings(&typed), findings(&yaml), "{tag}: eval");
    assert!(!typed.objects.is_empty(), "{tag}: no objects");
    assert_eq!(typed.objects.len(), yaml.objects.len(), "{tag}: object count");
    for (a, b) in typed.objects.iter().zip(yaml.objects.iter()) {
        assert_eq!(a.path, b.path, "{tag}: object order");
        assert_eq!(a.value, b.value, "{tag}: {}", a.path);
    }
}

/// The fast paths of the question commands against the whole: the
/// evaluators built in one pass (`Workspace::prepare`, what `blast-radius` and
/// `report` do) answer as the YAML round trip's; a tenant's unit built only
/// for some kinds (`khc_emit::tenant_built_of`, what the RBAC authorizer and
/// the NetworkPolicy evaluator read) is the whole unit's objects of those
/// kinds, every field; the applier head (`khc_emit::tenant_applier_head`) is the
/// head of the one policy of the unit that names an applier.
fn assert_fast_paths_same(path: &Path) {
    let tag = path.display();
    let typed = Workspace::load(path).unwrap_or_else(|e| panic!("{tag}: {e}"));
    typed.prepare(khc_analysis::Evaluators { rbac: true, network: true, admission: true });
    let yaml = Workspace::load_through_yaml(path).unwrap_or_else(|e| panic!("{tag}: {e}"));
    assert_eq!(Posture::of(&typed).facts, Posture::of(&yaml).facts, "{tag}: posture after one pass");
    let report = |ws: &Workspace| serde_json::to_string(&khc_analysis::report::compliance(ws)).expect("rows serialize");
    assert_eq!(report(&typed), report(&yaml), "{tag}: report");
    assert_report_from_the_model_is_the_views(&typed, &tag.to_string());
    for (t, w) in typed.workloads() {
        let blast = |ws: &Workspace| serde_json::to_string(&khc_analysis::posture::blast_radius(ws, t, w)).expect("serializes");
        assert_eq!(blast(&typed), blast(&yaml), "{tag}: blast-radius {}/{}", t.name, w.name);
    }
    // The same after a one-pass build from a fresh workspace (blast-radius's own).
    let fresh = Workspace::load(path).unwrap_or_else(|e| panic!("{tag}: {e}"));
    if let Some((t, w)) = fresh.workloads().next() {
        let blast = |ws: &Workspace| serde_json::to_string(&khc_analysis::posture::blast_radius(ws, t, w)).expect("serializes");
        assert_eq!(blast(&fresh), blast(&yaml), "{tag}: blast-radius from a fresh workspace");
    }
    // Each tenant's view read from the typed objects, the cluster units'
    // policies read once and copied (`Workspace::tenant_view`, what `khc eval`
    // judges with; one cache of programs for every view, as `eval` holds it)
    // is the view converted to JSON and read back, policy by policy and
    // binding by binding, with the same Namespace labels.
    let mut programs = khc_analysis::admission::Programs::default();
    let mut oracle_programs = khc_analysis::admission::Programs::default();
    let mut views = 0;
    for t in typed.tenants() {
        let fast = typed.tenant_view(&t.name, &mut programs).expect("a typed workspace has tenant views");
        let oracle = typed.tenant_view_through_json(&t.name, &mut oracle_programs).expect("a typed workspace has tenant views");
        assert_eq!(fast.admission.outline(), oracle.admission.outline(), "{tag}: tenant {}: view's admission policies", t.name);
        for ns in t.namespaces.iter().chain(["default", "kube-system"].map(String::from).iter()) {
            assert_eq!(fast.network.labels_of(ns), oracle.network.labels_of(ns), "{tag}: tenant {}: labels of {ns}", t.name);
        }
        views += usize::from(!fast.admission.policies.is_empty());
    }
    assert!(views > 0, "{tag}: no view holds a policy");
    let applier = khc_emit::protection::APPLIER_ANNOTATION;
    let mut kinds_seen = 0;
    for t in typed.tenants() {
        let whole = khc_emit::tenant_built(t);
        let mut kinds: Vec<&str> = whole.iter().map(|b| b.kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds_seen += kinds.len();
        let sets: Vec<Vec<&str>> = kinds
            .iter()
            .map(|k| vec![*k])
            .chain([vec!["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"], vec!["Namespace", "NetworkPolicy"], kinds.clone()])
            .collect();
        for set in sets {
            let part = khc_emit::tenant_built_of(t, &set);
            let expected: Vec<&khc_emit::objects::Built> = whole.iter().filter(|b| set.contains(&b.kind)).collect();
            assert_eq!(part.len(), expected.len(), "{tag}: tenant {} kinds {set:?}", t.name);
            for (a, b) in part.iter().zip(expected) {
                assert_eq!((a.kind, &a.name, &a.namespace), (b.kind, &b.name, &b.namespace), "{tag}: tenant {} kinds {set:?}", t.name);
                assert_eq!(a.body.json(), b.body.json(), "{tag}: tenant {} {} {}", t.name, a.kind, a.name);
            }
        }
        let naming: Vec<&khc_emit::objects::Built> =
            whole.iter().filter(|b| b.kind == "ValidatingAdmissionPolicy" && b.body.head()["metadata"]["annotations"][applier].is_string()).collect();
        match khc_emit::tenant_applier_head(t) {
            Some(h) => {
                assert_eq!(naming.len(), 1, "{tag}: tenant {}: one policy names the applier", t.name);
                assert_eq!((h.kind, &h.name, &h.namespace), (naming[0].kind, &naming[0].name, &naming[0].namespace), "{tag}: tenant {}", t.name);
                assert_eq!(h.body.head(), naming[0].body.head(), "{tag}: tenant {}: applier head", t.name);
            }
            None => assert!(naming.is_empty(), "{tag}: tenant {}: a policy names an applier", t.name),
        }
    }
    assert!(kinds_seen > 0, "{tag}: no tenant objects");
}

#[test]
fn examples_answer_the_same_from_the_typed_model() {
    for ex in ["examples/multi-tenant", "examples/multi-cluster"] {
        assert_same(&repo_root().join(ex));
        assert_fast_paths_same(&repo_root().join(ex));
    }
}

/// `report`'s admission rules read from the checked models
/// (`khc_analysis::report::denying_rules_of`: no policy emitted) are those its
/// tenant views' evaluators find, rule by rule and source by source, and so is
/// the matrix.
fn assert_report_from_the_model_is_the_views(typed: &Workspace, tag: &str) {
    let model = khc_analysis::report::denying_rules_of(typed);
    let views = khc_analysis::report::denying_rules_through_views(typed);
    assert_eq!(model.len(), typed.tenants().count(), "{tag}: a rule map per tenant");
    for ((t, m), v) in typed.tenants().zip(&model).zip(&views) {
        assert_eq!(m, v, "{tag}: tenant {}: denying rules from the model vs the tenant view", t.name);
    }
    let rows = |r: Vec<khc_analysis::report::Row>| serde_json::to_string(&r).expect("rows serialize");
    assert_eq!(rows(khc_analysis::report::compliance(typed)), rows(khc_analysis::report::compliance_through_views(typed)), "{tag}: report matrix");
}

/// A fleet of varied admission: cluster rules with exempt namespaces and a
/// custom pod rule, tenants warning only, with no `admission` block, with
/// node isolation, custom rules for pods and for other kinds, exceptions
/// lowering a namespace's Pod Security label (stand-in rules, one the tenant
/// states with other arguments), and a second cluster with a tenant of the
/// same name: `report` from the model equals the tenant views and the round trip
/// (from which `khc report` draws the matrix).
#[test]
fn varied_admission_reports_the_same_from_the_model() {
    let dir = std::env::temp_dir().join(format!("khc-typed-model-varied-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cluster = |name: &str, extra: &str| {
        format!(
            "cluster {name} {{\n  kubernetes 1.37\n{extra}  pod-security {{\n    enforce baseline\n    exempt-namespaces kube-system shop-b\n  }}\n  admission {{\n    no-privileged\n    require-limits\n    rule pod-label {{\n      kinds pods; cel \"true\"; message \"labelled\"\n    }}\n    rule svc-label {{\n      kinds services; cel \"true\"; message \"labelled\"\n    }}\n  }}\n}}\n"
        )
    };
    let tenants = "import \"std/restricted\"\ntenant shop {\n  namespaces shop-a shop-b\n  workload web { namespace shop-a }\n  admission {\n    use restricted\n    no-latest-tag\n    rule team {\n      kinds pods deployments.apps; cel \"true\"; message \"team\"\n    }\n  }\n}\n\
tenant warned {\n  admission {\n    mode warn audit\n    no-host-path\n  }\n}\n\
tenant bare {\n  namespaces bare-1 bare-2\n}\n\
tenant pinned {\n  nodes {\n    selector pool \"pinned\"\n    toleration dedicated \"pinned\"\n  }\n  admission {\n    rule svc {\n      kinds services; cel \"true\"; message \"s\"\n    }\n  }\n}\n\
tenant mon {\n  namespaces mon agents\n  workload exporter { namespace agents }\n  pod-security restricted {\n    namespace mon baseline\n  }\n  admission {\n    drop-all-capabilities\n  }\n  exception host {\n    workloads exporter\n    lifts no-host-namespaces no-host-ports\n    reason \"node agent\"\n  }\n}\n";
    std::fs::write(dir.join("tenants.khc"), tenants).expect("write");
    std::fs::write(dir.join("a.khc"), format!("import \"tenants.khc\"\n{}", cluster("a", ""))).expect("write");
    std::fs::write(dir.join("b.khc"), format!("import \"tenants.khc\"\n{}", cluster("b", "  admission-mode warn\n"))).expect("write");
    let typed = Workspace::load(&dir).unwrap_or_else(|e| panic!("varied: {e}"));
    assert!(typed.tenants().count() >= 10, "both clusters' tenants");
    let rules = khc_analysis::report::denying_rules_of(&typed);
    let shop = &rules[typed.tenants().position(|t| t.name == "shop").expect("tenant shop")];
    assert!(shop.contains_key("no-latest-tag") && shop.contains_key("team") && shop.contains_key("no-privileged"), "{shop:?}");
    assert!(!shop.contains_key("svc-label"), "a rule of services judges no pod: {shop:?}");
    // The round trip's whole-fleet evaluators; every fast path too, `eval` and
    // `blast-radius` through tenant views that must hold another tenant's
    // `khc-nodes-*` policy (it binds this tenant's namespaces too).
    assert_same(&dir);
    assert_fast_paths_same(&dir);
    let yaml = Workspace::load_through_yaml(&dir).unwrap_or_else(|e| panic!("varied: {e}"));
    let report = |ws: &Workspace| serde_json::to_string(&khc_analysis::report::compliance(ws)).expect("rows serialize");
    assert_eq!(report(&typed), report(&yaml), "varied: report");
    assert_report_from_the_model_is_the_views(&typed, "varied");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Generated workspaces (both layouts, with warnings) and a generated fleet.
#[test]
fn generated_programs_answer_the_same_from_the_typed_model() {
    let base = std::env::temp_dir().join(format!("khc-typed-model-{}", std::process::id()));
    for (i, ws) in [
        khc_tests::workspace_gen::Workspace::new(7),
        khc_tests::workspace_gen::Workspace::new(30).with_layout(khc_tests::workspace_gen::Layout::Flat).with_warnings(true),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = base.join(format!("gen-{i}"));
        ws.write(&dir).expect("write workspace");
        assert_same(&dir);
        assert_fast_paths_same(&dir);
    }
    let fleet = base.join("fleet");
    std::fs::create_dir_all(&fleet).expect("mkdir");
    for (f, text) in khc_tests::fleet_sources(30) {
        std::fs::write(fleet.join(f), text).expect("write fleet");
    }
    assert_same(&fleet.join("main.khc"));
    assert_fast_paths_same(&fleet.join("main.khc"));
    let _ = std::fs::remove_dir_all(&base);
}
