//! Each admission rule of the seeds, alone in a tenant's `admission` block: its
//! CEL (evaluated by khc-analysis as the API server would) admits the compliant
//! objects and denies the violating ones, including the tricky spellings. Pod
//! rules live in the tenant's policy; Service and PersistentVolumeClaim rules in
//! its `.resources` policy.

use khc_analysis::admission::{resource_of, Admission};
use khc_tests::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

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

fn host_path(path: &str) -> Value {
    pod(&[("/spec/volumes", json!([{"name": "h", "hostPath": {"path": path}}]))])
}

/// `(rules, minor, [(case, object, denied)])`: every case must be judged as stated.
type Cases = Vec<(&'static str, u32, Vec<(&'static str, Value, bool)>)>;

fn cases() -> Cases {
    let sc = |field: &str, v: Value| pod(&[(&format!("/spec/containers/0/securityContext/{field}"), v)]);
    let psc = |field: &str, v: Value| pod(&[(&format!("/spec/securityContext/{field}"), v)]);
    let svc = |spec: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec});
    let pvc = |spec: Value| json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "spec": spec});
    let apparmor_annotation = |v: &str| {
        let mut p = pod(&[]);
        p["metadata"]["annotations"] = json!({"container.apparmor.security.beta.kubernetes.io/app": v});
        p
    };
    vec![
        (
            "drop-all-capabilities",
            37,
            vec![
                ("drops ALL", sc("capabilities", json!({"drop": ["ALL"]})), false),
                ("drops ALL among others", sc("capabilities", json!({"drop": ["NET_RAW", "ALL"]})), false),
                ("no security context", pod(&[]), true),
                ("drops only NET_RAW", sc("capabilities", json!({"drop": ["NET_RAW"]})), true),
                ("lowercase all", sc("capabilities", json!({"drop": ["all"]})), true),
                (
                    "init container keeps capabilities",
                    pod(&[
                        ("/spec/containers/0/securityContext/capabilities", json!({"drop": ["ALL"]})),
                        ("/spec/initContainers", json!([{"name": "i", "image": "r/i:1"}])),
                    ]),
                    true,
                ),
            ],
        ),
        (
            "allowed-capabilities CAP_CHOWN NET_BIND_SERVICE",
            37,
            vec![
                ("CHOWN", sc("capabilities", json!({"add": ["CHOWN"]})), false),
                ("CAP_CHOWN", sc("capabilities", json!({"add": ["CAP_CHOWN"]})), false),
                ("CAP_NET_BIND_SERVICE", sc("capabilities", json!({"add": ["CAP_NET_BIND_SERVICE"]})), false),
                ("CAP_SYS_ADMIN", sc("capabilities", json!({"add": ["CAP_SYS_ADMIN"]})), true),
                ("ALL", sc("capabilities", json!({"add": ["ALL"]})), true),
                ("lowercase chown", sc("capabilities", json!({"add": ["chown"]})), true),
            ],
        ),
        (
            "apparmor-runtime-default",
            37,
            vec![
                ("pod RuntimeDefault", psc("appArmorProfile", json!({"type": "RuntimeDefault"})), false),
                ("container Localhost", sc("appArmorProfile", json!({"type": "Localhost", "localhostProfile": "p"})), false),
                ("annotation runtime/default", apparmor_annotation("runtime/default"), false),
                ("annotation localhost/p", apparmor_annotation("localhost/p"), false),
                ("unset", pod(&[]), true),
                ("pod Unconfined", psc("appArmorProfile", json!({"type": "Unconfined"})), true),
                ("annotation unconfined", apparmor_annotation("unconfined"), true),
                (
                    "container overrides the pod with Unconfined",
                    pod(&[
                        ("/spec/securityContext/appArmorProfile", json!({"type": "RuntimeDefault"})),
                        ("/spec/containers/0/securityContext/appArmorProfile", json!({"type": "Unconfined"})),
                    ]),
                    true,
                ),
                (
                    "pod field fine but an annotation unconfined",
                    {
                        let mut p = psc("appArmorProfile", json!({"type": "RuntimeDefault"}));
                        p["metadata"]["annotations"] = json!({"container.apparmor.security.beta.kubernetes.io/other": "unconfined"});
                        p
                    },
                    true,
                ),
            ],
        ),
        (
            "allowed-sysctls",
            31,
            vec![
                ("none", pod(&[]), false),
                ("safe", psc("sysctls", json!([{"name": "net.ipv4.tcp_syncookies", "value": "1"}])), false),
                ("unsafe", psc("sysctls", json!([{"name": "kernel.msgmax", "value": "1"}])), true),
                ("tcp_rmem is safe only from 1.32", psc("sysctls", json!([{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}])), true),
                ("slash spelling", psc("sysctls", json!([{"name": "net/ipv4/tcp_syncookies", "value": "1"}])), true),
            ],
        ),
        ("allowed-sysctls", 32, vec![("tcp_rmem from 1.32", psc("sysctls", json!([{"name": "net.ipv4.tcp_rmem", "value": "4096 87380 6291456"}])), false)]),
        (
            "allowed-sysctls kernel.msgmax",
            37,
            vec![
                ("listed", psc("sysctls", json!([{"name": "kernel.msgmax", "value": "1"}])), false),
                ("a safe one not listed", psc("sysctls", json!([{"name": "net.ipv4.tcp_syncookies", "value": "1"}])), true),
            ],
        ),
        (
            "no-unmasked-proc-mount",
            37,
            vec![
                ("unset", pod(&[]), false),
                ("Default", sc("procMount", json!("Default")), false),
                ("Unmasked", sc("procMount", json!("Unmasked")), true),
                (
                    "Unmasked in a user namespace",
                    pod(&[("/spec/hostUsers", json!(false)), ("/spec/containers/0/securityContext/procMount", json!("Unmasked"))]),
                    true,
                ),
            ],
        ),
        (
            "allowed-selinux-types",
            30,
            vec![
                ("container_t", psc("seLinuxOptions", json!({"type": "container_t"})), false),
                ("empty type", sc("seLinuxOptions", json!({"type": ""})), false),
                ("level only", sc("seLinuxOptions", json!({"level": "s0:c1"})), false),
                ("spc_t", sc("seLinuxOptions", json!({"type": "spc_t"})), true),
                ("container_engine_t before 1.31", sc("seLinuxOptions", json!({"type": "container_engine_t"})), true),
            ],
        ),
        ("allowed-selinux-types", 31, vec![("container_engine_t from 1.31", sc("seLinuxOptions", json!({"type": "container_engine_t"})), false)]),
        (
            "allowed-selinux-types my_t",
            37,
            vec![
                ("listed", sc("seLinuxOptions", json!({"type": "my_t"})), false),
                ("default no longer", sc("seLinuxOptions", json!({"type": "container_t"})), true),
            ],
        ),
        (
            "no-selinux-overrides",
            37,
            vec![
                ("type and level", psc("seLinuxOptions", json!({"type": "container_t", "level": "s0"})), false),
                ("empty user", sc("seLinuxOptions", json!({"user": ""})), false),
                ("user", sc("seLinuxOptions", json!({"user": "system_u"})), true),
                ("pod role", psc("seLinuxOptions", json!({"role": "system_r"})), true),
            ],
        ),
        (
            "no-host-process",
            37,
            vec![
                ("false", psc("windowsOptions", json!({"hostProcess": false})), false),
                ("gMSA only", sc("windowsOptions", json!({"gmsaCredentialSpecName": "x"})), false),
                ("pod hostProcess", psc("windowsOptions", json!({"hostProcess": true})), true),
                ("container hostProcess", sc("windowsOptions", json!({"hostProcess": true})), true),
            ],
        ),
        (
            "no-host-probes",
            37,
            vec![
                ("probe without host", pod(&[("/spec/containers/0/readinessProbe", json!({"httpGet": {"port": 8080}}))]), false),
                ("empty host", pod(&[("/spec/containers/0/livenessProbe", json!({"tcpSocket": {"port": 8080, "host": ""}}))]), false),
                ("httpGet host", pod(&[("/spec/containers/0/livenessProbe", json!({"httpGet": {"port": 80, "host": "169.254.169.254"}}))]), true),
                ("startup tcpSocket host", pod(&[("/spec/containers/0/startupProbe", json!({"tcpSocket": {"port": 80, "host": "10.0.0.1"}}))]), true),
                ("preStop httpGet host", pod(&[("/spec/containers/0/lifecycle", json!({"preStop": {"httpGet": {"port": 80, "host": "example.com"}}}))]), true),
                ("postStart tcpSocket host", pod(&[("/spec/containers/0/lifecycle", json!({"postStart": {"tcpSocket": {"port": 80, "host": "x"}}}))]), true),
            ],
        ),
        (
            "allowed-volume-types",
            30,
            vec![
                ("no volumes", pod(&[]), false),
                (
                    "restricted set",
                    pod(&[(
                        "/spec/volumes",
                        json!([{"name": "a", "emptyDir": {}}, {"name": "b", "secret": {"secretName": "s"}}, {"name": "c", "projected": {"sources": []}}]),
                    )]),
                    false,
                ),
                ("hostPath", host_path("/data"), true),
                ("gitRepo", pod(&[("/spec/volumes", json!([{"name": "g", "gitRepo": {"repository": "https://x"}}]))]), true),
                ("nfs", pod(&[("/spec/volumes", json!([{"name": "n", "nfs": {"server": "s", "path": "/"}}]))]), true),
                ("image before 1.31", pod(&[("/spec/volumes", json!([{"name": "i", "image": {"reference": "r/x:1"}}]))]), true),
            ],
        ),
        ("allowed-volume-types", 31, vec![("image from 1.31", pod(&[("/spec/volumes", json!([{"name": "i", "image": {"reference": "r/x:1"}}]))]), false)]),
        (
            "allowed-volume-types configMap nfs",
            37,
            vec![
                ("nfs listed", pod(&[("/spec/volumes", json!([{"name": "n", "nfs": {"server": "s", "path": "/"}}]))]), false),
                ("emptyDir not listed", pod(&[("/spec/volumes", json!([{"name": "e", "emptyDir": {}}]))]), true),
            ],
        ),
        (
            "allowed-host-paths \"/var/log\" \"/data/\"",
            37,
            vec![
                ("exact", host_path("/var/log"), false),
                ("below", host_path("/var/log/pods"), false),
                ("double slash and dot", host_path("//var/./log//x/"), false),
                ("trailing slash prefix", host_path("/data/x"), false),
                ("look-alike sibling", host_path("/var/logs"), true),
                ("parent", host_path("/var"), true),
                ("backstep out", host_path("/var/log/../../etc"), true),
                ("elsewhere", host_path("/etc"), true),
            ],
        ),
        (
            "allowed-host-paths \"/var/log\" readonly",
            37,
            vec![
                (
                    "read-only mount",
                    pod(&[
                        ("/spec/volumes", json!([{"name": "h", "hostPath": {"path": "/var/log"}}])),
                        ("/spec/containers/0/volumeMounts", json!([{"name": "h", "mountPath": "/l", "readOnly": true}])),
                    ]),
                    false,
                ),
                (
                    "writable mount",
                    pod(&[
                        ("/spec/volumes", json!([{"name": "h", "hostPath": {"path": "/var/log"}}])),
                        ("/spec/containers/0/volumeMounts", json!([{"name": "h", "mountPath": "/l"}])),
                    ]),
                    true,
                ),
                (
                    "writable mount in an init container",
                    pod(&[
                        ("/spec/volumes", json!([{"name": "h", "hostPath": {"path": "/var/log"}}])),
                        (
                            "/spec/initContainers",
                            json!([{"name": "i", "image": "r/i:1", "volumeMounts": [{"name": "h", "mountPath": "/l", "readOnly": false}]}]),
                        ),
                    ]),
                    true,
                ),
                (
                    "other volume writable",
                    pod(&[
                        ("/spec/volumes", json!([{"name": "e", "emptyDir": {}}])),
                        ("/spec/containers/0/volumeMounts", json!([{"name": "e", "mountPath": "/e"}])),
                    ]),
                    false,
                ),
            ],
        ),
        (
            "no-docker-socket",
            37,
            vec![
                ("data directory", host_path("/data"), false),
                ("logs", host_path("/var/log/pods"), false),
                ("a file named like a runtime elsewhere", host_path("/srv/dockerfiles"), false),
                ("docker socket", host_path("/var/run/docker.sock"), true),
                ("cri-dockerd socket", host_path("/var/run/cri-dockerd.sock"), true),
                ("/var/./run", host_path("/var/./run/docker.sock"), true),
                ("/run/.", host_path("/run/."), true),
                ("trailing slash", host_path("/run/containerd/"), true),
                ("double slash", host_path("//var//run//docker.sock"), true),
                ("through /proc/1/root", host_path("/proc/1/root/run/containerd/containerd.sock"), true),
                ("/proc/1/root itself", host_path("/proc/1/root"), true),
                ("/proc", host_path("/proc"), true),
                ("MicroK8s runtime directory", host_path("/var/snap/microk8s/common/run"), true),
                ("MicroK8s containerd socket", host_path("/var/snap/microk8s/common/run/containerd.sock"), true),
                ("k0s runtime directory", host_path("/run/k0s"), true),
                ("k0s containerd socket", host_path("/run/k0s/containerd.sock"), true),
                ("container storage", host_path("/var/lib/containers"), true),
                ("container storage below", host_path("/var/lib/containers/storage"), true),
                ("Windows docker pipe", host_path("\\\\.\\pipe\\docker_engine"), true),
                ("Windows containerd pipe", host_path("\\\\.\\pipe\\containerd-containerd"), true),
                ("Windows pipe, forward slashes, upper case", host_path("//./pipe/Docker_Engine"), true),
                ("another Windows pipe", host_path("\\\\.\\pipe\\my-app"), false),
                ("/var/lib/containerised-app (not container storage)", host_path("/var/lib/containerised-app"), false),
                ("through /proc/1/cwd", host_path("/proc/1/cwd/run"), true),
                ("/proc/self/root/var/run", host_path("/proc/self/root/var/run"), true),
                ("podman socket", host_path("/run/podman/podman.sock"), true),
                ("/var/run/podman", host_path("/var/run/podman"), true),
                ("containerd socket", host_path("/run/containerd/containerd.sock"), true),
                ("CRI-O socket", host_path("/var/run/crio/crio.sock"), true),
                ("/var/run", host_path("/var/run"), true),
                ("/run", host_path("/run"), true),
                ("/", host_path("/"), true),
                ("/var", host_path("/var"), true),
                ("rootless runtime directory", host_path("/run/user/1000"), true),
                ("backstep", host_path("/var/log/../run/docker.sock"), true),
                ("docker data", host_path("/var/lib/docker"), true),
            ],
        ),
        (
            "run-as-group",
            37,
            vec![
                ("pod group", psc("runAsGroup", json!(1000)), false),
                ("container group", sc("runAsGroup", json!(1000)), false),
                ("unset", pod(&[]), true),
                ("group 0", psc("runAsGroup", json!(0)), true),
                (
                    "container overrides with 0",
                    pod(&[("/spec/securityContext/runAsGroup", json!(1000)), ("/spec/containers/0/securityContext/runAsGroup", json!(0))]),
                    true,
                ),
            ],
        ),
        ("min-gid 1000", 37, vec![("1000", psc("runAsGroup", json!(1000)), false), ("999", sc("runAsGroup", json!(999)), true), ("unset", pod(&[]), true)]),
        ("require-fs-group", 37, vec![("set", psc("fsGroup", json!(2000)), false), ("unset", pod(&[]), true)]),
        ("min-fs-group 2000", 37, vec![("2000", psc("fsGroup", json!(2000)), false), ("1999", psc("fsGroup", json!(1999)), true), ("unset", pod(&[]), true)]),
        (
            "no-root-groups",
            37,
            vec![
                ("unset", pod(&[]), false),
                ("non-zero", pod(&[("/spec/securityContext", json!({"runAsGroup": 1, "fsGroup": 2, "supplementalGroups": [3, 4]}))]), false),
                ("fsGroup 0", psc("fsGroup", json!(0)), true),
                ("supplementary 0", psc("supplementalGroups", json!([5, 0])), true),
                ("container runAsGroup 0", sc("runAsGroup", json!(0)), true),
            ],
        ),
        (
            "no-default-service-account",
            37,
            vec![
                ("own account", pod(&[("/spec/serviceAccountName", json!("api"))]), false),
                ("unset", pod(&[]), true),
                ("default", pod(&[("/spec/serviceAccountName", json!("default"))]), true),
                ("empty", pod(&[("/spec/serviceAccountName", json!(""))]), true),
            ],
        ),
        (
            "allowed-runtime-classes gvisor kata",
            37,
            vec![
                ("gvisor", pod(&[("/spec/runtimeClassName", json!("gvisor"))]), false),
                ("unset", pod(&[]), true),
                ("runc", pod(&[("/spec/runtimeClassName", json!("runc"))]), true),
            ],
        ),
        (
            "allowed-storage-classes fast",
            37,
            vec![
                ("PVC fast", pvc(json!({"storageClassName": "fast"})), false),
                ("PVC unset (default class)", pvc(json!({})), true),
                ("PVC slow", pvc(json!({"storageClassName": "slow"})), true),
                (
                    "ephemeral fast",
                    pod(&[("/spec/volumes", json!([{"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {"storageClassName": "fast"}}}}]))]),
                    false,
                ),
                ("ephemeral unset", pod(&[("/spec/volumes", json!([{"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]))]), true),
                (
                    "StatefulSet claim template slow",
                    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "r/a:1"}]}}, "volumeClaimTemplates": [{"spec": {"storageClassName": "slow"}}]}}),
                    true,
                ),
                ("pod without claims", pod(&[]), false),
                (
                    "PVC beta annotation slow over storageClassName fast",
                    {
                        let mut c = pvc(json!({"storageClassName": "fast"}));
                        c["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "slow"});
                        c
                    },
                    true,
                ),
                (
                    "PVC beta annotation fast, no storageClassName",
                    {
                        let mut c = pvc(json!({}));
                        c["metadata"]["annotations"] = json!({"volume.beta.kubernetes.io/storage-class": "fast"});
                        c
                    },
                    false,
                ),
                (
                    "ephemeral beta annotation slow",
                    pod(&[(
                        "/spec/volumes",
                        json!([{"name": "e", "ephemeral": {"volumeClaimTemplate": {"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "slow"}}, "spec": {"storageClassName": "fast"}}}}]),
                    )]),
                    true,
                ),
                (
                    "StatefulSet claim template beta annotation slow",
                    json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "r/a:1"}]}}, "volumeClaimTemplates": [{"metadata": {"annotations": {"volume.beta.kubernetes.io/storage-class": "slow"}}, "spec": {"storageClassName": "fast"}}]}}),
                    true,
                ),
            ],
        ),
        (
            "no-latest-tag",
            37,
            vec![
                ("pinned", pod(&[]), false),
                ("latest", pod(&[("/spec/containers/0/image", json!("r/app:latest"))]), true),
                ("image volume pinned", pod(&[("/spec/volumes", json!([{"name": "i", "image": {"reference": "r/data:1"}}]))]), false),
                ("image volume latest", pod(&[("/spec/volumes", json!([{"name": "i", "image": {"reference": "r/data:latest"}}]))]), true),
                ("image volume untagged", pod(&[("/spec/volumes", json!([{"name": "i", "image": {"reference": "r/data"}}]))]), true),
            ],
        ),
        (
            "allowed-registries \"registry.example.com/\"",
            37,
            vec![
                ("allowed", pod(&[("/spec/containers/0/image", json!("registry.example.com/app:1"))]), false),
                ("other", pod(&[("/spec/containers/0/image", json!("evil.io/app:1"))]), true),
                (
                    "image volume from another registry",
                    pod(&[
                        ("/spec/containers/0/image", json!("registry.example.com/app:1")),
                        ("/spec/volumes", json!([{"name": "i", "image": {"reference": "evil.io/data:1"}}])),
                    ]),
                    true,
                ),
                (
                    "image volume from the registry",
                    pod(&[
                        ("/spec/containers/0/image", json!("registry.example.com/app:1")),
                        ("/spec/volumes", json!([{"name": "i", "image": {"reference": "registry.example.com/data:1"}}])),
                    ]),
                    false,
                ),
            ],
        ),
        (
            "no-external-ips",
            37,
            vec![
                ("ClusterIP", svc(json!({"ports": [{"port": 80}]})), false),
                ("empty list", svc(json!({"externalIPs": []})), false),
                ("external IP", svc(json!({"externalIPs": ["203.0.113.7"]})), true),
                ("pods are not judged", pod(&[]), false),
            ],
        ),
        (
            "allowed-service-types ClusterIP",
            37,
            vec![
                ("unset is ClusterIP", svc(json!({})), false),
                ("ClusterIP", svc(json!({"type": "ClusterIP"})), false),
                ("LoadBalancer", svc(json!({"type": "LoadBalancer"})), true),
                ("NodePort", svc(json!({"type": "NodePort"})), true),
                ("ExternalName", svc(json!({"type": "ExternalName", "externalName": "x.example.com"})), true),
            ],
        ),
    ]
}

#[test]
fn every_rule_admits_and_denies_as_documented() {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for (rules, minor, cases) in cases() {
        let a = admission(rules, minor);
        let keyword = rules.split_whitespace().next().unwrap_or_default().to_string();
        for (name, object, denied) in cases {
            *counts.entry(keyword.clone()).or_default() += 1;
            let found = denied_by(&a, &object);
            let expected: Vec<String> = if denied { vec![keyword.clone()] } else { Vec::new() };
            if found != expected {
                problems.push(format!("`{rules}` (1.{minor}), {name}: denied by {found:?}, expected {expected:?}"));
            }
        }
    }
    eprintln!("cases per rule: {counts:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(counts.len() >= 22, "every new rule has cases: {counts:?}");
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
