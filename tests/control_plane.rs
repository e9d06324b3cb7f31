//! The control-plane outputs (SPEC section 7) and the `managed-by` protection
//! (SPEC section 4): every key of the generated API server configuration is a field
//! of its Go type (read from the Kubernetes sources in the Go module cache), the
//! files follow the target version, the installer installs them safely, and the
//! protection policy's CEL — evaluated with the `cel` interpreter, with `request`,
//! `object` and `oldObject` as the API server binds them — denies everyone but the
//! applier.

use khc_tests::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn program(cluster_body: &str, tenant: &str) -> String {
    format!("cluster c {{\n{cluster_body}}}\n{tenant}")
}

fn build(src: &str) -> (khc_emit::Output, String) {
    let (out, diags, rendered) = compile_sources(&[("c.khc", src)]);
    let out = out.unwrap_or_else(|| panic!("{diags:?}\n{rendered}"));
    (out, rendered)
}

fn file<'a>(out: &'a khc_emit::Output, name: &str) -> Option<&'a str> {
    out.files.iter().find(|f| f.path.ends_with(&format!("/control-plane/{name}"))).map(|f| f.contents.as_str())
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("YAML")
}

const FULL: &str = "  kubernetes 1.35\n  managed-by serviceaccount \"argocd/argocd-application-controller\" group \"platform-admins\" user \"ci\"\n  \
audit { log-path \"/var/log/k8s/audit.log\"; max-age 7; max-backups 3; max-size 50 }\n  \
pod-security {\n    enforce restricted\n    version latest\n    exempt-usernames \"system:serviceaccount:ops:debugger\"\n    exempt-runtime-classes kata\n    exempt-namespaces kube-system ops\n  }\n  \
authentication {\n    anonymous health-only\n    oidc \"https://login.example.com\" {\n      audience \"kubernetes\" \"kubectl\"\n      username-claim \"email\"\n      username-prefix \"sso:\"\n      groups-claim \"groups\"\n      groups-prefix \"sso:\"\n    }\n  }\n  \
encryption { provider secretbox { key k env \"K\" } }\n";

// ---------------------------------------------------------------------------------
// Field names against the Go types.

/// The Go module cache (`go env GOMODCACHE`, else `~/go/pkg/mod`).
fn gomodcache() -> Option<PathBuf> {
    let out = Command::new("go").args(["env", "GOMODCACHE"]).output().ok().filter(|o| o.status.success());
    let dir =
        out.map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())).or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join("go/pkg/mod")))?;
    dir.is_dir().then_some(dir)
}

/// Every `json:"NAME` tag of a Go file.
fn json_tags(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("json:\"").skip(1).map(|rest| rest.split([',', '"']).next().unwrap_or("").to_string()).filter(|t| !t.is_empty() && t != "-").collect()
}

/// Every key of a JSON value (object keys at any depth).
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                keys(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys(x, out)),
        _ => {}
    }
}

fn assert_fields(doc: &Value, go_files: &[PathBuf], what: &str) {
    let mut tags: Vec<String> = go_files.iter().flat_map(|f| json_tags(f)).collect();
    tags.extend(["apiVersion".to_string(), "kind".to_string()]); // TypeMeta, inlined
    let mut ks = Vec::new();
    keys(doc, &mut ks);
    let unknown: Vec<&String> = ks.iter().filter(|k| !tags.contains(k)).collect();
    assert!(unknown.is_empty(), "{what}: keys that are no field of the Go types: {unknown:?}");
}

#[test]
fn every_key_is_a_field_of_the_go_types() {
    let Some(m) = gomodcache() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("the Go module cache (Kubernetes sources) is required in CI");
        }
        eprintln!("SKIPPED every_key_is_a_field_of_the_go_types: no Go module cache");
        return;
    };
    let apiserver = |v: &str, rel: &str| m.join(format!("k8s.io/apiserver@v0.{v}/{rel}"));
    let psa = |v: &str| m.join(format!("k8s.io/pod-security-admission@v0.{v}/admission/api/v1/types.go"));
    for (minor, go) in [(35, "37.2"), (30, "30.14")] {
        if !apiserver(go, "pkg/apis/audit/v1/types.go").is_file() {
            eprintln!("SKIPPED Kubernetes 1.{go}: not in the module cache");
            continue;
        }
        let (out, _) = build(&program(&FULL.replace("kubernetes 1.35", &format!("kubernetes 1.{minor}")), ""));
        let audit = yaml(file(&out, "audit-policy.yaml").unwrap());
        assert_fields(&audit, &[apiserver(go, "pkg/apis/audit/v1/types.go")], "audit Policy");
        let admission = yaml(file(&out, "admission-config.yaml").unwrap());
        let mut plugin_config = admission["plugins"][0]["configuration"].clone();
        let mut outer = admission.clone();
        for plugin in outer["plugins"].as_array_mut().unwrap() {
            plugin.as_object_mut().unwrap().remove("configuration");
        }
        assert_fields(&outer, &[apiserver(go, "pkg/apis/apiserver/v1/types.go")], "AdmissionConfiguration");
        assert_eq!(plugin_config["apiVersion"], "pod-security.admission.config.k8s.io/v1");
        plugin_config.as_object_mut().unwrap().remove("apiVersion");
        assert_fields(&plugin_config, &[psa(go)], "PodSecurityConfiguration");
        let authn = yaml(file(&out, "authentication-config.yaml").unwrap());
        let version = authn["apiVersion"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
        let authn_go = apiserver(go, &format!("pkg/apis/apiserver/{version}/types.go"));
        assert!(authn_go.is_file(), "{version} AuthenticationConfiguration is not a type of Kubernetes {go}");
        assert_fields(&authn, &[authn_go], "AuthenticationConfiguration");
        // EventRateLimit's configuration, inside the AdmissionConfiguration.
        let erl = &admission["plugins"][1];
        assert_eq!(erl["name"], "EventRateLimit");
        assert_eq!(erl["configuration"]["apiVersion"], "eventratelimit.admission.k8s.io/v1alpha1");
        let erl_go = m.join(format!("k8s.io/kubernetes@v1.{go}/plugin/pkg/admission/eventratelimit/apis/eventratelimit/v1alpha1/types.go"));
        if erl_go.is_file() {
            assert_fields(&erl["configuration"], &[erl_go], "EventRateLimit Configuration");
        } else {
            eprintln!("SKIPPED EventRateLimit keys for 1.{go}: k8s.io/kubernetes@v1.{go} is not in the module cache");
        }
        // The kubelet drop-in against KubeletConfiguration (k8s.io/kubelet config/v1beta1).
        let kubelet = yaml(file(&out, "kubelet-config.conf").unwrap());
        assert_eq!(kubelet["apiVersion"], "kubelet.config.k8s.io/v1beta1");
        let kubelet_go = m.join(format!("k8s.io/kubelet@v0.{go}/config/v1beta1/types.go"));
        if kubelet_go.is_file() {
            assert_fields(&kubelet, &[kubelet_go], "KubeletConfiguration");
        } else if go.starts_with("37") {
            panic!("{} is missing", kubelet_go.display());
        } else {
            eprintln!("SKIPPED KubeletConfiguration keys for 1.{go}: k8s.io/kubelet@v0.{go} is not in the module cache");
        }
        eprintln!("Kubernetes 1.{go}: target 1.{minor}: every key is a Go field ({version} AuthenticationConfiguration)");
    }
}

// ---------------------------------------------------------------------------------
// Version-dependent output, defaults, flags.

#[test]
fn authentication_follows_the_target_version() {
    let flags =
        |out: &khc_emit::Output| file(out, "kube-apiserver-flags").unwrap().lines().filter(|l| l.starts_with("--")).map(str::to_string).collect::<Vec<_>>();
    // 1.35: v1, anonymous health-only in the file, no --anonymous-auth.
    let (out, _) = build(&program(FULL, ""));
    let a = yaml(file(&out, "authentication-config.yaml").unwrap());
    assert_eq!(a["apiVersion"], "apiserver.config.k8s.io/v1");
    assert_eq!(a["anonymous"], json!({"enabled": true, "conditions": [{"path": "/healthz"}, {"path": "/livez"}, {"path": "/readyz"}]}));
    let jwt = &a["jwt"][0];
    assert_eq!(jwt["issuer"], json!({"url": "https://login.example.com", "audiences": ["kubernetes", "kubectl"], "audienceMatchPolicy": "MatchAny"}));
    assert_eq!(jwt["claimMappings"], json!({"username": {"claim": "email", "prefix": "sso:"}, "groups": {"claim": "groups", "prefix": "sso:"}}));
    let f = flags(&out);
    assert!(f.contains(&"--authentication-config=/etc/kubernetes/khc/authentication-config.yaml".to_string()), "{f:?}");
    assert!(!f.iter().any(|x| x.starts_with("--anonymous-auth")), "{f:?}");
    for expected in [
        "--audit-policy-file=/etc/kubernetes/khc/audit-policy.yaml",
        "--audit-log-path=/var/log/k8s/audit.log",
        "--audit-log-maxage=7",
        "--audit-log-maxbackup=3",
        "--audit-log-maxsize=50",
        "--admission-control-config-file=/etc/kubernetes/khc/admission-config.yaml",
        "--encryption-provider-config=/etc/kubernetes/khc/encryption-config.yaml",
        "--profiling=false",
    ] {
        assert!(f.contains(&expected.to_string()), "{expected} not in {f:?}");
    }
    // Every flag has its comment line.
    let text = file(&out, "kube-apiserver-flags").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate().filter(|(_, l)| l.starts_with("--")) {
        assert!(lines[i - 1].starts_with("# "), "{l} has no comment");
    }

    // 1.33: v1beta1, anonymous still in the file.
    let (out, _) = build(&program(&FULL.replace("kubernetes 1.35", "kubernetes 1.33"), ""));
    let a = yaml(file(&out, "authentication-config.yaml").unwrap());
    assert_eq!(a["apiVersion"], "apiserver.config.k8s.io/v1beta1");
    assert!(a.get("anonymous").is_some());

    // 1.31: v1beta1 without anonymous; health-only falls back to --anonymous-auth=false, with a warning.
    let (out, rendered) = build(&program(&FULL.replace("kubernetes 1.35", "kubernetes 1.31"), ""));
    let a = yaml(file(&out, "authentication-config.yaml").unwrap());
    assert_eq!(a["apiVersion"], "apiserver.config.k8s.io/v1beta1");
    assert!(a.get("anonymous").is_none(), "{a}");
    assert!(flags(&out).contains(&"--anonymous-auth=false".to_string()));
    assert!(rendered.contains("cannot limit anonymous requests to the health endpoints"), "{rendered}");
    assert!(rendered.contains("Kubernetes 1.31 is past its end of life (since 2025-10-28)"), "{rendered}");

    // Defaults: no blocks. 1.35 → a file with anonymous health-only only; 1.31 → no file, anonymous unchanged.
    let (out, rendered) = build(&program("  kubernetes 1.35\n  managed-by user \"ci\"\n  encryption { provider secretbox { key k env \"K\" } }\n", ""));
    assert!(!rendered.contains("warning"), "{rendered}");
    let a = yaml(file(&out, "authentication-config.yaml").unwrap());
    assert!(a.get("jwt").is_none() && a["anonymous"]["enabled"] == true, "{a}");
    let p = yaml(file(&out, "admission-config.yaml").unwrap());
    assert_eq!(
        p["plugins"][0]["configuration"]["defaults"],
        json!({"enforce": "baseline", "enforce-version": "v1.35", "audit": "restricted", "audit-version": "v1.35", "warn": "restricted", "warn-version": "v1.35"})
    );
    assert_eq!(p["plugins"][0]["configuration"]["exemptions"]["namespaces"], json!(["kube-node-lease", "kube-public", "kube-system"]));
    assert!(file(&out, "audit-policy.yaml").is_some());
    let (out, _) = build(&program("  kubernetes 1.31\n  managed-by user \"ci\"\n", ""));
    assert!(file(&out, "authentication-config.yaml").is_none());
    assert!(!flags(&out).iter().any(|x| x.starts_with("--anonymous-auth") || x.starts_with("--authentication-config") || x.starts_with("--encryption")));
    assert!(file(&out, "encryption-config.yaml").is_none() && file(&out, "kube-apiserver-flags").is_some());
}

/// The flags of a generated flags file.
fn flag_lines(out: &khc_emit::Output, name: &str) -> Vec<String> {
    file(out, name).unwrap().lines().filter(|l| l.starts_with("--")).map(str::to_string).collect()
}

/// Every flag line of a flags file follows its one-line reason.
fn assert_commented(out: &khc_emit::Output, name: &str) {
    let text = file(out, name).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate().filter(|(_, l)| l.starts_with("--")) {
        assert!(lines[i - 1].starts_with("# ") && lines[i - 1].len() > 10, "{name}: {l} has no reason");
    }
}

#[test]
fn hardening_flags_of_every_component() {
    let ciphers = "--tls-cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256";
    let src = FULL.to_string() + "  kubelet-certificate-authority \"/etc/kubernetes/pki/ca.crt\"\n";
    let (out, _) = build(&program(&src, ""));
    let api = flag_lines(&out, "kube-apiserver-flags");
    for expected in [
        "--service-account-extend-token-expiration=false",
        "--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt",
        "--tls-min-version=VersionTLS12",
        ciphers,
        "--enable-admission-plugins=NodeRestriction,DenyServiceExternalIPs,EventRateLimit",
    ] {
        assert!(api.contains(&expected.to_string()), "{expected} not in {api:?}");
    }
    let kcm = flag_lines(&out, "kube-controller-manager-flags");
    assert_eq!(
        kcm,
        [
            "--profiling=false",
            "--bind-address=127.0.0.1",
            "--use-service-account-credentials=true",
            "--terminated-pod-gc-threshold=1000",
            "--tls-min-version=VersionTLS12",
            ciphers
        ]
    );
    let sched = flag_lines(&out, "kube-scheduler-flags");
    assert_eq!(sched, ["--profiling=false", "--bind-address=127.0.0.1", "--tls-min-version=VersionTLS12", ciphers]);
    for f in ["kube-apiserver-flags", "kube-controller-manager-flags", "kube-scheduler-flags"] {
        assert_commented(&out, f);
    }
    // The kubelet drop-in, and from 1.35 the cached-image credential check instead of AlwaysPullImages.
    let k = yaml(file(&out, "kubelet-config.conf").unwrap());
    assert_eq!(k["authentication"], json!({"anonymous": {"enabled": false}, "webhook": {"enabled": true}}));
    assert_eq!(k["authorization"], json!({"mode": "Webhook"}));
    assert_eq!((k["readOnlyPort"].clone(), k["rotateCertificates"].clone(), k["seccompDefault"].clone()), (json!(0), json!(true), json!(true)));
    assert_eq!((k["podPidsLimit"].clone(), k["protectKernelDefaults"].clone()), (json!(4096), json!(true)));
    assert_eq!(k["imagePullCredentialsVerificationPolicy"], "NeverVerifyPreloadedImages");
    let readme = file(&out, "README.md").unwrap();
    for f in api.iter().chain(&kcm).chain(&sched) {
        assert!(readme.contains(&format!("| `{f}` |")), "README documents {f}");
    }
    for key in ["readOnlyPort", "seccompDefault", "podPidsLimit", "protectKernelDefaults", "imagePullCredentialsVerificationPolicy"] {
        assert!(readme.contains(&format!("| `{key}` |")), "README documents {key}");
    }
    // The installer installs the drop-in.
    assert!(file(&out, "install-control-plane.sh").unwrap().contains("install_file kubelet-config.conf"));

    let (out, _) = build(&program(&FULL.replace("kubernetes 1.35", "kubernetes 1.34"), ""));
    let api = flag_lines(&out, "kube-apiserver-flags");
    assert!(api.contains(&"--enable-admission-plugins=NodeRestriction,DenyServiceExternalIPs,EventRateLimit,AlwaysPullImages".to_string()), "{api:?}");
    assert!(!api.iter().any(|f| f.starts_with("--kubelet-certificate-authority")), "only when the source names it");
    assert!(yaml(file(&out, "kubelet-config.conf").unwrap()).get("imagePullCredentialsVerificationPolicy").is_none());
    assert!(file(&out, "README.md").unwrap().contains("`AlwaysPullImages` is enabled because"));

    // `anonymous off`: the flag on every version, never the file's `anonymous` (the server refuses both).
    for v in ["1.31", "1.35"] {
        let (out, _) = build(&program(&FULL.replace("kubernetes 1.35", &format!("kubernetes {v}")).replace("anonymous health-only", "anonymous off"), ""));
        assert!(flag_lines(&out, "kube-apiserver-flags").contains(&"--anonymous-auth=false".to_string()), "{v}");
        assert!(yaml(file(&out, "authentication-config.yaml").unwrap()).get("anonymous").is_none(), "{v}");
    }
    let (_, _, rendered) = compile_sources(&[("c.khc", &program("  managed-by user \"ci\"\n  kubelet-certificate-authority \"ca.crt\"\n", ""))]);
    assert!(rendered.contains("must be an absolute file path"), "{rendered}");
}

#[test]
fn encryption_advice_follows_upstream_and_cis() {
    let with = |p: &str| compile_sources(&[("c.khc", &program(&format!("  managed-by user \"ci\"\n  encryption {{ {p} }}\n"), ""))]).2;
    let r = with("provider aesgcm { key k env \"K\" }");
    assert!(r.contains("`aesgcm` writes new data with static keys") && r.contains("CIS 1.2.28 rates it WARN"), "{r}");
    let r = with("provider secretbox { key k env \"K\" }; provider aesgcm { key o env \"O\" }");
    assert!(!r.contains("warning"), "aesgcm only reading old data is fine: {r}");
    assert!(!with("provider kms { name v; endpoint \"unix:///k.sock\" }").contains("warning"));
    let r = compile_sources(&[("c.khc", &program("  managed-by user \"ci\"\n", ""))]).2;
    assert!(r.contains("provider secretbox") && !r.contains("provider aesgcm"), "the help suggests secretbox: {r}");
}

#[test]
fn benchmark_report_judges_the_generated_files() {
    use khc_analysis::benchmark::{first_provider, Verdict};
    let dir = std::env::temp_dir().join(format!("khc-bench-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = FULL.to_string() + "  kubelet-certificate-authority \"/etc/kubernetes/pki/ca.crt\"\n";
    let text = program(&src, "");
    std::fs::write(dir.join("c.khc"), &text).unwrap();
    let line_of = |needle: &str| format!("c.khc:{}", text.lines().position(|l| l.contains(needle)).unwrap() + 1);
    let ws = khc_analysis::Workspace::load(&dir).unwrap_or_else(|_| panic!("compiles"));
    let checks = khc_analysis::benchmark::cis_1_12(&ws.models);
    let verdict = |id: &str| checks.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id}")).verdict;
    for id in [
        "1.2.3", "1.2.5", "1.2.9", "1.2.10", "1.2.14", "1.2.15", "1.2.27", "1.2.28", "1.2.29", "1.2.30", "1.3.1", "1.3.2", "1.3.3", "1.3.7", "1.4.1", "1.4.2",
        "3.2.1", "4.2.1", "4.2.14",
    ] {
        assert_eq!(verdict(id), Verdict::Pass, "{id}");
    }
    // The audit retention of FULL is below the benchmark's minimum: scored FAIL, with what to do.
    assert_eq!(verdict("1.2.17"), Verdict::Fail);
    // health-only cannot be a flag: WARN, and the report says why.
    let c121 = checks.iter().find(|c| c.id == "1.2.1").unwrap();
    assert_eq!(c121.verdict, Verdict::Warn);
    assert!(c121.note.as_deref().unwrap().contains("the scanner reads only the flag"), "{c121:?}");
    assert_eq!(c121.source, Some(line_of("authentication {")));
    assert_eq!(verdict("1.2.11"), Verdict::Warn, "by design from 1.35");
    assert_eq!(verdict("1.2.7"), Verdict::NotKhcs);
    assert_eq!(verdict("1.1"), Verdict::NotKhcs);
    let c125 = checks.iter().find(|c| c.id == "1.2.5").unwrap();
    assert_eq!(c125.source, Some(line_of("kubelet-certificate-authority")), "{c125:?}");
    // Markdown names every check once.
    let md = khc_analysis::benchmark::markdown(&checks);
    assert!(md.contains("| 1.2.30 Ensure that the --service-account-extend-token-expiration parameter is set to false (Automated) | PASS | yes |"), "{md}");
    // kube-bench's 1.2.28 reading: the letters of the line after `providers:`.
    assert_eq!(first_provider("resources:\n- providers:\n  - kms:\n      name: x\n").as_deref(), Some("kms"));
    assert_eq!(first_provider("x: 1\n").as_deref(), None);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn pod_security_default_and_audit_policy() {
    let (out, _) = build(&program(FULL, ""));
    let p = yaml(file(&out, "admission-config.yaml").unwrap());
    let c = &p["plugins"][0]["configuration"];
    assert_eq!(p["plugins"][0]["name"], "PodSecurity");
    assert_eq!(c["defaults"]["enforce"], "restricted");
    assert_eq!(c["defaults"]["enforce-version"], "latest");
    assert_eq!(c["exemptions"], json!({"usernames": ["system:serviceaccount:ops:debugger"], "runtimeClasses": ["kata"], "namespaces": ["kube-system", "ops"]}));

    // The audit policy: the first matching rule decides.
    let a = yaml(file(&out, "audit-policy.yaml").unwrap());
    assert_eq!(a["omitStages"], json!(["RequestReceived"]));
    let rules = a["rules"].as_array().unwrap();
    let first = |group: &str, resource: &str, verb: &str| -> String {
        rules
            .iter()
            .find(|r| {
                let res_ok = match r.get("resources") {
                    None => r.get("nonResourceURLs").is_none(),
                    Some(rs) => rs
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|g| g["group"] == group && g.get("resources").is_none_or(|l| l.as_array().unwrap().iter().any(|x| x == resource))),
                };
                let verb_ok = r.get("verbs").is_none_or(|v| v.as_array().unwrap().iter().any(|x| x == verb));
                res_ok && verb_ok && r.get("users").is_none() && r.get("userGroups").is_none() && r.get("namespaces").is_none()
            })
            .map(|r| r["level"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(first("", "secrets", "get"), "Metadata");
    assert_eq!(first("", "secrets", "create"), "Metadata");
    assert_eq!(first("", "configmaps", "list"), "Metadata");
    assert_eq!(first("", "serviceaccounts/token", "create"), "Metadata");
    assert_eq!(first("authentication.k8s.io", "tokenreviews", "create"), "Metadata");
    assert_eq!(first("", "pods/exec", "create"), "RequestResponse");
    assert_eq!(first("", "pods/ephemeralcontainers", "patch"), "RequestResponse");
    assert_eq!(first("rbac.authorization.k8s.io", "clusterrolebindings", "create"), "RequestResponse");
    assert_eq!(first("rbac.authorization.k8s.io", "roles", "list"), "Metadata");
    assert_eq!(first("admissionregistration.k8s.io", "validatingadmissionpolicies", "delete"), "RequestResponse");
    assert_eq!(first("", "events", "create"), "None");
    assert_eq!(first("apps", "deployments", "create"), "Metadata");
    assert!(rules[0]["nonResourceURLs"].as_array().unwrap().iter().any(|u| u == "/healthz*") && rules[0]["level"] == "None");
    // No rule that can match Secrets logs bodies.
    for r in rules {
        let secrets = r.get("resources").is_none_or(|rs| {
            rs.as_array().unwrap().iter().any(|g| g["group"] == "" && g.get("resources").is_none_or(|l| l.as_array().unwrap().iter().any(|x| x == "secrets")))
        });
        if secrets && r.get("nonResourceURLs").is_none() && r["level"] != "None" {
            assert_eq!(r["level"], "Metadata", "a rule that may match Secrets logs more than metadata: {r}");
            break;
        }
    }
}

#[test]
fn control_plane_diagnostics() {
    let cases: &[(&str, &str)] = &[
        ("  kubernetes 1.34\n", "Kubernetes 1.34 is past its end of life (since 2026-10-27)"),
        ("  audit { max-age 0 }\n", "expected a whole number of days (1 or more)"),
        ("  audit { log-path \"relative/audit.log\" }\n", "the audit log path must be an absolute file path"),
        ("  audit { log-path \"/var/log/$(reboot)\" }\n", "the audit log path must be an absolute file path"),
        ("  pod-security { enforce privileged }\n", "enforcing `privileged` by default"),
        ("  pod-security { enforce restricted; audit baseline }\n", "`audit baseline` is weaker than `enforce restricted`"),
        ("  authentication { anonymous maybe }\n", "unknown anonymous mode `maybe`"),
        ("  authentication { oidc \"http://login.example.com\" { audience \"k\" } }\n", "must start with `https://`"),
        ("  authentication { oidc \"https://login.example.com?x=1\" { audience \"k\" } }\n", "must not hold a query"),
        ("  authentication { oidc \"https://login.example.com\" {} }\n", "`oidc` needs an `audience`"),
        ("  authentication { oidc \"https://a.example.com\" { audience \"k\"; username-prefix \"system:\" } }\n", "starting with `system:`"),
        ("  authentication { oidc \"https://a.example.com\" { audience \"k\"; groups-prefix \"\" } }\n", "an empty prefix lets the issuer mint"),
        ("  managed-by\n", "`managed-by` needs the GitOps applier"),
        ("  managed-by workload api\n", "`workload NAME` names a workload of the enclosing tenant; `cluster` has none"),
        ("  audit { retention 3 }\n", "unknown-statement"),
    ];
    for (body, expected) in cases {
        let applier = if body.contains("managed-by") { "" } else { "  managed-by user \"ci\"\n" };
        let src = program(&format!("{applier}{body}"), "");
        let (_, _, rendered) = compile_sources(&[("c.khc", &src)]);
        assert!(rendered.contains(expected), "{body}: expected {expected:?} in\n{rendered}");
    }
    // `api-share`: a whole number of shares from 1 to 100, once per tenant.
    for (tenant, expected) in [
        ("tenant t {\n  api-share 0\n}\n", "`api-share` is a whole number from 1 to 100"),
        ("tenant t {\n  api-share 101\n}\n", "`api-share` is a whole number from 1 to 100"),
        ("tenant t {\n  api-share 1.5\n}\n", "`api-share` is a whole number from 1 to 100"),
        ("tenant t {\n  api-share \"ten\"\n}\n", "expected a whole number of shares"),
        ("tenant t {\n  api-share 1 2\n}\n", "`api-share` takes one number"),
        ("tenant t {\n  api-share 1\n  api-share 2\n}\n", "duplicate"),
    ] {
        let (_, _, rendered) = compile_sources(&[("c.khc", &program("  managed-by user \"ci\"\n", tenant))]);
        assert!(rendered.contains(expected), "{tenant}: expected {expected:?} in\n{rendered}");
    }
    // Without managed-by: a warning with the statement to write, and no protection policy.
    let (out, rendered) = build("cluster c {\n  kubernetes 1.35\n}\ntenant t {}\n");
    assert!(rendered.contains("no `managed-by`") && rendered.contains("managed-by serviceaccount \"argocd/argocd-application-controller\""), "{rendered}");
    assert!(!out.files.iter().any(|f| f.path.contains("khc-managed")), "no protection without managed-by");
}

// ---------------------------------------------------------------------------------
// The installer.

#[cfg(unix)]
#[test]
fn install_control_plane_installs_every_file_safely() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("khc-cp-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (out, _) = build(&program(&FULL.replace("/var/log/k8s/audit.log", &dir.join("log/audit.log").display().to_string()), ""));
    let cp = dir.join("cp");
    std::fs::create_dir_all(&cp).unwrap();
    for f in out.files.iter().filter(|f| f.path.contains("/control-plane/")) {
        std::fs::write(cp.join(f.path.rsplit('/').next().unwrap()), &f.contents).unwrap();
    }
    let key = "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE="; // 32 bytes
    let run = |dest: &Path| Command::new("sh").arg(cp.join("install-control-plane.sh")).arg(dest).env("K", key).output().unwrap();
    let dest = dir.join("etc/khc");
    let o = run(&dest);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["audit-policy.yaml", "admission-config.yaml", "authentication-config.yaml", "encryption-config.yaml"] {
        let p = dest.join(name);
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "{name}");
        if name != "encryption-config.yaml" {
            assert_eq!(std::fs::read(&p).unwrap(), std::fs::read(cp.join(name)).unwrap(), "{name} installed as generated");
        }
    }
    assert!(std::fs::read_to_string(dest.join("encryption-config.yaml")).unwrap().contains(key), "the key is filled in");
    assert!(dir.join("log").is_dir(), "the audit log's folder exists");
    assert!(std::fs::read_dir(&dest).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().starts_with('.')), "no temporary file left");
    // Idempotent.
    assert!(run(&dest).status.success());
    // A destination file that is a symbolic link is refused and its target untouched.
    let victim = dir.join("victim");
    std::fs::write(&victim, "keep").unwrap();
    std::fs::remove_file(dest.join("audit-policy.yaml")).unwrap();
    std::os::unix::fs::symlink(&victim, dest.join("audit-policy.yaml")).unwrap();
    let o = run(&dest);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("is a symbolic link"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    // The EncryptionConfiguration too (installed by install-encryption-config.sh).
    std::fs::remove_file(dest.join("audit-policy.yaml")).unwrap();
    std::fs::remove_file(dest.join("encryption-config.yaml")).unwrap();
    std::os::unix::fs::symlink(&victim, dest.join("encryption-config.yaml")).unwrap();
    let o = run(&dest);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("is a symbolic link"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    // So is a DIR that is a link.
    std::os::unix::fs::symlink(&dest, dir.join("linked")).unwrap();
    assert!(!run(&dir.join("linked")).status.success());
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------------------------
// The protection policy's CEL, evaluated.

/// A protection policy of the output, as the API server would run it for one request.
struct Protection {
    condition: cel::Program,
    validations: Vec<(cel::Program, String)>,
}

fn protection(out: &khc_emit::Output, name: &str) -> Protection {
    let objs = objects(out);
    let p = &objs.iter().find(|(_, o)| o["kind"] == "ValidatingAdmissionPolicy" && o["metadata"]["name"] == name).unwrap_or_else(|| panic!("{name}")).1;
    let conditions = p["spec"]["matchConditions"].as_array().unwrap();
    assert_eq!(conditions.len(), 1);
    Protection {
        condition: cel::Program::compile(conditions[0]["expression"].as_str().unwrap()).unwrap(),
        validations: p["spec"]["validations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (cel::Program::compile(v["expression"].as_str().unwrap()).unwrap(), v["message"].as_str().unwrap().to_string()))
            .collect(),
    }
}

impl Protection {
    /// `Ok(())` when allowed, else the denying message.
    #[allow(clippy::too_many_arguments)]
    fn judge(&self, user: &str, groups: &[&str], op: &str, resource: &str, namespace: &str, name: &str, object: Value, old: Value) -> Result<(), String> {
        let mut ctx = cel::Context::default();
        let request = json!({
            "operation": op, "name": name, "namespace": namespace,
            "resource": {"group": "", "version": "v1", "resource": resource},
            "userInfo": {"username": user, "groups": groups},
        });
        ctx.add_variable_from_value("request", cel::to_value(request).unwrap());
        ctx.add_variable_from_value("object", cel::to_value(object).unwrap());
        ctx.add_variable_from_value("oldObject", cel::to_value(old).unwrap());
        match self.condition.execute(&ctx) {
            Ok(cel::Value::Bool(false)) => return Ok(()),
            Ok(cel::Value::Bool(true)) => {}
            other => panic!("match condition gave {other:?}"),
        }
        for (p, message) in &self.validations {
            match p.execute(&ctx) {
                Ok(cel::Value::Bool(true)) => {}
                Ok(cel::Value::Bool(false)) => return Err(message.clone()),
                other => return Err(format!("error (failurePolicy Fail): {other:?}")),
            }
        }
        Ok(())
    }
}

fn ns(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

#[test]
fn protection_denies_everyone_but_the_applier() {
    let src = program(
        "  kubernetes 1.35\n  encryption { provider secretbox { key k env \"K\" } }\n  managed-by serviceaccount \"argocd/argocd-application-controller\" group \"platform-admins\"\n  role reader { can get on pods }\n  grant reader to group \"g\"\n",
        "tenant shop {\n  namespaces shop shop-jobs\n  role dev { can get on pods }\n  grant dev to group \"devs\"\n}\n",
    );
    let (out, rendered) = build(&src);
    assert!(!rendered.contains("warning"), "{rendered}");
    let p = protection(&out, "khc-managed-shop");
    let mallory = ("mallory", vec!["system:authenticated"]);
    let argo = ("system:serviceaccount:argocd:argocd-application-controller", vec!["system:serviceaccounts", "system:authenticated"]);
    let admin = ("alice", vec!["platform-admins", "system:authenticated"]);
    let masters = ("root", vec!["system:masters"]);
    let labels = json!({"khc.dev/tenant": "shop", "kubernetes.io/metadata.name": "shop", "pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/managed-by": "khc"});
    let mut relabelled = labels.clone();
    relabelled["pod-security.kubernetes.io/enforce"] = json!("privileged");
    let mut removed = labels.clone();
    removed.as_object_mut().unwrap().remove("khc.dev/tenant");
    let mut other = labels.clone();
    other["team"] = json!("web");
    let j = |who: &(&str, Vec<&str>), op: &str, res: &str, nsn: &str, name: &str, o: Value, old: Value| p.judge(who.0, &who.1, op, res, nsn, name, o, old);

    // Namespaces: create, delete, protected labels.
    let e = j(&mallory, "CREATE", "namespaces", "", "shop", ns("shop", labels.clone()), Value::Null).unwrap_err();
    assert!(e.contains("only serviceaccount argocd/argocd-application-controller, group platform-admins may"), "{e}");
    assert!(j(&mallory, "DELETE", "namespaces", "", "shop", Value::Null, ns("shop", labels.clone())).is_err());
    assert!(j(&mallory, "UPDATE", "namespaces", "", "shop", ns("shop", relabelled.clone()), ns("shop", labels.clone())).is_err());
    assert!(j(&mallory, "UPDATE", "namespaces", "", "shop", ns("shop", removed.clone()), ns("shop", labels.clone())).is_err());
    let mut added = labels.clone();
    added["pod-security.kubernetes.io/audit"] = json!("baseline");
    assert!(j(&mallory, "UPDATE", "namespaces", "", "shop", ns("shop", added), ns("shop", labels.clone())).is_err());
    assert!(j(&mallory, "UPDATE", "namespaces", "", "shop", ns("shop", other.clone()), ns("shop", labels.clone())).is_ok(), "other labels are free");
    assert!(j(&mallory, "CREATE", "namespaces", "", "elsewhere", ns("elsewhere", json!({})), Value::Null).is_ok());
    for who in [&argo, &admin, &masters] {
        assert!(j(who, "UPDATE", "namespaces", "", "shop", ns("shop", relabelled.clone()), ns("shop", labels.clone())).is_ok(), "{}", who.0);
        assert!(j(who, "DELETE", "namespaces", "", "shop", Value::Null, ns("shop", labels.clone())).is_ok(), "{}", who.0);
    }
    // The namespace controller empties a deleted namespace.
    let nc = ("system:serviceaccount:kube-system:namespace-controller", vec!["system:serviceaccounts"]);
    assert!(j(&nc, "DELETE", "networkpolicies", "shop", "default-deny", Value::Null, json!({"metadata": {"name": "default-deny"}})).is_ok());

    // Objects by name (even without the label: a planted object), and by label.
    let np = |name: &str, labelled: bool| {
        let mut o = json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "shop"}, "spec": {"podSelector": {}}});
        if labelled {
            o["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "khc"});
        }
        o
    };
    for (op, o, old) in [
        ("CREATE", np("default-deny", false), Value::Null),
        ("UPDATE", np("default-deny", true), np("default-deny", true)),
        ("DELETE", Value::Null, np("default-deny", true)),
        ("DELETE", Value::Null, np("allow-dns", false)),
        ("CREATE", np("looks-like-khc", true), Value::Null),
        ("DELETE", Value::Null, np("forged-earlier", true)),
    ] {
        let name = o["metadata"]["name"].as_str().or(old["metadata"]["name"].as_str()).unwrap().to_string();
        assert!(j(&mallory, op, "networkpolicies", "shop", &name, o.clone(), old.clone()).is_err(), "{op} {name}");
        assert!(j(&argo, op, "networkpolicies", "shop", &name, o, old).is_ok(), "applier {op} {name}");
    }
    assert!(j(&mallory, "CREATE", "networkpolicies", "shop", "mine", np("mine", false), Value::Null).is_ok(), "own objects stay free");
    assert!(j(&mallory, "DELETE", "rolebindings", "shop-jobs", "dev", Value::Null, json!({"metadata": {"name": "dev"}})).is_err());
    assert!(j(&mallory, "DELETE", "serviceaccounts", "shop", "default", Value::Null, json!({"metadata": {"name": "default"}})).is_err());
    assert!(j(&mallory, "UPDATE", "resourcequotas", "shop", "x", json!({"metadata": {"name": "x"}}), json!({"metadata": {"name": "x"}})).is_ok());

    // The cluster policy: ClusterRoles and bindings by name.
    let c = protection(&out, "khc-managed-by");
    assert!(c.judge("mallory", &[], "DELETE", "clusterroles", "", "reader", Value::Null, json!({"metadata": {"name": "reader"}})).is_err());
    assert!(c.judge("mallory", &[], "CREATE", "clusterrolebindings", "", "reader", json!({"metadata": {"name": "reader"}}), Value::Null).is_err());
    assert!(c.judge("mallory", &[], "CREATE", "clusterroles", "", "other", json!({"metadata": {"name": "other"}}), Value::Null).is_ok());
    assert!(c.judge("root", &["system:masters"], "DELETE", "clusterroles", "", "reader", Value::Null, json!({"metadata": {"name": "reader"}})).is_ok());
}
