//! Issue 17 on real API servers (1.37.2 and 1.30.14): every attack step a tenant
//! role or a cluster role opened is run **as the attacker** (kubectl `--as`) and
//! refused by khc's admission policies, next to the legitimate control that
//! still works — kube-controller-manager's ClusterRole aggregation controller
//! (running as its own ServiceAccount, as kubeadm runs it) updating `edit`, the
//! applier's re-apply, a tenant deleting its own objects by label with a
//! `deletecollection`, a foreign ClusterRole created by a permitted user.
//!
//! Items 5, 9 and 10 of the issue are diagnostics, not refusals (a policy cannot
//! protect ValidatingAdmissionPolicies, ExternalName is warned, a grant that does
//! nothing refuses nothing): `tests/attack_paths.rs`.

use khc_tests::kube::{bin_dirs, write_output, Cluster, Options, TempDir};
use khc_tests::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output as ProcOutput;
use std::time::{Duration, Instant};

/// The applier of the test program.
const APPLIER: &str = "system:serviceaccount:platform:gitops";

/// The program: a cluster whose applier is `platform/gitops`, the attackers'
/// roles, and the tenants they attack.
fn program(minor: u32) -> String {
    format!(
        r#"cluster c {{
  kubernetes 1.{minor}
  managed-by serviceaccount "platform/gitops"
  role stuck-namespaces {{ can get update on "namespaces/finalize" }}
  grant stuck-namespaces to user "finalizer"
  role deployer {{ can create on deployments.apps }}
  grant deployer to user "deployer"
  role rbac-writer {{
    can create on clusterroles.rbac.authorization.k8s.io
    can get list update patch delete escalate on clusterroles.rbac.authorization.k8s.io
  }}
  grant rbac-writer to user "rbac-admin"
}}
tenant platform {{
  role minter {{ can create on "serviceaccounts/token" }}
  grant minter to user "minter"
}}
tenant payments {{
  role status-writer {{ can get update patch on "namespaces/status" "resourcequotas/status" }}
  grant status-writer to user "mallory"
  quota {{ pods 10 }}
  nodes {{
    selector pool "payments"
    toleration dedicated "payments"
  }}
}}
tenant shop {{
  # shop manages its own NetworkPolicies (no khc-network-shop guard), so that its
  # own create and label-selected deletecollection are the controls of item 4.
  network-policies self-managed
  role cleaner {{ can list deletecollection on networkpolicies.networking.k8s.io }}
  grant cleaner to user "shopdev"
  grant edit to user "shopdev"
}}
tenant store {{
  pod-security privileged
  grant edit to user "storedev"
  admission {{
    allowed-storage-classes fast
    allowed-registries "registry.example.com/"
    no-latest-tag
    no-docker-socket
  }}
}}
"#
    )
}

/// A pod that Pod Security `restricted` admits, with `spec` merged in.
fn pod(ns: &str, name: &str, spec: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "app", "image": "registry.example.com/app:1",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
        }
    });
    for (k, v) in spec.as_object().cloned().unwrap_or_default() {
        p["spec"][k] = v;
    }
    p
}

/// The attacks and controls, on one server.
struct Run<'a> {
    c: &'a Cluster,
    problems: Vec<String>,
    refused: usize,
    allowed: usize,
}

impl Run<'_> {
    fn kubectl_as(&self, who: &str, args: &[&str], stdin: Option<&Value>) -> ProcOutput {
        let mut a = vec!["--as", who];
        a.extend_from_slice(args);
        match stdin {
            Some(v) => self.c.kubectl_stdin(&a, &v.to_string()),
            None => self.c.kubectl(&a),
        }
    }

    /// The step must fail with `needle` in the error (khc's policy refused it).
    fn refused(&mut self, what: &str, who: &str, args: &[&str], stdin: Option<&Value>, needle: &str) {
        let out = self.kubectl_as(who, args, stdin);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() {
            self.problems.push(format!("{what}: {who} may `{}`", args.join(" ")));
        } else if !err.contains(needle) {
            self.problems.push(format!("{what}: {who} `{}` refused, but not by khc (`{needle}`): {err}", args.join(" ")));
        } else {
            self.refused += 1;
            eprintln!("  refused: {what}");
        }
    }

    /// The step must succeed.
    fn allowed(&mut self, what: &str, who: &str, args: &[&str], stdin: Option<&Value>) {
        let out = self.kubectl_as(who, args, stdin);
        if out.status.success() {
            self.allowed += 1;
            eprintln!("  allowed: {what}");
        } else {
            self.problems.push(format!("{what}: {who} `{}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
        }
    }
}

/// `-R -f` over the cluster and tenant units of an output folder.
fn object_args(dir: &Path) -> Vec<String> {
    ["cluster", "tenants"].iter().flat_map(|u| ["-R".to_string(), "-f".to_string(), dir.join(u).display().to_string()]).collect()
}

/// Waits until khc's policies are in force (a relabel of a khc namespace by a
/// user RBAC allows is refused).
fn wait_for_policies(c: &Cluster) {
    let t0 = Instant::now();
    loop {
        let out =
            c.kubectl(&["--as", "probe", "label", "namespace", "shop", "pod-security.kubernetes.io/enforce=privileged", "--overwrite", "--dry-run=server"]);
        if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("managed by khc") {
            // Every policy and binding was created together; give the informers a moment more.
            std::thread::sleep(Duration::from_secs(2));
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "khc's policies not in force after 60 s: {}", String::from_utf8_lossy(&out.stderr));
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn attacks_with_tenant_and_cluster_roles_are_refused_on_real_api_servers() {
    for bin in bin_dirs("attacks_with_tenant_and_cluster_roles_are_refused_on_real_api_servers") {
        let version = khc_tests::kube::version_of(&bin);
        let minor: u32 = version.trim_start_matches("v1.").split('.').next().unwrap().parse().unwrap();
        let tmp = TempDir::new(&format!("attacks-{version}"));
        let src = tmp.0.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("cluster.khc"), program(minor)).unwrap();
        // `KHC_ATTACKS_KHC=PATH` builds the tree with another khc binary (say, one
        // built before issue 17) to see the attacks succeed there.
        let dir = match std::env::var_os("KHC_ATTACKS_KHC") {
            Some(khc) => {
                let o = std::process::Command::new(khc).arg("build").arg(&src).arg("-o").arg(tmp.0.join("out")).output().unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                tmp.0.join("out/clusters/c")
            }
            None => {
                let (out, diags) = compile(&src);
                assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
                write_output(&out, &tmp.0.join("out"))
            }
        };
        let c = Cluster::start(&bin, Options { controller_manager: true, controller_credentials: true, ..Options::default() });
        eprintln!("== {}: attacks", c.version());
        // The applier (cluster-admin outside khc's output) and a probe user RBAC allows everything.
        let setup = json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "test-applier"},
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
             "subjects": [{"kind": "ServiceAccount", "name": "gitops", "namespace": "platform"},
                          {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "probe"}]}
        ]});
        let r = c.kubectl_stdin(&["apply", "-f", "-"], &setup.to_string());
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        // The applier applies the output (server-side, as a GitOps engine would).
        let args = object_args(&dir);
        let mut apply: Vec<&str> = vec!["--as", APPLIER, "apply", "--server-side", "--field-manager=khc"];
        apply.extend(args.iter().map(String::as_str));
        c.kubectl_ok(&apply);
        wait_for_policies(&c);
        // The applier's ServiceAccount and another one in its namespace; an
        // unmanaged namespace where `ingressdev` has `edit`.
        c.kubectl_ok(&["create", "serviceaccount", "gitops", "-n", "platform"]);
        c.kubectl_ok(&["create", "serviceaccount", "other", "-n", "platform"]);
        c.kubectl_ok(&["create", "namespace", "ingress"]);
        // (No ServiceAccount controller runs: the unmanaged namespace gets its `default` by hand.)
        c.kubectl_ok(&["create", "serviceaccount", "default", "-n", "ingress"]);
        c.kubectl_ok(&["create", "rolebinding", "ingressdev-edit", "--clusterrole=edit", "--user=ingressdev", "-n", "ingress"]);
        let mut run = Run { c: &c, problems: Vec::new(), refused: 0, allowed: 0 };

        // (1) Pod Security labels through namespaces/status and namespaces/finalize.
        let relabel = json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}).to_string();
        run.refused(
            "(1) namespaces/status relabels payments privileged",
            "mallory",
            &["patch", "namespace", "payments", "--subresource=status", "--type=merge", "-p", &relabel],
            None,
            "managed by khc",
        );
        let ns: Value = serde_json::from_str(&c.kubectl_ok(&["get", "namespace", "payments", "-o", "json"])).unwrap();
        let mut privileged = ns.clone();
        privileged["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = json!("privileged");
        let file = tmp.0.join("finalize.json");
        std::fs::write(&file, privileged.to_string()).unwrap();
        let f = file.display().to_string();
        run.refused(
            "(1) namespaces/finalize relabels payments privileged",
            "finalizer",
            &["replace", "--raw", "/api/v1/namespaces/payments/finalize", "-f", &f],
            None,
            "managed by khc",
        );
        std::fs::write(&file, ns.to_string()).unwrap();
        run.allowed(
            "(1) control: namespaces/finalize without a label change",
            "finalizer",
            &["replace", "--raw", "/api/v1/namespaces/payments/finalize", "-f", &f],
            None,
        );
        let now: Value = serde_json::from_str(&c.kubectl_ok(&["get", "namespace", "payments", "-o", "json"])).unwrap();
        if now["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] != "restricted" {
            run.problems.push(format!("(1) payments is no longer restricted: {}", now["metadata"]["labels"]));
        }

        // (2) Becoming the applier: its token, pods running as it.
        run.refused("(2) a token for the applier", "minter", &["create", "token", "gitops", "-n", "platform"], None, "may request its tokens");
        run.allowed("(2) control: a token for another ServiceAccount", "minter", &["create", "token", "other", "-n", "platform"], None);
        let deployment = |sa: &str| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("run-as-{sa}"), "namespace": "platform"},
                "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}},
                    "spec": pod("platform", "x", json!({"serviceAccountName": sa}))["spec"].clone()}}})
        };
        run.refused(
            "(2) a Deployment running as the applier",
            "deployer",
            &["create", "--dry-run=server", "-f", "-"],
            Some(&deployment("gitops")),
            "may not run as the applier",
        );
        run.allowed(
            "(2) control: a Deployment running as another ServiceAccount",
            "deployer",
            &["create", "--dry-run=server", "-f", "-"],
            Some(&deployment("other")),
        );

        // (3) Another tenant (with `edit`) and an unmanaged namespace on payments' nodes.
        let create = ["create", "--dry-run=server", "-f", "-"];
        for (ns, who) in [("shop", "shopdev"), ("ingress", "ingressdev")] {
            let attacks = [
                ("payments' nodeSelector", json!({"nodeSelector": {"pool": "payments"}}), "selecting tenant payments's nodes"),
                (
                    "payments' toleration",
                    json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "payments", "effect": "NoSchedule"}]}),
                    "tolerating tenant payments's taints",
                ),
                ("a keyless Exists toleration", json!({"tolerations": [{"operator": "Exists"}]}), "tolerating tenant payments's taints"),
                ("nodeName on payments' node", json!({"nodeName": "payments-node-1"}), "may not name their node"),
                (
                    "a required affinity for payments' pool",
                    json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["payments"]}]}]}}}}),
                    "selecting tenant payments's nodes",
                ),
            ];
            for (what, spec, needle) in attacks {
                run.refused(&format!("(3) a pod in {ns} with {what}"), who, &create, Some(&pod(ns, "p", spec)), needle);
            }
            let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "everywhere", "namespace": ns},
                "spec": {"selector": {"matchLabels": {"app": "d"}}, "template": {"metadata": {"labels": {"app": "d"}},
                    "spec": pod(ns, "d", json!({"tolerations": [{"operator": "Exists"}]}))["spec"].clone()}}});
            run.refused(&format!("(3) a DaemonSet in {ns} tolerating everything"), who, &create, Some(&ds), "tolerating tenant payments's taints");
            run.allowed(&format!("(3) control: a plain pod in {ns}"), who, &create, Some(&pod(ns, "p", json!({}))));
        }

        // (4) Keyed on the object: foreign ClusterRoles, the aggregation controller,
        // a tenant's deletecollection of its own objects; khc's objects still protected.
        let foreign = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "foreign"}, "rules": []});
        run.allowed("(4) control: a foreign ClusterRole created by a permitted user", "rbac-admin", &["create", "-f", "-"], Some(&foreign));
        run.allowed("(4) control: the foreign ClusterRole deleted again", "rbac-admin", &["delete", "clusterrole", "foreign"], None);
        run.refused("(4) khc's ClusterRole relabelled", "rbac-admin", &["label", "clusterrole", "deployer", "x=y"], None, "managed by khc");
        run.refused("(4) khc's ClusterRole deleted", "rbac-admin", &["delete", "clusterrole", "deployer"], None, "managed by khc");
        let aggregated = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "widgets-edit", "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
            "rules": [{"apiGroups": ["widgets.example.com"], "resources": ["widgets"], "verbs": ["get", "update"]}]});
        let r = c.kubectl_stdin(&["create", "-f", "-"], &aggregated.to_string());
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let t0 = Instant::now();
        loop {
            let edit = c.kubectl_ok(&["get", "clusterrole", "edit", "-o", "json"]);
            if edit.contains("widgets.example.com") {
                run.allowed += 1;
                eprintln!("  allowed: (4) control: the aggregation controller updated `edit` in {:.1}s", t0.elapsed().as_secs_f64());
                break;
            }
            if t0.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(c.dir.join("kube-controller-manager.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                run.problems.push(format!("(4) the aggregation controller did not update `edit` in 60 s: {}", tail.join("\n")));
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let mine = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "mine", "namespace": "shop", "labels": {"team": "a"}},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
        run.allowed("(4) control: the tenant creates its own NetworkPolicy", "shopdev", &["create", "-f", "-"], Some(&mine));
        run.allowed(
            "(4) control: the tenant deletes its own NetworkPolicies by label (deletecollection)",
            "shopdev",
            &["delete", "--raw", "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies?labelSelector=team%3Da"],
            None,
        );
        if c.kubectl(&["get", "networkpolicy", "mine", "-n", "shop"]).status.success() {
            run.problems.push("(4) the deletecollection left `mine` in place".into());
        }
        run.refused(
            "(4) khc's NetworkPolicies deleted by label (deletecollection)",
            "shopdev",
            &["delete", "--raw", "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dkhc"],
            None,
            "managed by khc",
        );
        run.refused("(4) khc's default-deny deleted by name", "shopdev", &["delete", "networkpolicy", "default-deny", "-n", "shop"], None, "managed by khc");

        // (6) A quota's recorded usage reset through resourcequotas/status.
        let reset = json!({"status": {"hard": {"pods": "10"}, "used": {"pods": "0"}}}).to_string();
        run.refused(
            "(6) resourcequotas/status reset",
            "mallory",
            &["patch", "resourcequota", "payments-quota", "-n", "payments", "--subresource=status", "--type=merge", "-p", &reset],
            None,
            "managed by khc",
        );

        // (7) A projected ServiceAccount token in a pod whose workload does not mount it.
        let projected =
            json!({"serviceAccountName": "default", "volumes": [{"name": "tok", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]});
        run.refused("(7) a projected serviceAccountToken volume", "shopdev", &create, Some(&pod("shop", "p", projected)), "projected serviceAccountToken");

        // (8) Coverage gaps: the beta storage-class annotation, runtime directories, image volumes.
        let pvc = |annotation: Option<&str>| {
            let mut p = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "store"},
                "spec": {"storageClassName": "fast", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
            if let Some(a) = annotation {
                p["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": a});
            }
            p
        };
        run.refused("(8) a claim whose beta annotation names another class", "storedev", &create, Some(&pvc(Some("slow"))), "must name a storage class");
        run.allowed("(8) control: a claim of an allowed class", "storedev", &create, Some(&pvc(None)));
        for path in ["/run/k0s", "/var/snap/microk8s/common/run", "/var/lib/containers/storage", "\\\\.\\pipe\\docker_engine"] {
            let p = pod("store", "h", json!({"volumes": [{"name": "h", "hostPath": {"path": path}}]}));
            run.refused(&format!("(8) hostPath {path}"), "storedev", &create, Some(&p), "container runtime socket");
        }
        if minor >= 35 {
            // Image volumes: beta and enabled by default from 1.35 (older servers drop the field).
            let p = pod("store", "i", json!({"volumes": [{"name": "i", "image": {"reference": "evil.example/data:1"}}]}));
            run.refused("(8) an image volume from another registry", "storedev", &create, Some(&p), "image volumes");
            let p = pod("store", "i", json!({"volumes": [{"name": "i", "image": {"reference": "registry.example.com/data:latest"}}]}));
            run.refused("(8) an image volume tagged latest", "storedev", &create, Some(&p), "image volumes");
        }

        // The applier's re-apply restores and changes nothing it should not.
        let mut reapply = apply.clone();
        reapply.push("--force-conflicts");
        let out = c.kubectl(&reapply);
        if out.status.success() {
            run.allowed += 1;
            eprintln!("  allowed: control: the applier's re-apply");
        } else {
            run.problems.push(format!("the applier's re-apply failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        eprintln!("== {}: {} refused, {} controls allowed", c.version(), run.refused, run.allowed);
        assert!(run.problems.is_empty(), "{}:\n{}", c.version(), run.problems.join("\n"));
    }
}
