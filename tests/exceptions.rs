//! Scoped exceptions (issue 20 item 2; SPEC section 5, "Exceptions") without a
//! server: the diagnostics with their spans, the Pod Security effect on the
//! namespaces' labels, the stand-in rules equal to the standard library's
//! profiles, and per-namespace `pod-security` levels. The real API servers'
//! verdicts are in `tests/kube_exceptions.rs`.

use khc_syntax::Diagnostic;
use khc_tests::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn tenant(body: &str) -> String {
    format!("cluster c {{\n  kubernetes 1.37\n}}\ntenant mon {{\n  namespaces mon agents\n  workload exporter {{ namespace agents }}\n{body}\n}}\n")
}

fn with<'a>(d: &'a [Diagnostic], code: &str, text: &str) -> Vec<&'a Diagnostic> {
    d.iter().filter(|x| x.code == code && x.message.contains(text)).collect()
}

/// The source text a diagnostic's primary span covers.
fn spanned<'a>(source: &'a str, d: &Diagnostic) -> &'a str {
    &source[d.primary.span.range()]
}

#[test]
fn exception_diagnostics_have_spans_and_fixes() {
    // One test sets KHC_TODAY for the whole binary: dates are compared with it.
    std::env::set_var("KHC_TODAY", "2027-01-15");
    let src = tenant(
        "  exception a {\n    workloads exporter\n    lifts no-host-pth\n  }\n  exception b {\n    workloads exporterr\n    lifts require-limits\n    reason \"x\"\n    expires \"2027-02-30\"\n  }\n  exception c {\n    namespaces mon\n    workloads exporter\n    lifts no-host-path\n    reason \"y\"\n    expires \"2027-01-14\"\n  }\n  exception d {\n    namespaces mon\n    lifts require-limits\n    reason \"z\"\n    expires \"2027-01-15\"\n  }",
    );
    let (_, d, rendered) = compile_sources(&[("main.khc", &src)]);
    let unknown = with(&d, "unknown-name", "`no-host-pth` is not an admission rule");
    assert_eq!(unknown.len(), 1, "{rendered}");
    assert_eq!(spanned(&src, unknown[0]), "no-host-pth");
    assert_eq!(unknown[0].fixes[0].replacement, "no-host-path", "{rendered}");
    let reason = with(&d, "bad-argument", "exception `a` needs a `reason`");
    assert_eq!(reason.len(), 1, "{rendered}");
    assert_eq!(spanned(&src, reason[0]), "exception a");
    let workload = with(&d, "unknown-name", "no workload `exporterr`");
    assert_eq!(workload.len(), 1, "{rendered}");
    assert_eq!(workload[0].fixes[0].replacement, "exporter");
    let date = with(&d, "invalid-value", "`2027-02-30` is not a date");
    assert_eq!(date.len(), 1, "{rendered}");
    assert_eq!(spanned(&src, date[0]), "\"2027-02-30\"");
    let conflict = with(&d, "conflict", "workload `exporter` is in namespace `agents`");
    assert_eq!(conflict.len(), 1, "{rendered}");
    let expired = with(&d, "expired", "exception `c` expired on 2027-01-14");
    assert_eq!(expired.len(), 1, "{rendered}");
    assert!(expired[0].is_error());
    // The last day still applies.
    assert!(with(&d, "expired", "exception `d`").is_empty(), "{rendered}");
    // `d` lifts a rule the tenant does not state and that stands for no Pod
    // Security control: it lifts nothing.
    assert_eq!(with(&d, "no-effect", "exception `d` lifts `require-limits`").len(), 1, "{rendered}");

    // The same exception, a day before: no error.
    std::env::set_var("KHC_TODAY", "2027-01-13");
    let (_, d, rendered) = compile_sources(&[("main.khc", &src)]);
    assert!(with(&d, "expired", "").is_empty(), "{rendered}");
    std::env::remove_var("KHC_TODAY");
}

fn labels_of(out: &khc_emit::Output, ns: &str) -> Value {
    let objs = objects(out);
    of_kind(&objs, "Namespace").into_iter().find(|n| n["metadata"]["name"] == ns).expect("namespace")["metadata"]["labels"].clone()
}

fn validations(out: &khc_emit::Output, policy: &str) -> Vec<(String, String)> {
    let objs = objects(out);
    let p = of_kind(&objs, "ValidatingAdmissionPolicy").into_iter().find(|p| p["metadata"]["name"] == policy).expect("policy").clone();
    p["spec"]["validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["expression"].as_str().unwrap().to_string(), v["message"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn pod_security_is_lowered_only_where_an_exception_needs_it_and_khc_keeps_the_level() {
    let src = tenant(
        "  pod-security restricted {\n    namespace mon baseline\n  }\n  exception host {\n    workloads exporter\n    lifts no-host-namespaces no-host-ports\n    reason \"node agent\"\n  }",
    );
    let (out, d, rendered) = compile_sources(&[("main.khc", &src)]);
    let out = out.unwrap_or_else(|| panic!("{rendered}"));
    assert!(d.iter().all(|x| x.code != "no-effect"), "{rendered}");
    let agents = labels_of(&out, "agents");
    assert_eq!(agents["pod-security.kubernetes.io/enforce"], "privileged");
    assert_eq!(agents["pod-security.kubernetes.io/warn"], "restricted");
    assert_eq!(agents["pod-security.kubernetes.io/audit"], "restricted");
    assert_eq!(labels_of(&out, "mon")["pod-security.kubernetes.io/enforce"], "baseline");
    // khc enforces restricted in `agents` through the stand-in rules: one per
    // rule of `least-privilege`, each limited to the namespace; the two lifted
    // ones spare the exporter's ServiceAccount.
    let v = validations(&out, "khc-tenant-mon");
    let stand_ins: Vec<&(String, String)> = v.iter().filter(|(e, _)| e.starts_with("!(request.namespace in ['agents'])")).collect();
    assert_eq!(stand_ins.len(), khc_rules::pss_stand_in(khc_rules::facts::PssLevel::Restricted).len());
    let lifted: Vec<&&(String, String)> = stand_ins.iter().filter(|(e, _)| e.contains("variables.podSpec.serviceAccountName == 'exporter'")).collect();
    assert_eq!(lifted.len(), 2, "{lifted:#?}");
    assert!(lifted.iter().all(|(_, m)| m.contains("[khc rule no-host-namespaces") || m.contains("[khc rule no-host-ports")), "{lifted:#?}");
}

/// The stand-in rules are the standard library's profiles (`baseline` for
/// baseline, `least-privilege` for restricted), compared by their emitted CEL.
#[test]
fn stand_in_rules_are_the_standard_library_profiles() {
    for (level, profile, module) in
        [(khc_rules::facts::PssLevel::Baseline, "baseline", "baseline"), (khc_rules::facts::PssLevel::Restricted, "least-privilege", "restricted")]
    {
        let src = format!("import \"std/{module}\"\ncluster c {{\n  kubernetes 1.37\n}}\ntenant t {{\n  admission {{ use {profile} }}\n}}\n");
        let (out, _, rendered) = compile_sources(&[("main.khc", &src)]);
        let out = out.unwrap_or_else(|| panic!("{rendered}"));
        let emitted: BTreeSet<String> =
            validations(&out, "khc-tenant-t").into_iter().filter(|(_, m)| !m.contains("[khc rule automount-token")).map(|(e, _)| e).collect();
        let stand_in: BTreeSet<String> = khc_rules::pss_stand_in(level).iter().filter_map(|k| k.pod_validation(37)).map(|(e, _)| e).collect();
        assert_eq!(emitted, stand_in, "{profile}");
    }
}

#[test]
fn per_namespace_levels_are_checked() {
    let src = tenant("  pod-security restricted {\n    namespace agnets baseline\n    namespace mon privileged\n  }");
    let (_, d, rendered) = compile_sources(&[("main.khc", &src)]);
    let unknown = with(&d, "unknown-name", "`agnets` is not a namespace of this tenant");
    assert_eq!(unknown.len(), 1, "{rendered}");
    assert_eq!(unknown[0].fixes[0].replacement, "agents");
    assert_eq!(with(&d, "risky", "enforcing `privileged` in namespace `mon`").len(), 1, "{rendered}");
}

fn workspace(tag: &str, source: &str) -> khc_analysis::Workspace {
    let dir = std::env::temp_dir().join(format!("khc-exceptions-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.khc"), source).unwrap();
    khc_analysis::Workspace::load(&dir.join("main.khc")).unwrap_or_else(|e| panic!("{e:?}"))
}

/// Item 7: every Namespace carries the GitOps delete guards unless the tenant
/// lists it in `deletable-namespaces`; `khc diff` shows a namespace leaving the
/// source as destructive (first), one becoming deletable and a new exception as
/// loosenings; `khc report` lists the exceptions.
#[test]
fn removal_is_destructive_and_exceptions_loosen_in_diff_and_show_in_report() {
    let old = tenant("");
    let (out, _, rendered) = compile_sources(&[("main.khc", &old)]);
    let out = out.unwrap_or_else(|| panic!("{rendered}"));
    let objs = objects(&out);
    for ns in of_kind(&objs, "Namespace") {
        let a = &ns["metadata"]["annotations"];
        assert_eq!(a["argocd.argoproj.io/sync-options"], "Delete=false,Prune=false", "{ns}");
        assert_eq!(a["kustomize.toolkit.fluxcd.io/prune"], "disabled", "{ns}");
    }
    let new = "cluster c {\n  kubernetes 1.37\n}\ntenant mon {\n  namespaces mon\n  deletable-namespaces mon\n  exception scrape {\n    lifts no-host-ports\n    reason \"the agent serves on a host port\"\n    expires \"2099-01-01\"\n  }\n}\n";
    let (out, _, rendered) = compile_sources(&[("main.khc", new)]);
    let out = out.unwrap_or_else(|| panic!("{rendered}"));
    let mon = labels_of(&out, "mon");
    assert_eq!(mon["pod-security.kubernetes.io/enforce"], "privileged");
    let objs = objects(&out);
    let ns = of_kind(&objs, "Namespace")[0].clone();
    assert!(ns["metadata"]["annotations"].get("kustomize.toolkit.fluxcd.io/prune").is_none(), "{ns}");

    let changes = khc_analysis::diff::compare(&workspace("old", &old), &workspace("new", new));
    let first = &changes[0];
    assert_eq!(first.effect, khc_analysis::diff::Effect::Destructive, "{changes:#?}");
    assert_eq!(first.what, "namespace agents");
    let loosened = |what: &str| changes.iter().any(|c| c.effect == khc_analysis::diff::Effect::Loosened && c.what.contains(what));
    assert!(loosened("tenant mon: `no-host-ports` lifted for namespace mon"), "{changes:#?}");
    assert!(loosened("namespace mon"), "{changes:#?}");
    assert!(loosened("tenant mon enforce"), "{changes:#?}");

    let ws = workspace("report", new);
    let report = khc_analysis::report::markdown(&ws, &khc_analysis::report::compliance(&ws));
    assert!(report.contains("## Exceptions"), "{report}");
    assert!(
        report.contains("mon / `scrape` (main.khc:7): lifts no-host-ports for namespaces mon; expires 2099-01-01. Reason: the agent serves on a host port"),
        "{report}"
    );
    assert!(report.contains("mon / namespace mon: Pod Security enforce label lowered to privileged; khc enforces restricted"), "{report}");
}

/// A cluster with `no-host-namespaces` in its `admission` and a cluster
/// exception for node-exporter's ServiceAccount in `monitoring` (a namespace no
/// tenant declares) and for every pod of `logging`.
fn cluster_with_exception(exception: &str) -> String {
    format!(
        "cluster c {{\n  kubernetes 1.37\n  admission {{\n    no-host-namespaces\n    no-latest-tag\n  }}\n{exception}\n}}\ntenant t {{\n  namespaces t\n  exception mine {{\n    lifts no-latest-tag\n    reason \"r\"\n  }}\n}}\n"
    )
}

const NODE_AGENTS: &str = "  exception node-agents {\n    workloads \"monitoring/node-exporter\"\n    namespaces monitoring logging\n    lifts no-host-namespaces\n    reason \"node-exporter reads the host's network stats\"\n    expires \"2099-01-01\"\n  }";

fn host_pod(ns: &str, sa: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": ns},
        "spec": {"serviceAccountName": sa, "hostNetwork": true, "containers": [{"name": "c", "image": "registry.example.com/x:1"}]}
    })
}

/// Issue 20 item 2 (cluster form): an `exception` in the cluster block lifts a
/// cluster rule for any namespace or ServiceAccount `ns/name`, compiled into
/// the cluster policy as `(covered) || (rule)`; `khc eval` admits the covered
/// pod, names the exception, and denies the same pod elsewhere; `report` and
/// `diff` (a loosening) show it; a tenant exception naming a cluster rule keeps
/// its warning with a help pointing to the cluster form.
#[test]
fn cluster_exceptions_lift_cluster_rules() {
    let src = cluster_with_exception(NODE_AGENTS);
    let (out, d, rendered) = compile_sources(&[("main.khc", &src)]);
    let out = out.unwrap_or_else(|| panic!("{rendered}"));
    let tenant_warning = with(&d, "no-effect", "exception `mine` lifts `no-latest-tag`");
    assert_eq!(tenant_warning.len(), 1, "{rendered}");
    assert!(tenant_warning[0].notes.iter().any(|n| n.contains("write the exception in the cluster block")), "{rendered}");
    let v = validations(&out, "khc-cluster");
    let (expr, _) = v.iter().find(|(_, m)| m.contains("no-host-namespaces")).unwrap_or_else(|| panic!("{v:?}"));
    assert!(
        expr.starts_with("((request.namespace == 'monitoring' && has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName == 'node-exporter')) || ("),
        "{expr}"
    );

    let ws = workspace("cluster-exception", &src);
    let eval = |object: Value| {
        let text = serde_yaml_ng::to_string(&object).unwrap();
        khc_analysis::eval::evaluate_all(&ws, &khc_analysis::manifest::parse("m.yaml", &text).unwrap(), "default")
    };
    let denied = |f: &[khc_analysis::eval::Finding]| f.iter().any(|f| f.severity == khc_analysis::eval::Severity::Deny && f.rule == "no-host-namespaces");
    let named =
        |f: &[khc_analysis::eval::Finding]| f.iter().any(|f| f.check == "exception" && f.message.contains("exception `node-agents` lifts no-host-namespaces"));
    let f = eval(host_pod("monitoring", "node-exporter"));
    assert!(!denied(&f) && named(&f), "{f:#?}");
    for (ns, sa) in [("monitoring", "other"), ("logging", "shipper"), ("t", "node-exporter"), ("apps", "node-exporter")] {
        let f = eval(host_pod(ns, sa));
        assert!(denied(&f) && !named(&f), "{ns}/{sa}: {f:#?}");
    }

    let report = khc_analysis::report::markdown(&ws, &khc_analysis::report::compliance(&ws));
    assert!(
        report.contains("* cluster c / `node-agents` (main.khc:7): lifts no-host-namespaces for workloads monitoring/node-exporter; expires 2099-01-01. Reason: node-exporter reads the host's network stats"),
        "{report}"
    );
    let changes = khc_analysis::diff::compare(&workspace("cluster-exception-old", &cluster_with_exception("")), &ws);
    assert!(
        changes
            .iter()
            .any(|c| c.effect == khc_analysis::diff::Effect::Loosened
                && c.what == "cluster c: `no-host-namespaces` lifted for workload monitoring/node-exporter"),
        "{changes:#?}"
    );
}

/// Cluster exceptions' mistakes are errors with spans: a rule the cluster's
/// `admission` does not state, a ServiceAccount without its namespace, a
/// missing reason, no namespace at all, and a past expiry.
#[test]
fn cluster_exception_mistakes_are_errors() {
    let cases = [
        (
            "  exception a {\n    namespaces monitoring\n    lifts no-host-path\n    reason \"r\"\n  }",
            "unknown-name",
            "`no-host-path` is not a rule of the cluster's `admission` block",
            "no-host-path",
        ),
        (
            "  exception a {\n    workloads node-exporter\n    lifts no-host-namespaces\n    reason \"r\"\n  }",
            "bad-argument",
            "`node-exporter` is not a ServiceAccount `namespace/name`",
            "node-exporter",
        ),
        ("  exception a {\n    namespaces monitoring\n    lifts no-host-namespaces\n  }", "bad-argument", "exception `a` needs a `reason`", "exception a"),
        ("  exception a {\n    lifts no-host-namespaces\n    reason \"r\"\n  }", "bad-argument", "exception `a` covers no namespace", "exception a"),
        (
            "  exception a {\n    namespaces monitoring\n    lifts no-host-namespaces\n    reason \"r\"\n    expires \"2001-01-01\"\n  }",
            "expired",
            "exception `a` expired on 2001-01-01",
            "\"2001-01-01\"",
        ),
    ];
    for (exception, code, message, text) in cases {
        let src = cluster_with_exception(exception);
        let (out, d, rendered) = compile_sources(&[("main.khc", &src)]);
        assert!(out.is_none(), "{rendered}");
        let found = with(&d, code, message);
        assert_eq!(found.len(), 1, "{exception}: {rendered}");
        assert_eq!(spanned(&src, found[0]), text, "{rendered}");
    }
}

/// Issue 20: an exception keyed on workloads is as narrow as the namespace's
/// RBAC. When a subject khc grants may create pods (or pod-making workloads)
/// in a namespace it covers — a tenant role, a built-in role, a cluster grant —
/// the `workloads` line gets an `exception-scope` warning naming who; a
/// namespace-wide exception, read-only grants and an acknowledgement on the
/// line silence it.
#[test]
fn exceptions_keyed_on_service_accounts_name_who_may_create_pods() {
    let exception = "  exception host {\n    workloads exporter\n    lifts no-host-path\n    reason \"reads /proc\"\n  }\n  admission { no-host-path }";
    let grants = "  role runner { can create on pods }\n  role rollout { can update patch on daemonsets.apps }\n  role reader { can get list on pods }\n  grant runner to group \"devs\"\n  grant rollout to user \"release\"\n  grant reader to group \"auditors\"\n";
    let src = tenant(&format!("{grants}{exception}")).replace("  kubernetes 1.37\n", "  kubernetes 1.37\n  grant edit to group \"ops\"\n");
    let (out, d, rendered) = compile_sources(&[("main.khc", &src)]);
    assert!(out.is_some(), "{rendered}");
    let w = with(&d, "exception-scope", "exception `host` is keyed on ServiceAccount names");
    assert_eq!(w.len(), 1, "{rendered}");
    assert!(!w[0].is_error());
    assert_eq!(spanned(&src, w[0]), "workloads exporter");
    for who in ["group devs (grant `runner`)", "user release (grant `rollout`)", "group ops (grant `edit`)", "`agents`", "`agents/exporter`"] {
        assert!(w[0].message.contains(who), "{who} not named: {rendered}");
    }
    assert!(!w[0].message.contains("auditors"), "{rendered}");

    // Read-only grants only: nothing to say.
    let quiet = tenant(&format!("  role reader {{ can get list on pods }}\n  grant reader to group \"auditors\"\n  grant view to group \"all\"\n{exception}"));
    let (_, d, rendered) = compile_sources(&[("main.khc", &quiet)]);
    assert!(with(&d, "exception-scope", "").is_empty(), "{rendered}");
    // A namespace-wide exception already says what it lifts for whom.
    let wide = tenant(&format!("{grants}{}", exception.replace("workloads exporter", "namespaces agents")));
    let (_, d, rendered) = compile_sources(&[("main.khc", &wide)]);
    assert!(with(&d, "exception-scope", "").is_empty(), "{rendered}");

    // Acknowledged on its line: it no longer counts.
    let acked = src.replace("    workloads exporter\n", "    workloads exporter # khc: allow exception-scope — only the platform team deploys here\n");
    let (_, mut d, rendered) = compile_sources(&[("main.khc", &acked)]);
    khc_db::acknowledge::acknowledge_file(&khc_syntax::FileKey::from("main.khc"), &acked, &mut d);
    let w = with(&d, "exception-scope", "");
    assert_eq!(w.len(), 1, "{rendered}");
    assert_eq!(w[0].acknowledged.as_deref(), Some("only the platform team deploys here"), "{rendered}");
    assert!(with(&d, "no-effect", "acknowledgement").is_empty(), "{rendered}");

    // A cluster exception is checked against the cluster's own grants.
    let cluster = "cluster c {\n  kubernetes 1.37\n  admission { no-host-path }\n  role deployer { can create on deployments.apps }\n  grant deployer to group \"platform\"\n  exception agents {\n    workloads \"agents/node-exporter\"\n    lifts no-host-path\n    reason \"reads /proc\"\n  }\n}\n";
    let (_, d, rendered) = compile_sources(&[("main.khc", cluster)]);
    let w = with(&d, "exception-scope", "group platform (grant `deployer`)");
    assert_eq!(w.len(), 1, "{rendered}");
    assert_eq!(spanned(cluster, w[0]), "workloads \"agents/node-exporter\"");
}
