//! The real supply-chain parts of issue #22, for `tests/supply_chain.rs`: an
//! in-memory OCI registry, crane pushes of tiny images, cosign keys, signatures
//! and `vuln` attestations made offline (no transparency log, no Fulcio, no TUF),
//! and sigstore policy-controller's webhook running as a process against a
//! [`Cluster`] — all built from Go modules by `scripts/setup/40-supply.sh` into
//! `target/supply/` (`KHC_SUPPLY_BIN`; policy-controller's own `config/` is
//! `KHC_SUPPLY_CONFIG`).
//!
//! Everything runs inside the cluster's network namespace
//! ([`Options::own_net_namespace`](crate::kube::Options::own_net_namespace)):
//! policy-controller v0.13.1 always binds `:8443` and `:8080` (its `--secure-port`
//! flag is parsed after the port was copied into the webhook's options). Every
//! process is the [`Cluster`]'s (killed when it is dropped); every command has a
//! time limit ([`run`]); every wait is a bounded poll.

use crate::kube::Cluster;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The port policy-controller's webhook serves admission on (fixed in v0.13.1).
pub const WEBHOOK_PORT: u16 = 8443;

/// The namespace of the verifier's objects (`SYSTEM_NAMESPACE`).
pub const VERIFIER_NAMESPACE: &str = "cosign-system";

/// The opt-in label of policy-controller's webhooks (their `namespaceSelector`).
pub const OPT_IN_LABEL: &str = "policy.sigstore.dev/include";

/// The prefix of every denial by policy-controller's validating webhook.
pub const VERIFIER_DENIAL: &str = "admission webhook \"policy.sigstore.dev\" denied";

/// The `predicateType` of cosign's `vuln` attestations (`--type vuln`).
pub const VULN_PREDICATE_TYPE: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

/// The built parts: the folder of `webhook`, `cosign`, `crane` and `registry`, and
/// policy-controller's `config/` (CRDs, webhook configurations, ConfigMaps).
pub struct Parts {
    /// `KHC_SUPPLY_BIN`.
    pub bin: PathBuf,
    /// `KHC_SUPPLY_CONFIG`.
    pub config: PathBuf,
}

impl Parts {
    /// The path of one of the built binaries.
    pub fn exe(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }
}

/// The built parts, or `None` (printing SKIPPED) when one is missing; with
/// `CI=true` a missing part fails the test. Also needs root (a network namespace).
pub fn parts(test: &str) -> Option<Parts> {
    let bin = std::env::var_os("KHC_SUPPLY_BIN").map(PathBuf::from);
    let config = std::env::var_os("KHC_SUPPLY_CONFIG").map(PathBuf::from);
    let why = match (&bin, &config) {
        (None, _) | (_, None) => Some("KHC_SUPPLY_BIN or KHC_SUPPLY_CONFIG is not set (source scripts/setup/40-supply.sh)".to_string()),
        (Some(b), Some(c)) => {
            let mut missing: Vec<String> =
                ["webhook", "cosign", "crane", "registry"].iter().map(|n| b.join(n)).filter(|p| !p.is_file()).map(|p| p.display().to_string()).collect();
            missing.extend(
                ["300-clusterimagepolicy.yaml", "500-webhook-configuration.yaml"]
                    .iter()
                    .map(|n| c.join(n))
                    .filter(|p| !p.is_file())
                    .map(|p| p.display().to_string()),
            );
            let tools = ["unshare", "nsenter", "ip", "tar", "kubectl", "curl"];
            missing.extend(
                tools
                    .iter()
                    .filter(|t| !Command::new("sh").args(["-c", &format!("command -v {t}")]).output().is_ok_and(|o| o.status.success()))
                    .map(|t| t.to_string()),
            );
            let root = std::fs::read_to_string("/proc/self/status")
                .unwrap_or_default()
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"));
            if !root {
                missing.push("root (unshare --net)".into());
            }
            (!missing.is_empty()).then(|| format!("missing {}", missing.join(", ")))
        }
    };
    if let Some(why) = why {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: the supply-chain parts are required in CI: {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
        return None;
    }
    Some(Parts { bin: bin.unwrap(), config: config.unwrap() })
}

/// Runs `cmd` (stdin closed) and returns its output; kills it (SIGKILL) and panics
/// after `limit`.
pub fn run(mut cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("{what} did not finish in {} s", limit.as_secs());
        }
    }
}

/// [`run`], and its standard output; panics when it fails.
pub fn run_ok(cmd: Command, limit: Duration) -> String {
    let what = format!("{cmd:?}");
    let out = run(cmd, limit);
    assert!(out.status.success(), "{what} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `ready` every 200 ms until it gives a value; panics with `what` (and the
/// text `diagnose` returns) after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut ready: impl FnMut() -> Option<T>, diagnose: impl Fn() -> String) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = ready() {
            return v;
        }
        if t0.elapsed() > limit {
            panic!("{what}: not after {} s\n{}", limit.as_secs(), diagnose());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts go-containerregistry's in-memory registry on a free loopback port of the
/// cluster's network namespace and returns its host (`localhost:PORT`: crane,
/// cosign and the verifier talk plain HTTP to `localhost`).
pub fn start_registry(c: &mut Cluster, parts: &Parts) -> String {
    let mut cmd = c.tool(parts.exe("registry"));
    cmd.args(["-port", "0"]);
    c.spawn_process("registry", cmd);
    let port = wait_for(
        "the registry says its port",
        Duration::from_secs(30),
        || c.log("registry").split("serving on port ").nth(1).and_then(|r| r.split_whitespace().next()).and_then(|p| p.parse::<u16>().ok()),
        || c.log("registry"),
    );
    format!("localhost:{port}")
}

/// A tiny image pushed with crane: one layer holding `content.txt` (`content`) on
/// crane's empty base, tagged `reference` (`HOST/REPO:TAG`); returns
/// `HOST/REPO@sha256:…`.
pub fn push_image(c: &Cluster, parts: &Parts, work: &Path, reference: &str, content: &str) -> String {
    let layer = work.join(format!("layer-{}", reference.replace(['/', ':'], "_")));
    std::fs::create_dir_all(&layer).unwrap();
    std::fs::write(layer.join("content.txt"), content).unwrap();
    let tar = layer.with_extension("tar");
    let mut cmd = Command::new("tar");
    cmd.arg("-C").arg(&layer).arg("-cf").arg(&tar).arg("content.txt");
    run_ok(cmd, Duration::from_secs(30));
    let mut cmd = c.tool(parts.exe("crane"));
    cmd.arg("append").arg("-f").arg(&tar).args(["-t", reference]);
    let out = run_ok(cmd, Duration::from_secs(60)).trim().to_string();
    assert!(out.contains("@sha256:"), "crane append printed {out:?}");
    out
}

/// cosign, offline: keys without a password in `dir`, signatures and
/// attestations pushed next to the image without a transparency log entry.
pub struct Cosign<'a> {
    cluster: &'a Cluster,
    exe: PathBuf,
    /// The folder of the keys (`NAME.key`, `NAME.pub`).
    pub dir: PathBuf,
}

impl<'a> Cosign<'a> {
    /// cosign working in `dir` (created), inside `cluster`'s network namespace.
    pub fn new(cluster: &'a Cluster, parts: &Parts, dir: &Path) -> Cosign<'a> {
        std::fs::create_dir_all(dir).unwrap();
        Cosign { cluster, exe: parts.exe("cosign"), dir: dir.to_path_buf() }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.cluster.tool(&self.exe);
        cmd.args(args)
            .current_dir(&self.dir)
            // No password on the keys, no prompt; never the public Sigstore (no TUF
            // cache, no Rekor upload).
            .env("COSIGN_PASSWORD", "")
            .env("COSIGN_YES", "true")
            .env("SIGSTORE_NO_CACHE", "true")
            .env("TUF_ROOT", self.dir.join("tuf"))
            .env("HOME", &self.dir);
        cmd
    }

    /// Makes the key pair `NAME.key` / `NAME.pub` and returns the public key (PEM).
    pub fn key_pair(&self, name: &str) -> String {
        run_ok(self.cmd(&["generate-key-pair", "--output-key-prefix", name]), Duration::from_secs(60));
        std::fs::read_to_string(self.dir.join(format!("{name}.pub"))).unwrap()
    }

    /// Signs `image` (by digest) with key `NAME`.
    pub fn sign(&self, key: &str, image: &str) {
        run_ok(self.cmd(&["sign", "--key", &format!("{key}.key"), "--tlog-upload=false", image]), Duration::from_secs(120));
    }

    /// Attests `predicate` (a cosign `vuln` predicate) for `image` with key `NAME`.
    pub fn attest_vuln(&self, key: &str, image: &str, predicate: &Value) {
        let file = self.dir.join(format!("predicate-{}.json", image.rsplit(':').next().unwrap_or("x")));
        std::fs::write(&file, predicate.to_string()).unwrap();
        let file = file.display().to_string();
        run_ok(
            self.cmd(&["attest", "--key", &format!("{key}.key"), "--type", "vuln", "--predicate", &file, "--tlog-upload=false", image]),
            Duration::from_secs(120),
        );
    }

    /// Whether cosign itself verifies `image`'s signature with public key `NAME`.
    pub fn verifies(&self, key: &str, image: &str) -> bool {
        run(self.cmd(&["verify", "--key", &format!("{key}.pub"), "--insecure-ignore-tlog", image]), Duration::from_secs(120)).status.success()
    }
}

/// A cosign `vuln` predicate (`CosignVulnPredicate`, what `trivy --format
/// cosign-vuln` writes, with Trivy's JSON report as `scanner.result`): one
/// finding `CVE-2099-0001` of `severity`, or none; scanned at `finished` (RFC 3339).
pub fn vuln_predicate(severity: Option<&str>, finished: &str) -> Value {
    let vulns: Vec<Value> = severity.map(|s| json!({ "VulnerabilityID": "CVE-2099-0001", "PkgName": "content", "Severity": s })).into_iter().collect();
    json!({
        "invocation": { "parameters": null, "uri": "", "event_id": "", "builder.id": "" },
        "scanner": {
            "uri": "pkg:github/aquasecurity/trivy@v0.50.0", "version": "0.50.0",
            "db": { "uri": "", "version": "" },
            "result": { "SchemaVersion": 2, "ArtifactName": "test", "Results": [{ "Target": "test", "Vulnerabilities": vulns }] }
        },
        "metadata": { "scanStartedOn": finished, "scanFinishedOn": finished }
    })
}

/// The UTC time `days_ago` days before now, RFC 3339 (`date -u`).
pub fn rfc3339_days_ago(days_ago: u32) -> String {
    let mut cmd = Command::new("date");
    cmd.args(["-u", "-d", &format!("{days_ago} days ago"), "+%Y-%m-%dT%H:%M:%SZ"]);
    run_ok(cmd, Duration::from_secs(10)).trim().to_string()
}

/// Adds `port` to every `clientConfig.service` (and CRD conversion service) that
/// names the verifier's Service `webhook`: the API server then calls
/// `EXTERNALNAME:port` (see [`install_verifier`]).
fn with_webhook_port(v: &mut Value, port: u16) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(svc)) = map.get_mut("service") {
                if svc.get("name") == Some(&json!("webhook")) && svc.get("namespace") == Some(&json!(VERIFIER_NAMESPACE)) {
                    svc.insert("port".into(), json!(port));
                }
            }
            map.values_mut().for_each(|x| with_webhook_port(x, port));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| with_webhook_port(x, port)),
        _ => {}
    }
}

/// The objects of a multi-document YAML file.
pub fn yaml_documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text).filter_map(|d| Value::deserialize(d).ok()).filter(|v| !v.is_null()).collect()
}

/// Installs sigstore policy-controller into `c` from its own `config/` — its
/// namespace, the `ClusterImagePolicy` and `TrustRoot` CRDs, the `config-*`
/// ConfigMaps and its four webhook configurations (with the empty Secret
/// `webhook-certs` its certificate controller fills) — minus the Deployment and
/// the Service, and runs its webhook as a process with the admin kubeconfig; waits
/// until the validating and mutating configurations carry the CA bundle **and**
/// the port answers TLS (knative writes the bundle before its server listens).
///
/// How the API server reaches a process on loopback: a webhook configuration must
/// name a Service (knative's reconciler refuses a URL: "missing service reference
/// for webhook"), and EndpointSlices refuse loopback addresses, so the Service
/// `webhook` is of type ExternalName, `localhost`: kube-apiserver's default
/// resolver sends it to `localhost:PORT`, PORT being each `clientConfig.service.port`
/// (set to [`WEBHOOK_PORT`] here). TLS is still verified against
/// `webhook.cosign-system.svc`, the name of the certificate knative makes.
/// Returns how long the webhook took to be ready.
pub fn install_verifier(c: &mut Cluster, parts: &Parts) -> Duration {
    c.kubectl_ok(&["create", "namespace", VERIFIER_NAMESPACE]);
    let service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "webhook", "namespace": VERIFIER_NAMESPACE },
        "spec": { "type": "ExternalName", "externalName": "localhost" }
    });
    let mut docs = vec![service];
    for f in ["300-clusterimagepolicy.yaml", "300-trustroot.yaml", "500-webhook-configuration.yaml", "501-policy-webhook-configurations.yaml"] {
        let text = std::fs::read_to_string(parts.config.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        docs.extend(yaml_documents(&text));
    }
    let mut configs: Vec<PathBuf> = std::fs::read_dir(&parts.config)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("config-") && n.ends_with(".yaml")))
        .collect();
    configs.sort();
    for f in configs {
        docs.extend(yaml_documents(&std::fs::read_to_string(f).unwrap()));
    }
    for d in &mut docs {
        with_webhook_port(d, WEBHOOK_PORT);
    }
    let list = json!({ "apiVersion": "v1", "kind": "List", "items": docs });
    let out = c.kubectl_stdin(&["apply", "-f", "-"], &list.to_string());
    assert!(out.status.success(), "installing policy-controller's config/: {}", String::from_utf8_lossy(&out.stderr));
    // knative's sharedmain reads KUBECONFIG (main's own flag.Parse runs before
    // knative registers --kubeconfig) and SYSTEM_NAMESPACE; --disable-tuf keeps it
    // off the public Sigstore TUF mirror (key authorities need none).
    let home = c.dir.join("webhook-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = c.tool(parts.exe("webhook"));
    cmd.arg("--disable-tuf")
        .env("KUBECONFIG", &c.kubeconfig)
        .env("SYSTEM_NAMESPACE", VERIFIER_NAMESPACE)
        .env("METRICS_DOMAIN", "sigstore.dev/policy")
        .env("WEBHOOK_NAME", "webhook")
        .env("HOME", &home);
    c.spawn_process("webhook", cmd);
    let t0 = Instant::now();
    let ca_bundle = |kind: &str| {
        let out = c.kubectl(&[
            "get",
            kind,
            "policy.sigstore.dev",
            "--request-timeout=10s",
            "-o",
            "jsonpath={range .webhooks[*]}{.clientConfig.caBundle}{\"\\n\"}{end}",
        ]);
        out.status.success() && {
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            !text.trim().is_empty() && text.lines().all(|l| !l.is_empty())
        }
    };
    let limit = Duration::from_secs(180);
    wait_for(
        "policy-controller fills its webhook configurations' CA bundle",
        limit,
        || (ca_bundle("validatingwebhookconfiguration") && ca_bundle("mutatingwebhookconfiguration")).then_some(()),
        || c.log("webhook"),
    );
    wait_for(
        "policy-controller's webhook answers TLS",
        limit,
        || {
            let mut cmd = c.tool("curl");
            cmd.args(["-sk", "-o", "/dev/null", "--max-time", "5", &format!("https://127.0.0.1:{WEBHOOK_PORT}/")]);
            run(cmd, Duration::from_secs(20)).status.success().then_some(())
        },
        || c.log("webhook"),
    );
    t0.elapsed()
}

/// Waits until the verifier has read the ClusterImagePolicies `names` (they reach
/// its webhook through the ConfigMap `config-image-policies`).
pub fn wait_for_policies(c: &Cluster, names: &[&str]) {
    wait_for(
        "policy-controller reads the ClusterImagePolicies",
        Duration::from_secs(120),
        || {
            let out = c.kubectl(&["get", "configmap", "-n", VERIFIER_NAMESPACE, "config-image-policies", "-o", "jsonpath={.data}"]);
            let data = String::from_utf8_lossy(&out.stdout).to_string();
            names.iter().all(|n| data.contains(&format!("\"{n}\""))).then_some(())
        },
        || format!("{}\n{}", String::from_utf8_lossy(&c.kubectl(&["get", "clusterimagepolicies", "-o", "yaml"]).stdout), c.log("webhook")),
    );
}
