//! A real Kubernetes control plane for tests: etcd, kube-apiserver and (optionally)
//! kube-controller-manager, kube-scheduler and a test KMS v2 plugin, built from the pinned Go module
//! in `tests/kube/` by `scripts/setup/20-kube.sh` into `target/kube/VERSION/`.
//!
//! Everything listens on loopback with certificates generated for the run (openssl),
//! RBAC authorization and a token file with one admin user (group `system:masters`);
//! test subjects are impersonated by the admin (`kubectl --as/--as-group`). Dropping
//! a [`Cluster`] stops every process and removes its temporary folder
//! (`KHC_KEEP_KUBE=1` keeps the folder, with the processes' logs).

use khc_emit::Output;
use serde_json::Value;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output as ProcOutput, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The admin's bearer token (group `system:masters`).
const ADMIN_TOKEN: &str = "khc-admin-token";

/// The folders that hold a built control plane, from `KHC_KUBE_BIN_DIRS` (space
/// separated, newest Kubernetes first). Without it: with `CI=true` the test fails,
/// otherwise it prints SKIPPED and gets an empty list.
pub fn bin_dirs(test: &str) -> Vec<PathBuf> {
    let dirs: Vec<PathBuf> = std::env::var("KHC_KUBE_BIN_DIRS").unwrap_or_default().split_whitespace().map(PathBuf::from).collect();
    let missing: Vec<String> = dirs
        .iter()
        .flat_map(|d| ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kmsplugin", "etcdget", "netpol"].map(|b| d.join(b)))
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    let kubectl = Command::new("kubectl").arg("version").arg("--client").output().is_ok_and(|o| o.status.success());
    if dirs.is_empty() || !missing.is_empty() || !kubectl {
        let why = if dirs.is_empty() {
            "KHC_KUBE_BIN_DIRS is not set (source scripts/setup/20-kube.sh)".to_string()
        } else if !kubectl {
            "kubectl is not installed".to_string()
        } else {
            format!("missing {}", missing.join(", "))
        };
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: the real API server is required in CI: {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
        return Vec::new();
    }
    dirs
}

/// The Kubernetes version of a bin folder (its name, e.g. `v1.37.2`).
pub fn version_of(bin: &Path) -> String {
    bin.file_name().unwrap().to_string_lossy().into_owned()
}

/// An API response: HTTP status, body, `Warning` headers.
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The JSON body (`Null` when it is not JSON).
    pub body: Value,
    /// The `Warning` headers' texts.
    pub warnings: Vec<String>,
}

/// How to start a [`Cluster`].
#[derive(Default, Clone)]
pub struct Options {
    /// `--encryption-provider-config` (a filled-in EncryptionConfiguration).
    pub encryption_config: Option<PathBuf>,
    /// Start the test KMS v2 plugin on this socket path first.
    pub kms_socket: Option<PathBuf>,
    /// Start kube-controller-manager with the ValidatingAdmissionPolicy status
    /// (type-checking) and ClusterRole aggregation controllers.
    pub controller_manager: bool,
    /// Run each controller as its own ServiceAccount of `kube-system`
    /// (`--use-service-account-credentials`, as kubeadm does) instead of as the
    /// test's admin (`system:masters`, which admission policies may exempt).
    pub controller_credentials: bool,
    /// More kube-apiserver flags (`--name=value`, e.g. from a generated
    /// `kube-apiserver-flags`, see [`control_plane_flags`]); a flag the test sets
    /// too is replaced. With `--authentication-config`, the test's own
    /// `--anonymous-auth=false` is dropped (the file may configure anonymous access,
    /// and the server refuses both); the flags may state it again.
    pub apiserver_flags: Vec<String>,
    /// More kube-controller-manager flags (e.g. a generated
    /// `kube-controller-manager-flags`); a flag the test sets too is replaced.
    pub controller_manager_flags: Vec<String>,
    /// Start kube-scheduler with these flags (e.g. a generated `kube-scheduler-flags`).
    pub scheduler_flags: Option<Vec<String>>,
    /// Run every process in a PID namespace of its own (`unshare`, `nsenter`), so
    /// that a tool reading the process table (kube-bench's `ps -ef | grep
    /// kube-apiserver`) sees this control plane only, not others on the machine;
    /// see [`Cluster::run_inside`].
    pub own_pid_namespace: bool,
    /// Also run kube-controller-manager's `serviceaccount-token` controller
    /// (fills legacy `kubernetes.io/service-account-token` Secrets) and
    /// `csrsigning` (signs approved CertificateSigningRequests with the test CA,
    /// which the API server trusts for client certificates); implies
    /// `controller_manager`.
    pub token_and_csr_controllers: bool,
    /// Run every process, and every kubectl and curl the test runs through the
    /// [`Cluster`], in a network namespace of its own (`unshare --net`, loopback up;
    /// processes enter it with `nsenter --net=/proc/PID/ns/net`): a server that
    /// always binds a fixed port (policy-controller's webhook: `:8443`, `:8080`)
    /// cannot collide with another test's or engineer's. Needs root (CI runs as root).
    pub own_net_namespace: bool,
}

/// How a request authenticates: as the admin, with a bearer token, or with a
/// client certificate (and key) signed by the test CA; plus impersonation headers.
#[derive(Clone, Debug)]
pub enum Credential {
    /// The admin's token (group `system:masters`).
    Admin,
    /// A bearer token (e.g. a ServiceAccount's).
    Token(String),
    /// A client certificate and its key (PEM files).
    Cert(PathBuf, PathBuf),
}

struct Proc {
    name: String,
    child: Child,
    /// Stop with SIGTERM first (a server that releases leases); otherwise SIGKILL at once.
    graceful: bool,
}

/// A running etcd + kube-apiserver (+ controllers) on loopback.
pub struct Cluster {
    /// The temporary folder (certificates, data, logs, kubeconfig).
    pub dir: PathBuf,
    bin: PathBuf,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// etcd's client URL.
    pub etcd: String,
    api_port: u16,
    opts: Options,
    procs: Vec<Proc>,
    /// The PID namespace: `unshare`'s process and the host PID of the namespace's
    /// first process (its init: killing it ends every process inside).
    pid_namespace: Option<(Child, u32)>,
    /// The network namespace's holder (`unshare --net sleep infinity`: its PID
    /// names the namespace; killing it does not end the processes inside).
    net_namespace: Option<Child>,
}

/// A free loopback port below Linux's ephemeral range (32768–60999), so that no
/// outgoing connection (kubectl, the API server's to etcd) can take it before the
/// server binds it; never the same one twice in a process (the walk's start is
/// drawn once per process: drawn at each call, a port handed out but not yet
/// bound — the API server's, picked before etcd starts — could be handed out
/// again, and etcd took it).
fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static START: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        (std::process::id() as usize * 7919 + std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as usize) % 10_000
    });
    loop {
        let port = 20_000 + (start + NEXT.fetch_add(1, Ordering::SeqCst) * 37) % 12_000;
        if TcpListener::bind(("127.0.0.1", port as u16)).is_ok() {
            return port as u16;
        }
    }
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn openssl(dir: &Path, args: &[&str]) {
    run_ok(Command::new("openssl").args(args).current_dir(dir));
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

impl Cluster {
    /// Starts the control plane from `bin` and waits until `/readyz` answers ok.
    pub fn start(bin: &Path, opts: Options) -> Cluster {
        let dir = std::env::temp_dir().join(format!("khc-kube-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Certificates: a CA, the serving certificate, the service-account signing key.
        openssl(&dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=khc-test-ca"]);
        openssl(&dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver"]);
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n").unwrap();
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        );
        openssl(&dir, &["genrsa", "-out", "sa.key", "2048"]);
        openssl(&dir, &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
        std::fs::write(dir.join("tokens.csv"), format!("{ADMIN_TOKEN},khc-admin,khc-admin-uid,\"system:masters\"\n")).unwrap();
        let api_port = free_port();
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{api_port}\n    certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    token: {ADMIN_TOKEN}\ncontexts:\n- name: test\n  context: {{cluster: test, user: admin}}\ncurrent-context: test\n",
                ca = dir.join("ca.crt").display()
            ),
        )
        .unwrap();
        let (etcd_port, peer_port) = (free_port(), free_port());
        let mut c = Cluster {
            dir,
            bin: bin.to_path_buf(),
            kubeconfig,
            etcd: format!("http://127.0.0.1:{etcd_port}"),
            api_port,
            opts,
            procs: Vec::new(),
            pid_namespace: None,
            net_namespace: None,
        };
        if c.opts.own_net_namespace {
            c.net_namespace = Some(net_namespace());
        }
        if c.opts.own_pid_namespace {
            c.pid_namespace = Some(pid_namespace());
        }
        let d = c.dir.clone();
        let peer = format!("http://127.0.0.1:{peer_port}");
        c.spawn(
            "etcd",
            "etcd",
            &[
                "--name=default".into(),
                format!("--data-dir={}", d.join("etcd").display()),
                format!("--listen-client-urls={}", c.etcd),
                format!("--advertise-client-urls={}", c.etcd),
                format!("--listen-peer-urls={peer}"),
                format!("--initial-advertise-peer-urls={peer}"),
                format!("--initial-cluster=default={peer}"),
                format!("--listen-metrics-urls=http://127.0.0.1:{}", free_port()),
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ],
        );
        if let Some(sock) = c.opts.kms_socket.clone() {
            c.spawn("kmsplugin", "kmsplugin", &[sock.display().to_string()]);
            let t0 = Instant::now();
            while !sock.exists() {
                assert!(t0.elapsed() < Duration::from_secs(30), "the KMS plugin did not create {}", sock.display());
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        c.start_apiserver();
        let kc = c.kubeconfig.display().to_string();
        if c.opts.controller_manager || c.opts.token_and_csr_controllers {
            let mut extra = c.opts.controller_manager_flags.clone();
            if c.opts.token_and_csr_controllers {
                extra.push("--controllers=validatingadmissionpolicy-status-controller,clusterrole-aggregation,serviceaccount-token,csrsigning".into());
                extra.push(format!("--service-account-private-key-file={}", d.join("sa.key").display()));
                extra.push(format!("--root-ca-file={}", d.join("ca.crt").display()));
                extra.push(format!("--cluster-signing-cert-file={}", d.join("ca.crt").display()));
                extra.push(format!("--cluster-signing-key-file={}", d.join("ca.key").display()));
            }
            let args = with_flags(
                vec![
                    format!("--kubeconfig={kc}"),
                    format!("--authentication-kubeconfig={kc}"),
                    format!("--authorization-kubeconfig={kc}"),
                    "--controllers=validatingadmissionpolicy-status-controller,clusterrole-aggregation".into(),
                    format!("--use-service-account-credentials={}", c.opts.controller_credentials),
                    "--leader-elect=false".into(),
                    "--bind-address=127.0.0.1".into(),
                    format!("--secure-port={}", free_port()),
                    format!("--cert-dir={}", d.join("kcm-certs").display()),
                ],
                &extra,
            );
            c.spawn("kube-controller-manager", "kube-controller-manager", &args);
        }
        if let Some(flags) = c.opts.scheduler_flags.clone() {
            let args = with_flags(
                vec![
                    format!("--kubeconfig={kc}"),
                    format!("--authentication-kubeconfig={kc}"),
                    format!("--authorization-kubeconfig={kc}"),
                    "--leader-elect=false".into(),
                    "--bind-address=127.0.0.1".into(),
                    format!("--secure-port={}", free_port()),
                    format!("--cert-dir={}", d.join("scheduler-certs").display()),
                ],
                &flags,
            );
            c.spawn("kube-scheduler", "kube-scheduler", &args);
        }
        c
    }

    /// GETs `paths` as `user` (impersonated by the admin, with `groups`), up to
    /// `parallel` at once over one curl process (`--parallel`): per request, in the
    /// order the answers came, the HTTP status, the API Priority and Fairness level
    /// that handled it (`X-Kubernetes-PF-PriorityLevel-UID`) and the seconds it took.
    pub fn get_as(&self, user: &str, groups: &[&str], paths: &[String], parallel: usize) -> Vec<(u16, String, f64)> {
        let config = self.dir.join(format!("curl-{}.conf", SEQ.fetch_add(1, Ordering::SeqCst)));
        let mut text = String::new();
        for p in paths {
            text.push_str(&format!("url = \"https://127.0.0.1:{}{p}\"\noutput = \"/dev/null\"\n", self.api_port));
        }
        std::fs::write(&config, text).unwrap();
        let mut cmd = self.tool("curl");
        cmd.args(["-sS", "--cacert"]).arg(self.dir.join("ca.crt"));
        cmd.args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}"), "-H", &format!("Impersonate-User: {user}")]);
        for g in groups {
            cmd.args(["-H", &format!("Impersonate-Group: {g}")]);
        }
        if parallel > 1 {
            cmd.args(["--parallel", "--parallel-immediate", "--parallel-max", &parallel.to_string()]);
        }
        cmd.args(["-w", "%{http_code} %header{x-kubernetes-pf-prioritylevel-uid} %{time_total}\\n", "-K"]).arg(&config);
        let out = cmd.output().expect("run curl");
        let _ = std::fs::remove_file(&config);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                match f.as_slice() {
                    [code, uid, t] => Some((code.parse().ok()?, uid.to_string(), t.parse().ok()?)),
                    [code, t] => Some((code.parse().ok()?, String::new(), t.parse().ok()?)),
                    _ => None,
                }
            })
            .collect()
    }

    /// Runs a command inside the control plane's PID namespace (see
    /// [`Options::own_pid_namespace`]; outside it without one) and returns its output.
    pub fn run_inside(&self, exe: &Path, args: &[String]) -> ProcOutput {
        let mut cmd = self.command(exe);
        cmd.args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
    }

    /// True while every process started is still running.
    pub fn all_running(&mut self) -> Result<(), String> {
        let exited = self.procs.iter_mut().find_map(|p| p.child.try_wait().ok().flatten().map(|s| (p.name.clone(), s)));
        match exited {
            Some((name, status)) => Err(format!("{name} exited ({status}):\n{}", self.log_tail(&name))),
            None => Ok(()),
        }
    }

    fn command(&self, exe: &Path) -> Command {
        if self.pid_namespace.is_none() {
            return self.tool(exe);
        }
        let mut c = Command::new("nsenter");
        if let Some(net) = &self.net_namespace {
            c.arg(format!("--net=/proc/{}/ns/net", net.id()));
        }
        if let Some((_, pid)) = &self.pid_namespace {
            c.args(["-t", &pid.to_string(), "-p", "-m"]);
        }
        c.arg("--").arg(exe);
        c
    }

    /// A command (a path, or a name looked up on `PATH`) that runs in the control
    /// plane's network namespace ([`Options::own_net_namespace`]; a plain command
    /// without one): the way to reach its loopback addresses.
    pub fn tool(&self, exe: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.net_namespace {
            Some(net) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/proc/{}/ns/net", net.id())).arg("--").arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn spawn(&mut self, name: &'static str, exe: &str, args: &[String]) {
        let mut cmd = self.command(&self.bin.join(exe));
        cmd.args(args);
        self.spawn_command(name, cmd, true);
    }

    /// Starts `cmd` (made with [`Cluster::tool`], environment set) as one of the
    /// control plane's processes: its output goes to `NAME.log` in [`Cluster::dir`]
    /// (see [`Cluster::log`]); it is killed (SIGKILL) when the cluster is dropped.
    /// Returns its PID.
    pub fn spawn_process(&mut self, name: &str, cmd: Command) -> u32 {
        self.spawn_command(name, cmd, false)
    }

    fn spawn_command(&mut self, name: &str, mut cmd: Command, graceful: bool) -> u32 {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let child =
            cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let pid = child.id();
        self.procs.push(Proc { name: name.to_string(), child, graceful });
        pid
    }

    /// The output so far of a process the cluster started (`NAME.log`).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Starts kube-apiserver (again) with the current options and waits for `/readyz`.
    fn start_apiserver(&mut self) {
        let d = self.dir.clone();
        let p = |f: &str| d.join(f).display().to_string();
        let mut args = vec![
            format!("--etcd-servers={}", self.etcd),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", self.api_port),
            format!("--cert-dir={}", p("apiserver-certs")),
            format!("--tls-cert-file={}", p("server.crt")),
            format!("--tls-private-key-file={}", p("server.key")),
            format!("--client-ca-file={}", p("ca.crt")),
            format!("--token-auth-file={}", p("tokens.csv")),
            "--authorization-mode=RBAC".into(),
            "--anonymous-auth=false".into(),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--allow-privileged=true".into(),
            "--profiling=false".into(),
            // No Endpoints for the `kubernetes` Service: loopback addresses are refused there.
            "--endpoint-reconciler-type=none".into(),
        ];
        if let Some(enc) = &self.opts.encryption_config {
            args.push(format!("--encryption-provider-config={}", enc.display()));
        }
        let key = |f: &str| f.split_once('=').map_or(f, |(k, _)| k).to_string();
        if self.opts.apiserver_flags.iter().any(|f| key(f) == "--authentication-config") {
            args.retain(|a| key(a) != "--anonymous-auth");
        }
        let args = with_flags(args, &self.opts.apiserver_flags);
        self.spawn("kube-apiserver", "kube-apiserver", &args);
        let t0 = Instant::now();
        loop {
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
                break;
            }
            let exited = self.procs.iter_mut().find_map(|p| p.child.try_wait().ok().flatten().map(|s| (p.name.clone(), s)));
            if let Some((name, status)) = exited {
                panic!("{name} exited ({status}) before the API server was ready:\n{}", self.log_tail(&name));
            }
            if t0.elapsed() > Duration::from_secs(240) {
                panic!("kube-apiserver not ready after 240 s:\n{}\n{}", String::from_utf8_lossy(&out.stderr), self.log_tail("kube-apiserver"));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!("kube-apiserver {} ready in {:.1}s", version_of(&self.bin), t0.elapsed().as_secs_f64());
    }

    /// Stops kube-apiserver and starts it again with another encryption configuration
    /// (etcd and its data stay).
    pub fn restart_apiserver(&mut self, encryption_config: Option<PathBuf>) {
        if let Some(i) = self.procs.iter().position(|p| p.name == "kube-apiserver") {
            let mut p = self.procs.remove(i);
            stop(&mut p.child);
        }
        self.opts.encryption_config = encryption_config;
        self.start_apiserver();
    }

    /// Runs kubectl as the admin.
    pub fn kubectl(&self, args: &[&str]) -> ProcOutput {
        self.tool("kubectl").arg("--kubeconfig").arg(&self.kubeconfig).args(args).output().expect("run kubectl")
    }

    /// Runs kubectl as the admin with `stdin` as standard input.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> ProcOutput {
        let mut child = self
            .tool("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs kubectl as the admin and returns its standard output; panics on failure.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(out.status.success(), "kubectl {} failed:\n{}{}", args.join(" "), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One API request as the admin (curl: far cheaper than a kubectl process per
    /// object): the HTTP status, the response body and the `Warning` headers.
    pub fn request(&self, method: &str, path: &str, body: &Value) -> Response {
        self.request_as(&Credential::Admin, &[], method, path, body)
    }

    /// [`Cluster::request`] as another identity: the admin impersonates `user`
    /// with `groups` (`Impersonate-User`, `Impersonate-Group`), so the server
    /// authorizes and admits the request as that user.
    pub fn request_impersonating(&self, user: &str, groups: &[&str], method: &str, path: &str, body: &Value) -> Response {
        let mut headers = vec![("Impersonate-User".to_string(), user.to_string())];
        headers.extend(groups.iter().map(|g| ("Impersonate-Group".to_string(), g.to_string())));
        self.request_as(&Credential::Admin, &headers, method, path, body)
    }

    /// One API request with `cred` and impersonation `headers` (`("Impersonate-User",
    /// "alice")`, …): the HTTP status, the response body and the `Warning` headers.
    pub fn request_as(&self, cred: &Credential, headers: &[(String, String)], method: &str, path: &str, body: &Value) -> Response {
        let head_file = self.dir.join(format!("headers-{}", SEQ.fetch_add(1, Ordering::SeqCst)));
        // A `Null` body sends none: a GET with a body can make the server reset the
        // HTTP/2 stream ("Stream error in the HTTP/2 framing layer").
        let body_args: &[&str] = if body.is_null() { &[] } else { &["-H", "Content-Type: application/json", "--data-binary", "@-"] };
        let mut cmd = self.tool("curl");
        cmd.args(["-sS", "--cacert"]).arg(self.dir.join("ca.crt"));
        match cred {
            Credential::Admin => {
                cmd.args(["-H", &format!("Authorization: Bearer {ADMIN_TOKEN}")]);
            }
            Credential::Token(t) => {
                cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
            }
            Credential::Cert(crt, key) => {
                cmd.arg("--cert").arg(crt).arg("--key").arg(key);
            }
        }
        for (k, v) in headers {
            cmd.args(["-H", &format!("{k}: {v}")]);
        }
        let out = cmd
            .args(["-X", method])
            .args(body_args)
            .arg("-D")
            .arg(&head_file)
            .arg(format!("https://127.0.0.1:{}{path}", self.api_port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                let mut stdin = child.stdin.take().unwrap();
                if !body.is_null() {
                    stdin.write_all(body.to_string().as_bytes())?;
                }
                drop(stdin);
                child.wait_with_output()
            })
            .expect("run curl");
        assert!(out.status.success(), "curl {method} {path}: {}", String::from_utf8_lossy(&out.stderr));
        let head = std::fs::read_to_string(&head_file).unwrap_or_default();
        let _ = std::fs::remove_file(&head_file);
        let status = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let warnings = head
            .lines()
            .filter_map(|l| l.strip_prefix("warning: ").or_else(|| l.strip_prefix("Warning: ")))
            .map(|w| w.trim().trim_start_matches("299 - ").trim_matches('"').to_string())
            .collect();
        Response { status, body: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null), warnings }
    }

    /// A client certificate for `user` in `groups` (its `O`s), signed by the CA the
    /// API server trusts for client certificates: that identity's own credential.
    pub fn client_cert(&self, user: &str, groups: &[&str]) -> Credential {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let (key, csr, crt) = (format!("client-{n}.key"), format!("client-{n}.csr"), format!("client-{n}.crt"));
        let mut subj = format!("/CN={user}");
        for g in groups {
            subj.push_str(&format!("/O={g}"));
        }
        openssl(&self.dir, &["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(&self.dir, &["x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", &crt, "-days", "1"]);
        Credential::Cert(self.dir.join(crt), self.dir.join(key))
    }

    /// A new EC key and a PEM certificate signing request for `subj`
    /// (`/CN=…/O=…`): the key's path and the request's PEM text.
    pub fn key_and_csr(&self, subj: &str) -> (PathBuf, String) {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let (key, csr) = (format!("req-{n}.key"), format!("req-{n}.csr"));
        openssl(&self.dir, &["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subj]);
        (self.dir.join(key), std::fs::read_to_string(self.dir.join(csr)).unwrap())
    }

    /// The HTTP status of an anonymous (no credentials) GET of `path`.
    pub fn anonymous_get(&self, path: &str) -> u16 {
        let out = self
            .tool("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(self.dir.join("ca.crt"))
            .arg(format!("https://127.0.0.1:{}{path}", self.api_port))
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
    }

    /// The raw bytes etcd holds at `key` (as the API server wrote them).
    pub fn etcd_raw(&self, key: &str) -> Vec<u8> {
        let out = Command::new(self.bin.join("etcdget")).arg(&self.etcd).arg(key).output().expect("run etcdget");
        assert!(out.status.success(), "etcdget {key}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// The Kubernetes version of this control plane.
    pub fn version(&self) -> String {
        version_of(&self.bin)
    }
}

/// `args` with `extra` flags added; an extra flag the args set too replaces it.
fn with_flags(mut args: Vec<String>, extra: &[String]) -> Vec<String> {
    let key = |f: &str| f.split_once('=').map_or(f, |(k, _)| k).to_string();
    for x in extra {
        match args.iter().position(|a| key(a) == key(x)) {
            Some(i) => args[i] = x.clone(),
            None => args.push(x.clone()),
        }
    }
    args
}

/// A new PID namespace (with its own `/proc`) whose init sleeps: `unshare`'s
/// process, and the host PID of the init (the target of `nsenter`).
// The child is returned to the caller, whose `Drop` kills the namespace and waits for it.
#[allow(clippy::zombie_processes)]
fn pid_namespace() -> (Child, u32) {
    let mut child = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sleep", "infinity"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run unshare: {e}"));
    let children = format!("/proc/{0}/task/{0}/children", child.id());
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(&children).unwrap_or_default();
        if let Some(pid) = text.split_whitespace().next().and_then(|p| p.parse().ok()) {
            // Wait until the init has its own /proc mounted (it then runs `sleep`).
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                return (child, pid);
            }
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unshare --pid did not start its init");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A new network namespace with its loopback up, held by `unshare --net sleep
/// infinity` (whose PID names it: `/proc/PID/ns/net`).
// The child is returned to the caller, whose `Drop` kills it and waits for it.
#[allow(clippy::zombie_processes)]
fn net_namespace() -> Child {
    let mut child =
        Command::new("unshare").args(["--net", "sleep", "infinity"]).stdin(Stdio::null()).spawn().unwrap_or_else(|e| panic!("cannot run unshare: {e}"));
    let ours = std::fs::read_link("/proc/self/ns/net").ok();
    let t0 = Instant::now();
    // `unshare` execs `sleep` once the namespace is made: then its link differs.
    while std::fs::read_link(format!("/proc/{}/ns/net", child.id())).ok() == ours
        || std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap_or_default().trim() != "sleep"
    {
        if t0.elapsed() > Duration::from_secs(10) || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("unshare --net did not make a network namespace (needs root)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let up = Command::new("nsenter").arg(format!("--net=/proc/{}/ns/net", child.id())).args(["--", "ip", "link", "set", "lo", "up"]).status();
    if !up.as_ref().is_ok_and(|s| s.success()) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("cannot bring loopback up in the network namespace: {up:?}");
    }
    child
}

/// Stops a process: SIGTERM (a graceful shutdown releases the API server's leases,
/// so the next one is ready in seconds, not after their expiry), then SIGKILL after 20 s.
fn stop(child: &mut Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some((mut holder, init)) = self.pid_namespace.take() {
            // Killing the namespace's init ends every process inside it at once.
            let _ = Command::new("kill").arg("-KILL").arg(init.to_string()).status();
            let _ = holder.wait();
            for p in &mut self.procs {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
        for p in self.procs.iter_mut().rev() {
            if p.graceful && self.net_namespace.is_none() {
                stop(&mut p.child);
            } else {
                // In a private network namespace nobody else waits for the leases.
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
        if let Some(mut holder) = self.net_namespace.take() {
            let _ = holder.kill();
            let _ = holder.wait();
        }
        if std::env::var_os("KHC_KEEP_KUBE").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept {}", self.dir.display());
        }
    }
}

/// Writes an output tree under `dir` (as `khc build -o dir` would) and returns the
/// folder of its (single) cluster.
pub fn write_output(out: &Output, dir: &Path) -> PathBuf {
    let mut cluster = None;
    for f in &out.files {
        let path = dir.join(&f.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &f.contents).unwrap();
        if let Some(rest) = f.path.strip_prefix("clusters/") {
            cluster.get_or_insert_with(|| dir.join("clusters").join(rest.split('/').next().unwrap()));
        }
    }
    cluster.expect("the output has a cluster folder")
}

/// Runs a control-plane's generated install script with `env` and returns the
/// filled-in EncryptionConfiguration it wrote to `dest`.
pub fn install_encryption_config(control_plane: &Path, dest: &Path, env: &[(&str, &str)]) -> PathBuf {
    let mut cmd = Command::new("sh");
    cmd.arg(control_plane.join("install-encryption-config.sh")).arg(dest);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_ok(&mut cmd);
    dest.to_path_buf()
}

/// The flags of a generated flags file of a control-plane folder
/// (`kube-controller-manager-flags`, `kube-scheduler-flags`), with `/etc/kubernetes/khc/`
/// rewritten to `dir`.
pub fn component_flags(control_plane: &Path, file: &str, dir: &Path) -> Vec<String> {
    control_plane_flags(&std::fs::read_to_string(control_plane.join(file)).unwrap(), dir)
}

/// Runs a control-plane's generated `install-control-plane.sh DIR` with `env` (the
/// encryption keys) and returns the flags of its `kube-apiserver-flags`, with the
/// install folder (`/etc/kubernetes/khc`) rewritten to `dir`.
pub fn install_control_plane(control_plane: &Path, dir: &Path, env: &[(&str, &str)]) -> Vec<String> {
    let mut cmd = Command::new("sh");
    cmd.arg(control_plane.join("install-control-plane.sh")).arg(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_ok(&mut cmd);
    control_plane_flags(&std::fs::read_to_string(control_plane.join("kube-apiserver-flags")).unwrap(), dir)
}

/// The flags of a `kube-apiserver-flags` file (one a line, `#` comments), with
/// `/etc/kubernetes/khc/` rewritten to `dir`.
pub fn control_plane_flags(text: &str, dir: &Path) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            assert!(l.starts_with("--") && l.contains('='), "not a flag: {l}");
            l.replace("/etc/kubernetes/khc/", &format!("{}/", dir.display()))
        })
        .collect()
}

/// The upstream Pod Security Standards fixtures (`LEVEL/vVERSION/{pass,fail}/*.yaml`):
/// `KHC_PSS_FIXTURES`, else `shared/fixtures/pod-security-admission` beside the
/// repository (`$KHC_REPO/../shared`, as CI clones it).
pub fn pss_fixtures_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KHC_PSS_FIXTURES") {
        return PathBuf::from(d);
    }
    let repo = std::env::var_os("KHC_REPO").map(PathBuf::from).unwrap_or_else(crate::repo_root);
    repo.join("../shared/fixtures/pod-security-admission")
}

/// A fresh temporary folder, removed when dropped (also when a test panics) unless
/// `KHC_KEEP_KUBE` is set.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `$TMPDIR/khc-kube-NAME-PID`, emptied.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("khc-kube-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("KHC_KEEP_KUBE").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
