//! Issue 17's attack paths a tenant role or a cluster role still opened, as the
//! checker sees them: each grant is diagnosed (`risky`, `applier`, `no-effect`)
//! and `who-can` reports whoever becomes the `managed-by` applier. The same
//! steps run as the attacker on real API servers in `tests/kube_attacks.rs`.

use khc_analysis::rbac::{Rbac, Request, Subject};
use khc_syntax::Diagnostic;
use khc_tests::*;

const HEAD: &str = "cluster c {\n  kubernetes 1.37\n  encryption { provider secretbox { key k env \"K\" } }\n  managed-by serviceaccount \"platform/gitops\"\n";

fn diagnostics(cluster_body: &str, tenants: &str) -> Vec<Diagnostic> {
    let src = format!("{HEAD}{cluster_body}}}\n{tenants}");
    let (_, diags, rendered) = compile_sources(&[("c.khc", &src)]);
    assert!(diags.iter().all(|d| !d.is_error()), "{rendered}");
    diags
}

/// The messages of `code` that mention `needle`.
fn with<'a>(diags: &'a [Diagnostic], code: &str, needle: &str) -> Vec<&'a str> {
    diags.iter().filter(|d| d.code == code && d.message.contains(needle)).map(|d| d.message.as_str()).collect()
}

/// Item 2: pods, workloads, tokens, Secrets or impersonation in the applier's
/// namespace (tenant roles of the tenant that owns it) or cluster-wide.
#[test]
fn grants_that_become_the_applier_name_it() {
    let d = diagnostics(
        "  role deployer { can create on deployments.apps }\n  role imp { can impersonate on serviceaccounts }\n",
        "tenant platform {\n  role runner { can create on pods }\n  role minter { can create on \"serviceaccounts/token\" }\n  role peeker { can get on secrets }\n}\ntenant team {\n  role runner { can create on pods }\n}\n",
    );
    for needle in [
        "`create` on `pods`",
        "`create` on `serviceaccounts/token`",
        "`get` on `secrets`",
        "`create` on `deployments.apps`",
        "`impersonate` on `serviceaccounts`",
    ] {
        let found = with(&d, "applier", needle);
        assert!(!found.is_empty(), "no `applier` warning for {needle}: {d:#?}");
        assert!(found.iter().all(|m| m.contains("serviceaccount platform/gitops")), "the warning does not name the applier: {found:?}");
    }
    // `team` does not own the applier's namespace: its pod runner does not become it.
    let team: Vec<&Diagnostic> = d.iter().filter(|x| x.code == "applier" && x.message.contains("`create` on `pods`")).collect();
    assert_eq!(team.len(), 1, "only platform's runner becomes the applier: {team:#?}");
}

/// Items 5 and 6: a cluster role gets the guardrail warnings (cluster-wide
/// wording) and the CIS 5.1 powers; CVE paths are warned in any role; items 1:
/// namespaces/status and namespaces/finalize.
#[test]
fn cluster_roles_and_cve_paths_are_warned() {
    let d = diagnostics(
        "  role r {\n    can create update on validatingadmissionpolicies.admissionregistration.k8s.io validatingadmissionpolicybindings.admissionregistration.k8s.io\n    can patch on mutatingwebhookconfigurations.admissionregistration.k8s.io validatingwebhookconfigurations.admissionregistration.k8s.io\n    can create on \"serviceaccounts/token\" pods jobs.batch persistentvolumes\n    can delete on networkpolicies.networking.k8s.io rolebindings.rbac.authorization.k8s.io\n    can update on \"certificatesigningrequests.certificates.k8s.io/approval\"\n    can approve on signers.certificates.k8s.io\n    can update on \"namespaces/finalize\"\n  }\n",
        "tenant t {\n  role s { can update patch on \"namespaces/status\" endpoints \"services/status\" \"pods/status\" \"pods/binding\" \"resourcequotas/status\" endpointslices.discovery.k8s.io }\n}\n",
    );
    for needle in [
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
        "`serviceaccounts/token` in a cluster role can mint tokens for every ServiceAccount of the cluster",
        "`pods` in a cluster role can run pods in every namespace",
        "jobs.batch",
        "persistentvolumes",
        "networkpolicies.networking.k8s.io` in a cluster role can delete or rewrite every tenant's network isolation, cluster-wide",
        "rolebindings",
        "approval",
        "signers",
    ] {
        assert!(!with(&d, "risky", needle).is_empty(), "no cluster-role warning for {needle}: {d:#?}");
    }
    for needle in
        ["namespaces/finalize", "namespaces/status", "`endpoints`", "CVE-2021-25740", "CVE-2020-8554", "pods/status", "pods/binding", "resourcequotas/status"]
    {
        assert!(!with(&d, "risky", needle).is_empty(), "no warning for {needle}: {d:#?}");
    }
}

/// Item 10: `*` with `names`, and subjects no OIDC issuer can produce.
#[test]
fn grants_that_silently_do_nothing_are_diagnosed() {
    let d = diagnostics(
        "  authentication {\n    oidc \"https://login.example.com\" {\n      audience \"kubernetes\"\n      groups-claim \"groups\"\n    }\n  }\n  role r { can get on pods }\n  grant r to user \"alice@example.com\" user \"oidc:bob@example.com\" group \"system:masters\"\n",
        "tenant t {\n  role r { can * on configmaps names \"c\" }\n  grant r to group \"devs\" group \"oidc:ops\"\n}\n",
    );
    assert_eq!(with(&d, "no-effect", "`*` with `names`").len(), 1, "{d:#?}");
    assert_eq!(with(&d, "no-effect", "alice@example.com").len(), 1, "{d:#?}");
    assert_eq!(with(&d, "no-effect", "group `devs`").len(), 1, "{d:#?}");
    for fine in ["oidc:bob@example.com", "oidc:ops", "system:masters"] {
        assert!(with(&d, "no-effect", fine).is_empty(), "{fine} is diagnosed: {d:#?}");
    }
}

/// Item 9: a tenant that may create Services, without `allowed-service-types`
/// leaving ExternalName out, is warned; restricting the type silences it.
#[test]
fn external_name_confused_deputy_is_warned() {
    let open = diagnostics("", "tenant t {\n  role svc { can create on services }\n  grant svc to group \"oidc:t\"\n}\n");
    assert_eq!(with(&open, "risky", "ExternalName").len(), 1, "{open:#?}");
    let restricted = diagnostics(
        "",
        "tenant t {\n  role svc { can create on services }\n  grant svc to group \"oidc:t\"\n  admission { allowed-service-types ClusterIP }\n}\n",
    );
    assert!(with(&restricted, "risky", "ExternalName").is_empty(), "{restricted:#?}");
    let cluster = diagnostics("  admission { allowed-service-types ClusterIP LoadBalancer }\n", "tenant t {\n  grant edit to group \"oidc:t\"\n}\n");
    assert!(with(&cluster, "risky", "ExternalName").is_empty(), "{cluster:#?}");
}

/// Item 2, the questions: `who-can delete networkpolicies -n team` names whoever
/// becomes the applier, and `can` explains how.
#[test]
fn who_can_reports_becoming_the_applier() {
    let src = format!("{HEAD}  role deployer {{ can create on deployments.apps }}\n  grant deployer to serviceaccount \"team/ci\"\n}}\ntenant team {{}}\ntenant platform {{\n  role minter {{ can create on \"serviceaccounts/token\" }}\n  grant minter to group \"oidc:platform-devs\"\n}}\n");
    let (out, _, rendered) = compile_sources(&[("c.khc", &src)]);
    let out = out.unwrap_or_else(|| panic!("{rendered}"));
    let rbac = Rbac::new(&khc_analysis::objects(&out));
    assert_eq!(rbac.appliers, vec![Subject::sa("platform", "gitops")]);
    let req = Request::new("delete", "networkpolicies.networking.k8s.io", Some("team"), None);
    let answers = rbac.who_can(&req);
    for who in [Subject::sa("team", "ci"), Subject::group("oidc:platform-devs")] {
        let a = answers.iter().find(|a| a.subject == who).unwrap_or_else(|| panic!("{who} missing from {answers:#?}"));
        assert!(a.escalations.iter().any(|e| e.how.contains("becomes the applier") && e.via == Subject::sa("platform", "gitops")), "{a:#?}");
    }
    let why = rbac.explain(&Subject::sa("team", "ci"), &req);
    assert!(why.escalations.iter().any(|e| e.how.contains("becomes the applier")), "{why:#?}");
    // Reading pods is not something the applier's exemption changes.
    let read = Request::new("get", "pods", Some("team"), None);
    assert!(rbac.who_can(&read).iter().all(|a| a.escalations.iter().all(|e| !e.how.contains("applier"))));
}

/// Item 2, `blast-radius`: a workload whose token can run pods in the applier's
/// namespace becomes the applier; one that cannot does not.
#[test]
fn blast_radius_reports_a_token_that_becomes_the_applier() {
    let dir = std::env::temp_dir().join(format!("khc-attack-paths-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = format!(
        "{HEAD}}}\ntenant platform {{\n  workload ci {{ automount-token true }}\n  workload web {{ automount-token true }}\n  role runner {{ can create on pods }}\n  grant runner to workload ci\n}}\n"
    );
    std::fs::write(dir.join("c.khc"), src).unwrap();
    let ws = khc_analysis::Workspace::load(&dir).unwrap_or_else(|e| panic!("{e:?}"));
    let (t, w) = ws.workload("platform/ci").unwrap();
    let b = khc_analysis::posture::blast_radius(&ws, t, w);
    assert!(b.becomes_applier.iter().any(|h| h.contains("create pods in platform") && h.contains("becomes the applier")), "{:?}", b.becomes_applier);
    let (t, w) = ws.workload("platform/web").unwrap();
    assert!(khc_analysis::posture::blast_radius(&ws, t, w).becomes_applier.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 24: `who-can` searches a namespace's question only from the subjects
/// whose followable paths may lead there (found backward from the namespace,
/// or, when a binding names a group of everyone, through an index of each
/// subject's reach); the answers equal a search from every subject, in every
/// namespace and cluster-wide, on a fleet whose tenants grant `admin`
/// (multi-step paths in their own namespaces) beside subjects whose paths lead
/// anywhere (bind, impersonation, certificates, webhooks, the kubelet API) or
/// into one namespace (`escalate` on a tenant's Role, a token, a Secret by name).
#[test]
fn who_can_index_answers_as_the_scan_of_every_subject() {
    let found = who_can_equals_scan("base", true, "", "");
    assert!(found > 0);
}

/// The backward search's other edges: a tenant whose Pod Security admits
/// hostPath pods (whoever creates pods there is the node's root: anywhere),
/// (no cluster-wide `host-isolation`), a group of a namespace's ServiceAccounts bound in another tenant (each of
/// them a target), and a binding of `system:authenticated` (every identity a
/// target: the index of each subject's reach answers instead).
#[test]
fn who_can_backward_search_answers_as_the_scan_in_its_edge_cases() {
    let open = "tenant open {\n  pod-security privileged\n  role runner { can create on pods }\n  grant runner to user \"podder\"\n  role minter { can create on \"serviceaccounts/token\" }\n  grant minter to user \"podder\"\n}\n";
    let found = who_can_equals_scan("edges", false, open, "  grant view to group \"system:serviceaccounts:t1\"\n");
    assert!(found > 0);
    let everyone = "tenant everyone {\n  grant view to group \"system:authenticated\"\n}\n";
    assert!(who_can_equals_scan("everyone", true, everyone, "") > 0);
}

/// Writes the fleet of [`who_can_index_answers_as_the_scan_of_every_subject`]
/// with `extra` (blocks appended to the entry) and `per_tenant` (lines added to
/// every tenant), without the cluster's `host-isolation` admission unless
/// `host_isolation`, and asserts `who-can`'s answers (and those through the index
/// of each subject's reach) equal the scan's for several requests in every
/// namespace and cluster-wide; returns how many multi-step answers there were.
fn who_can_equals_scan(tag: &str, host_isolation: bool, extra: &str, per_tenant: &str) -> usize {
    let dir = std::env::temp_dir().join(format!("khc-attack-index-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let n = 6;
    let mut entry = fleet_entry(n).replace(
        "  admission { use host-isolation }\n",
        "  admission { use host-isolation }\n  role binder {\n    can bind on clusterroles.rbac.authorization.k8s.io\n    can create on rolebindings.rbac.authorization.k8s.io\n  }\n  grant binder to user \"bob\"\n  role imp { can impersonate on users names \"bob\" }\n  grant imp to user \"carol\"\n  role masters { can impersonate on users groups uids }\n  grant masters to user \"mallory\"\n  role csr {\n    can create on certificatesigningrequests.certificates.k8s.io\n    can update on \"certificatesigningrequests.certificates.k8s.io/approval\"\n    can approve on signers.certificates.k8s.io names \"kubernetes.io/kube-apiserver-client\"\n  }\n  grant csr to user \"cert-clerk\"\n  role hooks { can create on mutatingwebhookconfigurations.admissionregistration.k8s.io }\n  grant hooks to user \"hooker\"\n  role kubelet-proxy { can get on \"nodes/proxy\" }\n  grant kubelet-proxy to user \"prober\"\n",
    );
    entry.push_str("tenant extra {\n  workload ci { selector { app \"ci\" } }\n  role reader { can get list on secrets }\n  grant reader to workload ci\n  role minter { can create on \"serviceaccounts/token\" }\n  grant minter to user \"dave\"\n  role peek { can get on secrets names \"ci\" }\n  grant peek to user \"gina\"\n  role escalator { can escalate update on roles.rbac.authorization.k8s.io names \"escalator\" }\n  grant escalator to user \"eve\"\n}\n");
    entry.push_str(extra);
    if !host_isolation {
        entry = entry.replace("  admission { use host-isolation }\n", "");
    }
    std::fs::write(dir.join("main.khc"), entry).unwrap();
    for i in 0..n {
        let t = fleet_tenant(i, n, 0);
        let t = t.trim_end().strip_suffix('}').expect("a tenant block").to_string() + &format!("  grant admin to group \"t{i}-admins\"\n{per_tenant}}}\n");
        std::fs::write(dir.join(format!("t{i}.khc")), t).unwrap();
    }
    let ws = khc_analysis::Workspace::load(&dir).unwrap_or_else(|e| panic!("{e:?}"));
    let search = khc_analysis::escalation::Search::new(&ws);
    let mut namespaces: Vec<Option<String>> = ws.tenants().flat_map(|t| t.namespaces.iter().cloned().map(Some)).collect();
    namespaces.push(None);
    let mut found = 0;
    for ns in &namespaces {
        for (verb, resource) in
            [("get", "secrets"), ("create", "pods"), ("delete", "roles.rbac.authorization.k8s.io"), ("list", "configmaps"), ("get", "/metrics")]
        {
            let req = Request::new(verb, resource, ns.as_deref(), None);
            let indexed = search.who_can(&req);
            let scan = search.who_can_scanning(&req);
            assert_eq!(indexed, scan, "{tag}: who-can {verb} {resource} in {ns:?}");
            assert_eq!(search.who_can_scoped(&req), scan, "{tag}: who-can {verb} {resource} in {ns:?} through each subject's reach");
            found += indexed.len();
        }
    }
    // The fleet's admins reach their namespaces' ServiceAccounts; bob, carol,
    // mallory, … reach anything: the comparison is not of empty answers.
    assert!(found > namespaces.len(), "{tag}: {found} multi-step answers");
    let _ = std::fs::remove_dir_all(&dir);
    found
}
