//! Network intent on **real packets** (issue 19): khc's NetworkPolicies, applied to
//! a real API server, are enforced by a real policy engine — kube-router v2.1.0's
//! network policy controller (iptables + ipset; upstream code, built by
//! `scripts/setup/20-kube.sh` from `tests/kube/kube-router`) — and every probe
//! between the program's endpoints must get the answer `khc-analysis`'s evaluator
//! (the one behind `khc reach` and `khc reach --matrix`) gives.
//!
//! Each test re-runs itself inside `unshare -nm` (as root; `unshare -Urnm`, with a
//! user namespace, otherwise): a network and mount namespace of its own, nothing
//! shared with other runs, every namespace and rule gone when it exits. Inside, the test's network namespace is
//! "the node": etcd and kube-apiserver on its loopback, kube-router with only its
//! firewall (`--run-firewall=true --run-router=false --run-service-proxy=false`),
//! and a bridge `br0` holding the node's InternalIP. Every pod is a network
//! namespace of its own with a veth on the bridge (`br_netfilter` makes bridged
//! packets traverse the node's FORWARD chain, where kube-router filters them) and
//! a Pod object whose `status.podIP`/`hostIP` the test writes through the status
//! subresource (there is no kubelet); outside addresses the policies name (CIDR
//! peers, their `except` ranges, the API server, the cloud metadata endpoint) are
//! network namespaces on the same bridge. Each endpoint runs `khc-netprobe serve`,
//! which answers its own name on every probed TCP and UDP port.
//!
//! The sync barrier is kube-router's own log (`-v=2`): after a change, the test
//! waits until kube-router has received every changed object ("Received update
//! for network policy: NS/NAME", "… to pod: NS/NAME"), then for a full sync that
//! *started* after the last of them and finished ("sync iptables took"). No sleeps.
//! kube-router REJECTs with ICMP, so the node's ICMP rate limits are lifted: a
//! denial is then an immediate "refused", never a time-out.
//!
//! Negative controls: after the matrix agrees, one of khc's NetworkPolicies is
//! altered into an allow-all — the probes must now disagree with the intent
//! exactly where the evaluator, given the altered policy set, says the answer
//! changed. An engine that failed open (or closed) would be caught here.

use khc_analysis::network::{cidr_range, Endpoint, NamedPort, Network};
use khc_analysis::Object;
use khc_emit::Output;
use khc_tests::kube::{bin_dirs, write_output, Cluster, Options, TempDir};
use khc_tests::{compile, repo_root};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// Set (to the test's name) in the re-run inside `unshare`.
const INNER: &str = "KHC_DATAPLANE_INNER";
/// The node's name and InternalIP (on `br0`); pods get addresses of its /16.
const NODE: &str = "khc-node";
const NODE_IP: Ipv4Addr = Ipv4Addr::new(100, 96, 0, 1);
/// The pod range: outside every CIDR the programs' policies name (checked).
const POD_RANGE: &str = "100.96.0.0/16";
/// The test API server's Service range (kube-router is told the same).
const SERVICE_RANGE: &str = "10.96.0.0/16";
/// The cloud metadata endpoint.
const METADATA: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// A public address no policy names.
const INTERNET: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 10);

/// kube-router's binary: `KHC_KUBE_ROUTER`, else where `scripts/setup/20-kube.sh` builds it.
fn kube_router() -> PathBuf {
    std::env::var_os("KHC_KUBE_ROUTER").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/kube/kube-router/kube-router"))
}

fn have(cmd: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Runs `body` inside a fresh `unshare -Urnm` (re-running this test binary with
/// only this test), or — in that re-run — runs it. Prints SKIPPED (fails with
/// `CI=true`) when a prerequisite is missing.
fn isolated(test: &str, body: impl FnOnce(&Path)) {
    if std::env::var(INNER).as_deref() == Ok(test) {
        let bin = bin_dirs(test).into_iter().next().expect("checked by the outer run");
        body(&bin);
        return;
    }
    let Some(_) = bin_dirs(test).into_iter().next() else { return };
    let missing: Vec<String> = ["unshare", "nsenter", "ip", "iptables", "ipset"]
        .iter()
        .filter(|c| !have(c))
        .map(|c| c.to_string())
        .chain((!kube_router().is_file()).then(|| format!("{} (KHC_KUBE_ROUTER)", kube_router().display())))
        .collect();
    if !missing.is_empty() {
        let why = format!("missing {}", missing.join(", "));
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: the real dataplane is required in CI: {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
        return;
    }
    // One dataplane at a time: each runs a control plane, kube-router and dozens of
    // processes, and on a busy machine parallel runs turn answers into time-outs.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t0 = Instant::now();
    // As root, network and mount namespaces only: iptables-nft sends a ruleset as one
    // netlink batch and can raise its socket buffer for it (SO_SNDBUFFORCE) only
    // with CAP_NET_ADMIN in the initial user namespace; inside `unshare -U` a large
    // program's ruleset fails ("sendmsg() failed: Message too long"). Without root,
    // a user namespace too (small programs work there).
    // SAFETY: geteuid has no preconditions.
    let flags = if unsafe { libc::geteuid() } == 0 { "-nm" } else { "-Urnm" };
    let status = Command::new("unshare")
        .args([flags, "--"])
        .arg(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(INNER, test)
        .status()
        .expect("run unshare");
    assert!(status.success(), "{test} failed inside unshare {flags} ({status})");
    eprintln!("{test}: {:.1}s in all", t0.elapsed().as_secs_f64());
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &str) {
    run(Command::new("ip").args(args.split_whitespace()));
}

fn in_netns(pid: u32, script: &str) {
    run(Command::new("nsenter").args(["-t", &pid.to_string(), "-n", "sh", "-ec", script]));
}

fn sysctl(key: &str, value: &str) -> bool {
    std::fs::write(format!("/proc/sys/{}", key.replace('.', "/")), value).is_ok()
}

/// One endpoint: a pod (namespace, name, labels) or an outside address.
#[derive(Clone, Debug)]
struct Ep {
    name: String,
    ip: Ipv4Addr,
    pod: Option<(String, String, BTreeMap<String, String>)>,
    /// The pod's named container ports (its workload's `port` statements).
    ports: Vec<NamedPort>,
}

impl Ep {
    fn endpoint(&self) -> Endpoint {
        match &self.pod {
            Some((ns, _, labels)) => Endpoint::Pod { namespace: ns.clone(), labels: labels.clone(), ports: self.ports.clone() },
            None => Endpoint::ip(self.ip),
        }
    }
}

/// One probe: source, destination (indexes of endpoints), protocol and port.
type Probe = (usize, usize, &'static str, u16);

/// The node, its kube-router and the endpoints' network namespaces.
struct Dataplane {
    c: Cluster,
    router: Option<Child>,
    router_log: PathBuf,
    eps: Vec<Ep>,
    pids: Vec<u32>,
    servers: Vec<Child>,
    tcp: Vec<u16>,
    udp: Vec<u16>,
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        for s in self.servers.iter_mut().chain(self.router.as_mut()) {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

impl Dataplane {
    /// The node: loopback, the bridge with the node's address, ICMP rate limits
    /// lifted; a control plane on loopback; the Node object.
    fn start(bin: &Path) -> Dataplane {
        ip("link set lo up");
        ip("link add br0 type bridge");
        ip(&format!("addr add {NODE_IP}/16 dev br0"));
        ip("link set br0 up");
        // Every address is on-link on the bridge: the node must reach the outside
        // addresses too, or the ICMP of kube-router's REJECT to them is never sent.
        ip("route add default dev br0");
        let bridged = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables").unwrap_or_default();
        assert_eq!(bridged.trim(), "1", "br_netfilter must be loaded (modprobe br_netfilter) so bridged packets traverse iptables");
        for (k, v) in [("net.ipv4.icmp_ratelimit", "0"), ("net.ipv4.icmp_msgs_per_sec", "1000000"), ("net.ipv4.icmp_msgs_burst", "1000000")] {
            if !sysctl(k, v) {
                eprintln!("note: cannot set {k} in the node's namespace (denials may time out instead of being refused)");
            }
        }
        // The controller manager aggregates the built-in `admin` role (tenant admins are bound to it).
        let c = Cluster::start(bin, Options { controller_manager: true, ..Options::default() });
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}});
        let r = c.request("POST", "/api/v1/nodes", &node);
        assert_eq!(r.status, 201, "create the node: {}", r.body);
        let mut node = r.body;
        node["status"]["addresses"] = json!([{"type": "InternalIP", "address": NODE_IP.to_string()}, {"type": "Hostname", "address": NODE}]);
        let r = c.request("PUT", &format!("/api/v1/nodes/{NODE}/status"), &node);
        assert_eq!(r.status, 200, "the node's status: {}", r.body);
        let router_log = c.dir.join("kube-router.log");
        Dataplane { c, router: None, router_log, eps: Vec::new(), pids: Vec::new(), servers: Vec::new(), tcp: Vec::new(), udp: Vec::new() }
    }

    /// A network namespace with `ip` on a veth in the bridge, serving every probed
    /// port with `name`.
    fn add_netns(&mut self, name: &str, ip_addr: Ipv4Addr, prefix: u8) {
        let probe = env!("CARGO_BIN_EXE_khc-netprobe");
        let mut args: Vec<String> = vec!["serve".into(), name.into(), ip_addr.to_string(), "--".into()];
        args.extend(self.tcp.iter().map(u16::to_string));
        args.push("--".into());
        args.extend(self.udp.iter().map(u16::to_string));
        let mut child = Command::new("unshare")
            .args(["-n", "--", "sh", "-c", "read go && exec \"$0\" \"$@\"", probe])
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start an endpoint");
        let pid = child.id();
        let veth = format!("v{}", self.pids.len());
        // The holder has unshared its network namespace once it waits on stdin.
        let t0 = Instant::now();
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).ok() == std::fs::read_link("/proc/self/ns/net").ok() {
            assert!(t0.elapsed() < Duration::from_secs(10), "unshare -n did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        ip(&format!("link add {veth} type veth peer name eth0 netns {pid}"));
        ip(&format!("link set {veth} master br0 up"));
        in_netns(pid, &format!("ip link set lo up; ip addr add {ip_addr}/{prefix} dev eth0; ip link set eth0 up; ip route add default dev eth0"));
        let mut stdin: ChildStdin = child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the echo server of {name} did not start");
        self.pids.push(pid);
        self.servers.push(child);
    }

    fn pod_ip(&self) -> Ipv4Addr {
        let n = self.eps.len() as u32 + 10;
        Ipv4Addr::new(100, 96, (n / 250 + 1) as u8, (n % 250 + 1) as u8)
    }

    /// A Pod object (no kubelet: its IPs are written through the status
    /// subresource) and its network namespace; `ports` become the container's named
    /// `containerPort`s, which kube-router resolves NetworkPolicies' named ports against.
    fn add_pod(&mut self, ns: &str, name: &str, labels: &BTreeMap<String, String>, ports: &[NamedPort]) {
        let ip_addr = self.pod_ip();
        let container_ports: Vec<Value> = ports.iter().map(|(n, proto, port)| json!({"name": n, "containerPort": port, "protocol": proto})).collect();
        let mut container = json!({"name": "probe", "image": "registry.example.com/khc-netprobe:1"});
        if !container_ports.is_empty() {
            container["ports"] = Value::Array(container_ports);
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": NODE, "containers": [container]}});
        let r = self.c.request("POST", &format!("/api/v1/namespaces/{ns}/pods"), &pod);
        assert_eq!(r.status, 201, "create pod {ns}/{name}: {}", r.body);
        let mut pod = r.body;
        pod["status"] = json!({"phase": "Running", "hostIP": NODE_IP.to_string(), "hostIPs": [{"ip": NODE_IP.to_string()}],
            "podIP": ip_addr.to_string(), "podIPs": [{"ip": ip_addr.to_string()}]});
        let r = self.c.request("PUT", &format!("/api/v1/namespaces/{ns}/pods/{name}/status"), &pod);
        assert_eq!(r.status, 200, "status of pod {ns}/{name}: {}", r.body);
        let label = format!("{ns}/{name}");
        self.add_netns(&label, ip_addr, 16);
        self.eps.push(Ep { name: label, ip: ip_addr, pod: Some((ns.into(), name.into(), labels.clone())), ports: ports.to_vec() });
    }

    fn add_host(&mut self, ip_addr: Ipv4Addr) {
        if self.eps.iter().any(|e| e.ip == ip_addr) {
            return;
        }
        let name = ip_addr.to_string();
        self.add_netns(&name, ip_addr, 32);
        self.eps.push(Ep { name, ip: ip_addr, pod: None, ports: Vec::new() });
    }

    /// Starts kube-router with only its firewall, and waits until it has seen every
    /// pod and `policies` (`NS/NAME`) and finished a full sync after that.
    fn start_router(&mut self, policies: &BTreeSet<String>) {
        let log = std::fs::File::create(&self.router_log).unwrap();
        let child = Command::new(kube_router())
            .args([
                &format!("--kubeconfig={}", self.c.kubeconfig.display()),
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                &format!("--hostname-override={NODE}"),
                &format!("--service-cluster-ip-range={SERVICE_RANGE}"),
                "--health-port=0",
                "--metrics-port=0",
                "--iptables-sync-period=10m",
                "--v=2",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start kube-router");
        self.router = Some(child);
        let mut events: Vec<String> = policies.iter().map(|p| format!("Received update for network policy: {p}")).collect();
        events.extend(self.eps.iter().filter_map(|e| e.pod.as_ref()).map(|(ns, name, _)| format!("Received update to pod: {ns}/{name}")));
        self.synced(0, &events);
    }

    fn log_len(&self) -> usize {
        std::fs::metadata(&self.router_log).map_or(0, |m| m.len() as usize)
    }

    /// The sync barrier: every `events` line appears in kube-router's log after
    /// byte `from`, then a full sync starts after the last of them and finishes.
    fn synced(&mut self, from: usize, events: &[String]) {
        let t0 = Instant::now();
        loop {
            let mut text = String::new();
            std::fs::File::open(&self.router_log).unwrap().read_to_string(&mut text).unwrap();
            let tail = text.get(from..).unwrap_or("");
            if let Some(err) = tail.lines().find(|l| l.contains("Aborting sync") || l.contains("Failed to start")) {
                panic!("kube-router: {err}");
            }
            let last = events.iter().map(|e| tail.find(e.as_str())).collect::<Option<Vec<usize>>>().map(|v| v.into_iter().max().unwrap_or(0));
            if let Some(last) = last {
                if let Some(start) = tail[last..].find("Starting sync of iptables") {
                    if tail[last + start..].contains("sync iptables took") {
                        return;
                    }
                }
            }
            if let Some(status) = self.router.as_mut().and_then(|r| r.try_wait().ok().flatten()) {
                panic!("kube-router exited ({status}):\n{}", tail_lines(&text, 30));
            }
            let missing: Vec<&String> = events.iter().filter(|e| !tail.contains(e.as_str())).collect();
            assert!(t0.elapsed() < Duration::from_secs(90), "kube-router did not sync within 90 s; not seen: {missing:?}\n{}", tail_lines(&text, 30));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs every probe and returns whether each was answered by its destination.
    /// kube-router REJECTs what it denies, so a denial is an immediate "refused";
    /// a time-out is a lost packet (the node is shared and busy), not an answer:
    /// timed-out probes are tried again (twice more, fewer at once and waiting longer) and
    /// only then counted as denied.
    fn probe(&self, probes: &[Probe]) -> Vec<bool> {
        let mut answers: Vec<Option<bool>> = vec![None; probes.len()];
        let mut todo: Vec<usize> = (0..probes.len()).collect();
        for round in 0..3 {
            let (threads, timeout) = [(32, 2), (4, 4), (1, 8)][round];
            let results = self.probe_round(probes, &todo, threads, timeout);
            let mut again = Vec::new();
            for (i, r) in todo.iter().zip(results) {
                match r {
                    Some(a) => answers[*i] = Some(a),
                    None => again.push(*i),
                }
            }
            if again.is_empty() {
                break;
            }
            eprintln!("note: {} probes timed out in round {}; trying them again", again.len(), round + 1);
            todo = again;
        }
        answers.into_iter().map(|a| a.unwrap_or(false)).collect()
    }

    /// One round: one prober per source namespace, all at once (`threads` probes
    /// at a time each, fresh sockets, `timeout` seconds): `Some(answered)`, or `None` on a time-out.
    fn probe_round(&self, probes: &[Probe], todo: &[usize], threads: usize, timeout: u64) -> Vec<Option<bool>> {
        let mut by_source: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (k, &i) in todo.iter().enumerate() {
            by_source.entry(probes[i].0).or_default().push(k);
        }
        let probe = env!("CARGO_BIN_EXE_khc-netprobe");
        let children: Vec<(Vec<usize>, Child)> = by_source
            .into_iter()
            .map(|(src, ks)| {
                let mut child = Command::new("nsenter")
                    .args(["-t", &self.pids[src].to_string(), "-n", probe, "probe", &threads.to_string(), &timeout.to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start a prober");
                let mut input = String::new();
                for &k in &ks {
                    let (_, dst, proto, port) = probes[todo[k]];
                    input.push_str(&format!("{k} {proto} {} {port}\n", self.eps[dst].ip));
                }
                let mut stdin = child.stdin.take().unwrap();
                std::thread::spawn(move || stdin.write_all(input.as_bytes()));
                (ks, child)
            })
            .collect();
        let mut results: Vec<Option<Option<bool>>> = vec![None; todo.len()];
        for (ks, child) in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "a prober failed");
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let (id, result) = line.split_once(' ').unwrap();
                let k: usize = id.parse().unwrap();
                let p = probes[todo[k]];
                let expected = &self.eps[p.1].name;
                results[k] = Some(match result.split_once(' ') {
                    Some(("ok", who)) => {
                        assert_eq!(who, expected, "probe {p:?} was answered by the wrong endpoint");
                        Some(true)
                    }
                    _ if result == "refused" => Some(false),
                    _ if result == "timeout" => None,
                    _ => panic!("probe {p:?} from {}: {result}", self.eps[p.0].name),
                });
            }
            assert!(ks.iter().all(|&k| results[k].is_some()), "a prober left probes unanswered");
        }
        results.into_iter().map(Option::unwrap).collect()
    }

    /// Every probe between the endpoints: each pod to every other endpoint, each
    /// outside address to every pod, on every probed port.
    fn all_probes(&self) -> Vec<Probe> {
        let mut probes = Vec::new();
        for (s, src) in self.eps.iter().enumerate() {
            for (d, dst) in self.eps.iter().enumerate() {
                if s == d || (src.pod.is_none() && dst.pod.is_none()) {
                    continue;
                }
                for &port in &self.tcp {
                    probes.push((s, d, "TCP", port));
                }
                for &port in &self.udp {
                    probes.push((s, d, "UDP", port));
                }
            }
        }
        probes
    }
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The NetworkPolicies of an output (`NS/NAME`), its namespaces, and the pods to
/// create: one per workload (its selector) and one plain pod per tenant namespace,
/// kube-dns in `kube-system`, one pod in each namespace the policies name that khc
/// does not manage (and one with the labels of each pod selector a peer names
/// there, such as the cluster's DNS target), and one in a namespace nobody names.
struct Plan {
    policies: BTreeSet<String>,
    namespaces: Vec<(String, Value)>,
    pods: Vec<(String, String, BTreeMap<String, String>)>,
    hosts: Vec<Ipv4Addr>,
    tcp: BTreeSet<u16>,
    udp: BTreeSet<u16>,
}

fn plan(objects: &[Object]) -> Plan {
    let mut p = Plan {
        policies: BTreeSet::new(),
        namespaces: Vec::new(),
        pods: Vec::new(),
        hosts: vec![METADATA, INTERNET],
        tcp: [53, 80, 443, 6443, 7777].into(),
        udp: [53, 7777].into(),
    };
    let mut managed = BTreeSet::new();
    let mut named = BTreeSet::new();
    let mut selected: BTreeSet<(String, BTreeMap<String, String>)> = BTreeSet::new();
    for o in objects {
        match o.kind() {
            "Namespace" => {
                managed.insert(o.name().to_string());
                p.namespaces.push((o.name().to_string(), o.value.clone()));
            }
            "NetworkPolicy" => {
                p.policies.insert(format!("{}/{}", o.namespace().unwrap(), o.name()));
                let spec = &o.value["spec"];
                // Only the pod selector matters for which pods exist; the peers name
                // namespaces, selectors, blocks and ports to probe.
                for rule in spec["ingress"].as_array().into_iter().chain(spec["egress"].as_array()).flatten() {
                    for port in rule["ports"].as_array().into_iter().flatten() {
                        let proto = port["protocol"].as_str().unwrap_or("TCP");
                        let Some(lo) = port["port"].as_u64() else { continue };
                        let hi = port["endPort"].as_u64().unwrap_or(lo);
                        let set = if proto == "UDP" { &mut p.udp } else { &mut p.tcp };
                        // Both ends of a range and the port just above it (off by one).
                        for q in [lo, hi, (hi + 1).min(65535)] {
                            set.insert(q as u16);
                        }
                    }
                    for peer in rule["from"].as_array().into_iter().chain(rule["to"].as_array()).flatten() {
                        if let Some(b) = peer.get("ipBlock") {
                            // IPv4 only: the pods have no IPv6 addresses.
                            let Some((lo, hi)) = cidr_range(b["cidr"].as_str().unwrap()) else { continue };
                            let except: Vec<(u32, u32)> = b["except"].as_array().into_iter().flatten().filter_map(|e| cidr_range(e.as_str()?)).collect();
                            // An address inside the block (outside its exceptions), and one
                            // inside each exception.
                            let inside = (lo.saturating_add(1).min(hi)..=hi).find(|a| !except.iter().any(|(l, h)| l <= a && a <= h));
                            p.hosts.extend(inside.map(Ipv4Addr::from));
                            p.hosts.extend(except.iter().map(|(l, h)| Ipv4Addr::from(l.saturating_add(1).min(*h))));
                        }
                        for ns in peer["namespaceSelector"]["matchExpressions"].as_array().into_iter().flatten() {
                            named.extend(ns["values"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string));
                        }
                        if let Some(ns) = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str() {
                            named.insert(ns.to_string());
                            // Pods a peer selects by labels in a namespace (the cluster's
                            // DNS target among them): one pod with exactly those labels.
                            if let Some(labels) = peer["podSelector"]["matchLabels"].as_object().filter(|l| !l.is_empty()) {
                                let labels: BTreeMap<String, String> =
                                    labels.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect();
                                selected.insert((ns.to_string(), labels));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let (plo, phi) = cidr_range(POD_RANGE).unwrap();
    let (slo, shi) = cidr_range(SERVICE_RANGE).unwrap();
    p.hosts.retain(|h| {
        let a = u32::from(*h);
        let keep = !(plo..=phi).contains(&a) && !(slo..=shi).contains(&a) && a != 0;
        if !keep {
            eprintln!("note: {h} is in the pod or Service range; not probed");
        }
        keep
    });
    p.hosts.sort();
    p.hosts.dedup();
    for (ns, _) in &p.namespaces {
        p.pods.push((ns.clone(), "plain".into(), BTreeMap::from([("khc-probe".to_string(), "plain".to_string())])));
    }
    for ns in named.iter().filter(|n| !managed.contains(*n) && n.as_str() != "kube-system") {
        p.pods.push((ns.clone(), "plain".into(), BTreeMap::from([("khc-probe".to_string(), "plain".to_string())])));
    }
    let kube_dns = ("kube-system".to_string(), BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]));
    p.pods.push((kube_dns.0.clone(), "kube-dns".into(), kube_dns.1.clone()));
    for (i, (ns, labels)) in selected.into_iter().filter(|s| *s != kube_dns && !managed.contains(&s.0)).enumerate() {
        p.pods.push((ns, format!("selected-{i}"), labels));
    }
    p.pods.push(("khc-outsider".into(), "plain".into(), BTreeMap::from([("khc-probe".to_string(), "plain".to_string())])));
    p
}

/// The workloads' pods of the programs' models (their selectors in their
/// namespaces), and the named container ports of each (`NS/NAME` → ports).
#[allow(clippy::type_complexity)]
fn workload_pods(out: &Output, dir: &Path) -> (Vec<(String, String, BTreeMap<String, String>)>, BTreeMap<String, Vec<NamedPort>>) {
    let _ = out;
    let ws = khc_analysis::Workspace::load(dir).expect("the program loads");
    let mut pods: Vec<_> = ws.workloads().map(|(t, w)| (w.namespace.clone(), format!("{}-{}", t.name, w.name), w.selector.clone())).collect();
    pods.sort();
    pods.dedup();
    let ports = ws
        .workloads()
        .filter(|(_, w)| !w.ports.is_empty())
        .map(|(t, w)| (format!("{}/{}-{}", w.namespace, t.name, w.name), w.ports.iter().map(|p| (p.name.clone(), p.protocol.clone(), p.port)).collect()))
        .collect();
    (pods, ports)
}

/// Applies every unit of a cluster folder with `kubectl apply --server-side -k`
/// (the entry point, if any, then each tenant).
fn apply_units(c: &Cluster, cluster_dir: &Path) {
    let mut units = Vec::new();
    if cluster_dir.join("Kustomization").is_file() {
        units.push(cluster_dir.to_path_buf());
    }
    let mut tenants: Vec<PathBuf> = std::fs::read_dir(cluster_dir.join("tenants")).unwrap().flatten().map(|e| e.path()).collect();
    tenants.sort();
    units.extend(tenants);
    for u in units {
        c.kubectl_ok(&["apply", "--server-side", "--field-manager=khc", "-k", &u.display().to_string()]);
    }
}

/// The mismatches between probes and the evaluator over `objects`.
fn mismatches(dp: &Dataplane, probes: &[Probe], answers: &[bool], net: &Network) -> Vec<String> {
    probes
        .iter()
        .zip(answers)
        .filter_map(|(&(s, d, proto, port), &got)| {
            let want = net.allowed(&dp.eps[s].endpoint(), &dp.eps[d].endpoint(), port, proto);
            (want != got)
                .then(|| format!("{} → {} {port}/{proto}: khc reach says {}, the dataplane {}", dp.eps[s].name, dp.eps[d].name, verdict(want), verdict(got)))
        })
        .collect()
}

fn verdict(allowed: bool) -> &'static str {
    if allowed {
        "allowed"
    } else {
        "denied"
    }
}

/// Sets up a program on a fresh dataplane: bare namespaces and pods first (khc's
/// admission policies judge pods, and these test pods are no real workloads), then
/// every unit applied as the README says, then kube-router. Returns the dataplane
/// and the output's objects.
fn deploy(bin: &Path, out: &Output, cluster_dir: &Path, src: &Path) -> (Dataplane, Vec<Object>) {
    let t0 = Instant::now();
    let objects: Vec<Object> =
        khc_analysis::objects(out).into_iter().filter(|o| o.path.starts_with(&format!("clusters/{}/", cluster_name(cluster_dir)))).collect();
    let mut plan = plan(&objects);
    let (pods, pod_ports) = workload_pods(out, src);
    plan.pods.extend(pods.into_iter().filter(|(ns, _, _)| plan.namespaces.iter().any(|(n, _)| n == ns)));
    // Probe the named ports' numbers (and the port above, off by one).
    for (_, proto, port) in pod_ports.values().flatten() {
        let set = if proto == "UDP" { &mut plan.udp } else { &mut plan.tcp };
        set.insert(*port);
        set.insert(port.saturating_add(1));
    }
    let mut dp = Dataplane::start(bin);
    dp.tcp = plan.tcp.iter().copied().collect();
    dp.udp = plan.udp.iter().copied().collect();
    let mut created = BTreeSet::from(["kube-system".to_string(), "default".to_string()]);
    for (ns, _, _) in &plan.pods {
        if created.insert(ns.clone()) {
            let r = dp.c.request("POST", "/api/v1/namespaces", &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
            assert_eq!(r.status, 201, "namespace {ns}: {}", r.body);
        }
        // No controller manager creates `default`; the ServiceAccount admission plugin needs it.
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}});
        let r = dp.c.request("POST", &format!("/api/v1/namespaces/{ns}/serviceaccounts"), &sa);
        assert!(r.status == 201 || r.status == 409, "the default ServiceAccount of {ns}: {}", r.body);
    }
    for (ns, name, labels) in &plan.pods {
        dp.add_pod(ns, name, labels, pod_ports.get(&format!("{ns}/{name}")).map_or(&[][..], Vec::as_slice));
    }
    for h in &plan.hosts {
        dp.add_host(*h);
    }
    apply_units(&dp.c, cluster_dir);
    let on_server: BTreeSet<String> = list_policies(&dp.c)
        .into_iter()
        .map(|p| format!("{}/{}", p["metadata"]["namespace"].as_str().unwrap(), p["metadata"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(on_server, plan.policies, "the server holds exactly khc's NetworkPolicies");
    dp.start_router(&plan.policies);
    eprintln!(
        "{}: {} pods, {} outside addresses, {} NetworkPolicies, ports TCP {:?} UDP {:?}; ready in {:.1}s",
        cluster_name(cluster_dir),
        plan.pods.len(),
        dp.eps.len() - plan.pods.len(),
        plan.policies.len(),
        dp.tcp,
        dp.udp,
        t0.elapsed().as_secs_f64()
    );
    (dp, objects)
}

fn cluster_name(cluster_dir: &Path) -> String {
    cluster_dir.file_name().unwrap().to_string_lossy().into_owned()
}

fn list_policies(c: &Cluster) -> Vec<Value> {
    let r = c.request("GET", "/apis/networking.k8s.io/v1/networkpolicies", &Value::Null);
    assert_eq!(r.status, 200);
    // A list's items carry no `kind`.
    let mut items = r.body["items"].as_array().cloned().unwrap_or_default();
    for i in &mut items {
        i["kind"] = json!("NetworkPolicy");
        i["apiVersion"] = json!("networking.k8s.io/v1");
    }
    items
}

/// The evaluator over the server's NetworkPolicies and khc's Namespaces: what the
/// engine is asked to enforce.
fn network_of(objects: &[Object], server_policies: &[Value]) -> Network {
    let mut objs: Vec<Object> = objects.iter().filter(|o| o.kind() == "Namespace").cloned().collect();
    objs.extend(server_policies.iter().map(|p| Object { path: String::new(), value: p.clone() }));
    Network::new(&objs)
}

/// The matrix, the negative control, and the report line, for one cluster folder.
fn matrix_agrees(bin: &Path, out: &Output, cluster_dir: &Path, src: &Path) {
    let (mut dp, objects) = deploy(bin, out, cluster_dir, src);
    let intent = Network::new(&objects);
    let probes = dp.all_probes();
    let t0 = Instant::now();
    let answers = dp.probe(&probes);
    let allowed = answers.iter().filter(|a| **a).count();
    let bad = mismatches(&dp, &probes, &answers, &intent);
    eprintln!(
        "{}: {} probes ({allowed} allowed, {} denied) in {:.1}s, {} mismatches",
        cluster_name(cluster_dir),
        probes.len(),
        probes.len() - allowed,
        t0.elapsed().as_secs_f64(),
        bad.len()
    );
    assert!(bad.is_empty(), "khc reach and the real dataplane disagree on {} probes:\n{}", bad.len(), bad.join("\n"));
    assert!(allowed > 0 && allowed < probes.len(), "a matrix that is all one answer proves nothing");

    // Negative control: one of khc's NetworkPolicies altered into an allow-all
    // (same pod selector and policy types, every peer and port) — the one the
    // evaluator says opens the most probes: an engine failing open. The dataplane
    // must now disagree with the intent exactly where the evaluator over the
    // server's (altered) policies says it should. Only probes to or from the
    // policy's namespace can change; those are probed again.
    let altered = |o: &Object| -> Object {
        let mut v = o.value.clone();
        v["spec"]["ingress"] = json!([{}]);
        v["spec"]["egress"] = json!([{}]);
        Object { path: o.path.clone(), value: v }
    };
    let (victim, opened) = objects
        .iter()
        .filter(|o| o.kind() == "NetworkPolicy")
        .map(|p| {
            let with: Vec<Object> = objects.iter().map(|o| if std::ptr::eq(o, p) { altered(o) } else { o.clone() }).collect();
            let with = Network::new(&with);
            let opened = probes
                .iter()
                .filter(|&&(s, d, proto, port)| {
                    let (a, b) = (dp.eps[s].endpoint(), dp.eps[d].endpoint());
                    with.allowed(&a, &b, port, proto) && !intent.allowed(&a, &b, port, proto)
                })
                .count();
            (p, opened)
        })
        .max_by_key(|(_, n)| *n)
        .expect("the program has NetworkPolicies");
    assert!(opened > 0, "no altered NetworkPolicy opens anything: the program isolates nothing");
    let (ns, name) = (victim.namespace().unwrap().to_string(), victim.name().to_string());
    let touched: Vec<Probe> =
        probes.iter().copied().filter(|&(s, d, _, _)| [s, d].iter().any(|&e| dp.eps[e].pod.as_ref().is_some_and(|(n, _, _)| *n == ns))).collect();
    let from = dp.log_len();
    let patch = json!({"spec": {"ingress": [{}], "egress": [{}]}}).to_string();
    dp.c.kubectl_ok(&["patch", "networkpolicy", &name, "-n", &ns, "--type=merge", "-p", &patch]);
    dp.synced(from, &[format!("Received update for network policy: {ns}/{name}")]);
    let answers = dp.probe(&touched);
    let against_intent = mismatches(&dp, &touched, &answers, &intent);
    let against_server = mismatches(&dp, &touched, &answers, &network_of(&objects, &list_policies(&dp.c)));
    eprintln!(
        "{}: negative control ({ns}/{name} altered into an allow-all, {opened} probes predicted to open): of {} probes touching {ns}, {} differ from the intent, {} from the evaluator over the server's policies",
        cluster_name(cluster_dir),
        touched.len(),
        against_intent.len(),
        against_server.len()
    );
    assert_eq!(against_intent.len(), opened, "altering {ns}/{name} must open exactly the probes the evaluator predicts");
    assert!(against_server.is_empty(), "the dataplane disagrees with the evaluator over the server's policies:\n{}", against_server.join("\n"));
}

fn compile_dir(dir: &Path) -> Output {
    let (out, diags) = compile(dir);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    out
}

#[test]
fn multi_tenant_example_on_a_real_dataplane() {
    isolated("multi_tenant_example_on_a_real_dataplane", |bin| {
        let src = repo_root().join("examples/multi-tenant");
        let out = compile_dir(&src);
        let tmp = TempDir::new("dataplane-multi-tenant");
        let cluster_dir = write_output(&out, &tmp.0.join("out"));
        matrix_agrees(bin, &out, &cluster_dir, &src);
    });
}

#[test]
fn multi_cluster_example_on_a_real_dataplane() {
    isolated("multi_cluster_example_on_a_real_dataplane", |bin| {
        let src = repo_root().join("examples/multi-cluster");
        let out = compile_dir(&src);
        let tmp = TempDir::new("dataplane-multi-cluster");
        write_output(&out, &tmp.0.join("out"));
        // The staging cluster (prod's NetworkPolicies are the same tenants'; its
        // differences are admission and quotas, checked by tests/kube_server.rs).
        let cluster_dir = tmp.0.join("out/clusters/staging");
        matrix_agrees(bin, &out, &cluster_dir, &src.join("staging.khc"));
    });
}

#[test]
fn generated_program_on_a_real_dataplane() {
    isolated("generated_program_on_a_real_dataplane", |bin| {
        // The benchmarks' generator: cross-tenant allows both ways, internal allows,
        // CIDR egress with exceptions, `isolation tenant` for every fourth tenant.
        let tmp = TempDir::new("dataplane-generated");
        let src = tmp.0.join("src");
        khc_tests::workspace_gen::Workspace::new(3).write(&src).unwrap();
        let out = compile_dir(&src);
        let cluster_dir = write_output(&out, &tmp.0.join("out"));
        matrix_agrees(bin, &out, &cluster_dir, &src);
    });
}

/// Issue 20 item 5 on real packets: a staged tenant (`isolation ingress`: ingress
/// denied unless allowed, egress open, no DNS rule needed) and one `allow` with
/// several protocols (`ports 53 8125 protocol UDP TCP`), next to a strict tenant.
#[test]
fn staged_isolation_and_protocols_on_a_real_dataplane() {
    isolated("staged_isolation_and_protocols_on_a_real_dataplane", |bin| {
        let tmp = TempDir::new("dataplane-staged");
        let src = tmp.0.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("main.khc"),
            r#"cluster staged {
  kubernetes 1.35
  encryption { provider secretbox { key k1 env "KHC_KEY" } }
}
tenant web {
  isolation ingress
  workload site { selector { app "site" } }
  workload stats { selector { app "stats" } }
  allow ingress from namespace ingress-nginx to workload site ports 8080
  allow ingress from tenant shop workload api to workload stats ports 53 8125 protocol UDP TCP
}
tenant shop {
  workload api { selector { app "api" } }
  allow egress from workload api to tenant web workload stats ports 53 8125 protocol UDP TCP
  allow egress from workload api to tenant web workload site ports 8080
  allow ingress from tenant web to workload api ports 9090
}
"#,
        )
        .unwrap();
        let out = compile_dir(&src);
        let cluster_dir = write_output(&out, &tmp.0.join("out"));
        matrix_agrees(bin, &out, &cluster_dir, &src);
    });
}

/// The cluster's DNS target on real packets (issue 20 item 5): `dns namespace
/// kube-system selector k8s-app "coredns" cidr 169.254.20.10/32` opens port 53
/// to a pod with that label and to NodeLocal DNSCache's link-local address (an
/// address outside the pod range, probed like the metadata endpoint), and no
/// longer to the pod labelled `k8s-app: kube-dns`; and `allow ingress from tenant
/// monitoring workload prometheus to all-tenants ports 9090` lets prometheus (and
/// no other monitoring pod) reach every tenant's pods on 9090 — strict, staged
/// and unisolated ones —, and `allow egress from all-tenants to tenant monitoring
/// workload collector ports 4317` lets every tenant's pods reach the collector;
/// every probe agrees with the evaluator.
#[test]
fn dns_target_on_a_real_dataplane() {
    isolated("dns_target_on_a_real_dataplane", |bin| {
        let tmp = TempDir::new("dataplane-dns");
        let src = tmp.0.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("main.khc"),
            r#"cluster dns {
  kubernetes 1.35
  encryption { provider secretbox { key k1 env "KHC_KEY" } }
  dns namespace kube-system selector k8s-app "coredns" cidr 169.254.20.10/32
  allow ingress from tenant monitoring workload prometheus to all-tenants ports 9090
  allow egress from all-tenants to tenant monitoring workload collector ports 4317
}
tenant monitoring {
  workload prometheus { selector { app "prometheus" } }
  workload grafana { selector { app "grafana" } }
  workload collector { selector { app "collector" } }
}
tenant web {
  workload site { selector { app "site" } }
  allow ingress from tenant shop to workload site ports 8080
}
tenant shop {
  workload api { selector { app "api" } }
  allow egress from workload api to tenant web workload site ports 8080
}
tenant staged {
  isolation ingress
  workload app { selector { app "staged" } }
}
tenant open {
  isolation none
  workload app { selector { app "open" } }
}
"#,
        )
        .unwrap();
        let out = compile_dir(&src);
        let cluster_dir = write_output(&out, &tmp.0.join("out"));
        matrix_agrees(bin, &out, &cluster_dir, &src);
    });
}

/// Named ports on real packets (issue 20 item 5): `ports http` is written `port:
/// http`; kube-router resolves it against the destination pod's named
/// `containerPort`s (the workloads' `port` statements become the test pods'
/// container ports), on ingress (the selected pod) and on egress (the peer), and
/// every probe agrees with the evaluator — including `metrics`, which only the
/// egress side names, and `web/plain`, a pod with no such port.
#[test]
fn named_ports_on_a_real_dataplane() {
    isolated("named_ports_on_a_real_dataplane", |bin| {
        let tmp = TempDir::new("dataplane-named");
        let src = tmp.0.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("main.khc"),
            r#"cluster named {
  kubernetes 1.35
  encryption { provider secretbox { key k1 env "KHC_KEY" } }
}
tenant web {
  isolation ingress
  workload site {
    selector { app "site" }
    port http 8080
    port metrics 9100
    port stats 8125 UDP
  }
  allow ingress from namespace ingress-nginx to workload site ports http
  allow ingress from tenant shop workload api to workload site ports http stats protocol TCP UDP
}
tenant shop {
  workload api { selector { app "api" } }
  allow egress from workload api to tenant web workload site ports http metrics stats protocol TCP UDP
}
"#,
        )
        .unwrap();
        let out = compile_dir(&src);
        let cluster_dir = write_output(&out, &tmp.0.join("out"));
        matrix_agrees(bin, &out, &cluster_dir, &src);
    });
}

/// Guardrails on real packets: a tenant admin's allow-all is refused at admission
/// (and the evaluator agrees it is refused); with `network-policies self-managed`
/// it is admitted and reaches what its tenant's intent closed — but every other
/// tenant stays isolated, probe for probe; a 0.0.0.0/0 egress allow does not
/// reach the metadata endpoint.
#[test]
fn guardrails_on_a_real_dataplane() {
    isolated("guardrails_on_a_real_dataplane", |bin| {
        let tmp = TempDir::new("dataplane-guardrails");
        let src = tmp.0.join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("cluster.khc"), GUARD_PROGRAM).unwrap();
        let out = compile_dir(&src);
        let cluster_dir = write_output(&out, &tmp.0.join("out"));
        let (mut dp, objects) = deploy(bin, &out, &cluster_dir, &src);
        let intent = Network::new(&objects);
        let probes = dp.all_probes();
        let answers = dp.probe(&probes);
        let bad = mismatches(&dp, &probes, &answers, &intent);
        assert!(bad.is_empty(), "the dataplane disagrees with khc reach:\n{}", bad.join("\n"));
        // The 0.0.0.0/0 allow of `closed/web` on port 80 reaches the internet, not
        // the metadata endpoint.
        let idx = |name: &str| dp.eps.iter().position(|e| e.name == name).unwrap_or_else(|| panic!("no endpoint {name}"));
        let (web, meta, internet) = (idx("closed/closed-web"), idx(&METADATA.to_string()), idx(&INTERNET.to_string()));
        let answer = |dp: &Dataplane, s, d, port| dp.probe(&[(s, d, "TCP", port)])[0];
        assert!(answer(&dp, web, internet, 80), "closed/web reaches the internet on 80");
        assert!(!answer(&dp, web, meta, 80), "closed/web must not reach the metadata endpoint through its 0.0.0.0/0 allow");

        // A tenant admin (the built-in `admin` role in its namespace) tries an allow-all.
        let allow_all = |ns: &str| {
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "allow-all", "namespace": ns},
                "spec": {"podSelector": {}, "ingress": [{}], "egress": [{}], "policyTypes": ["Ingress", "Egress"]}})
        };
        for ns in ["closed", "open"] {
            dp.c.kubectl_ok(&["create", "rolebinding", "tenant-admin", "--clusterrole=admin", &format!("--user={ns}-admin"), "-n", ns]);
        }
        let r = dp.c.kubectl_stdin(&["--as", "closed-admin", "create", "-f", "-"], &allow_all("closed").to_string());
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains("khc-network-closed"), "the guard refuses the tenant admin's allow-all: {err}");
        // The evaluator agrees: the guard applies to the namespace and denies.
        let admission = khc_analysis::admission::Admission::new(&objects);
        let ns_labels = intent.labels_of("closed");
        let applicable = admission.applicable("networking.k8s.io", "networkpolicies", &ns_labels);
        let guard = applicable.iter().find(|(p, _)| p.name == "khc-network-closed").expect("the evaluator applies the guard to namespace closed");
        assert!(!guard.0.evaluate(&allow_all("closed"), &guard.1.actions).is_empty(), "the evaluator denies the allow-all too");
        assert!(!applicable.iter().any(|(p, _)| p.name == "khc-network-open"), "no guard for the self-managed tenant");
        assert_eq!(list_policies(&dp.c).len(), objects.iter().filter(|o| o.kind() == "NetworkPolicy").count(), "nothing was added");

        // The self-managed tenant's admin may: its pods then reach what they ask,
        // and every other tenant stays isolated.
        let from = dp.log_len();
        let r = dp.c.kubectl_stdin(&["--as", "open-admin", "create", "-f", "-"], &allow_all("open").to_string());
        assert!(r.status.success(), "the self-managed tenant's admin may add NetworkPolicies: {}", String::from_utf8_lossy(&r.stderr));
        dp.synced(from, &["Received update for network policy: open/allow-all".to_string()]);
        let server = network_of(&objects, &list_policies(&dp.c));
        let answers = dp.probe(&probes);
        let bad = mismatches(&dp, &probes, &answers, &server);
        assert!(bad.is_empty(), "the dataplane disagrees with the evaluator over the server's policies:\n{}", bad.join("\n"));
        let mut opened = 0;
        for (&(s, d, proto, port), &got) in probes.iter().zip(&answers) {
            let (src, dst) = (&dp.eps[s], &dp.eps[d]);
            let in_open = |e: &Ep| e.pod.as_ref().is_some_and(|(ns, _, _)| ns == "open");
            let was = intent.allowed(&src.endpoint(), &dst.endpoint(), port, proto);
            if got != was {
                opened += 1;
                assert!(in_open(src) || in_open(dst), "the allow-all of tenant open changed {} → {} {port}/{proto}", src.name, dst.name);
                // Into another tenant's pod only when that tenant's ingress allows it;
                // out of one only when its egress does (so never: none allows `open`).
                let tenant_pod = |e: &Ep| e.pod.as_ref().is_some_and(|(ns, _, _)| ns == "closed" || ns == "other");
                assert!(!tenant_pod(src) && !tenant_pod(dst), "tenant open's allow-all reached into {} → {} {port}/{proto}", src.name, dst.name);
            }
        }
        assert!(opened > 0, "the allow-all opened nothing: the self-managed check proves nothing");
        eprintln!(
            "guardrails: {} probes twice; allow-all refused for `closed`; for `open` it changed {opened} probes, none into or out of another tenant",
            probes.len()
        );
    });
}

const GUARD_PROGRAM: &str = r#"cluster guard {
  kubernetes 1.37
  managed-by serviceaccount "argocd/argocd-application-controller"
  pod-cidr 100.96.0.0/16
  service-cidr 10.96.0.0/16
}
tenant closed {
  workload web {}
  # The pod and Service ranges excepted (else a `risky` warning: on kube-router an
  # ipBlock matches pod addresses); the metadata endpoint is excepted by khc.
  allow egress from workload web to cidr 0.0.0.0/0 except 100.96.0.0/16 10.96.0.0/16 ports 80
  allow egress from workload web to tenant other workload api ports 8080
}
tenant other {
  workload api {}
  allow ingress from tenant closed workload web to workload api ports 8080
}
tenant open {
  network-policies self-managed
  workload app {}
}
"#;
