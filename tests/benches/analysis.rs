//! Query benchmark: `cargo bench -p khc-tests --bench analysis [-- TENANTS]`.
//!
//! Compiles a generated program (1,000 tenants by default; see
//! `khc_tests::fleet_tenant`), builds the evaluators of `khc-analysis`, and
//! measures what `khc who-can`, `khc can`, `khc reach`, `khc reach --matrix` and
//! `khc eval` (1,000 manifests) spend after compilation. Targets: who-can and
//! reach ≤ 50 ms; the matrix and eval of 1,000 manifests ≤ 2 s each.

use khc_analysis::manifest::Manifest;
use khc_analysis::network::Endpoint;
use khc_analysis::rbac::{Request, Subject};
use khc_analysis::{posture, Workspace};
use khc_db::{build, check, KhcDatabase};
use khc_syntax::FileKey;
use serde_json::json;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CPU time of this thread (Linux `schedstat`), which a loaded machine inflates
/// less than wall time; `None` elsewhere.
fn cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(s.split_whitespace().next()?.parse().ok()?))
}

/// Median wall time of `runs` runs (and, printed by `row`, median CPU time).
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> ((Duration, Option<Duration>), T) {
    let mut times = Vec::new();
    let mut cpus = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu());
        last = Some(f());
        times.push(t.elapsed());
        if let (Some(a), Some(b)) = (c, cpu()) {
            cpus.push(b.saturating_sub(a));
        }
    }
    let cpu = (!cpus.is_empty()).then(|| median(cpus));
    ((median(times), cpu), last.expect("at least one run"))
}

fn row(what: &str, (wall, cpu): (Duration, Option<Duration>), extra: &str) {
    // schedstat is updated at context switches: too coarse below a millisecond.
    let cpu = cpu.filter(|c| *c >= Duration::from_millis(1)).map_or("-".to_string(), |c| format!("{c:.2?}"));
    println!("{what:<48} {wall:>12.2?} {cpu:>12} {extra}");
}

fn manifest(i: usize, n: usize) -> Manifest {
    let t = i % n;
    let bad = i.is_multiple_of(10);
    let image = if bad { "busybox:latest".to_string() } else { format!("registry.example.com/t{t}/api:1.0.{i}") };
    let value = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": format!("app-{i}"), "namespace": format!("t{t}")},
        "spec": {"selector": {"matchLabels": {"app": format!("api-{t}")}}, "template": {
            "metadata": {"labels": {"app": format!("api-{t}")}},
            "spec": {
                "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "api", "image": image,
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                    "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}
                }]
            }
        }}
    });
    Manifest { file: "bench.yaml".into(), line: 1 + i as u32 * 20, value, document: i as u32 + 1, item: None, text: None, end_line: None }
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let mut db = KhcDatabase::new("");
    let entry = db.set_text(&FileKey::from("main.khc"), khc_tests::fleet_entry(n));
    for i in 0..n {
        db.set_text(&FileKey::from(format!("t{i}.khc").as_str()), khc_tests::fleet_tenant(i, n, 0));
    }
    let (compile, (out, model)) = time(1, || (build(&db, entry).clone().expect("benchmark program compiles"), check(&db, entry).model.clone().expect("model")));
    let (index, ws) = time(1, || Workspace::new(vec![model.clone()], &out));
    println!("{n} tenants, {} files, {} objects, {} workloads", out.files.len(), ws.objects.len(), ws.workloads().count());
    println!("{:<48} {:>12} {:>12}", "step", "wall", "cpu (thread)");
    row("compile (parse, check, emit)", compile, "");
    row("load evaluators (parse YAML on all cores, index, CEL)", index, "(cpu: this thread only)");

    let mid = n / 2;
    let ns = format!("t{mid}-jobs");
    let (d, answers) = time(21, || ws.rbac.who_can(&Request::new("create", "deployments.apps", Some(&ns), None)));
    assert_eq!(answers.len(), 2);
    row("who-can create deployments.apps -n (1 ns)", d, "");
    let (d, answers) = time(21, || ws.rbac.who_can(&Request::new("get", "secrets", None, None)));
    row("who-can get secrets (cluster-wide)", d, &format!("({} answers)", answers.len()));
    let (d, all) = time(3, || {
        let mut count = 0;
        for t in ws.tenants() {
            for ns in &t.namespaces {
                count += ws.rbac.who_can(&Request::new("create", "jobs.batch", Some(ns), None)).len();
            }
        }
        count
    });
    row("who-can create jobs.batch -A", d, &format!("({all} answers, {} namespaces)", 2 * n));
    let (d, _) = time(21, || ws.rbac.explain(&Subject::group(&format!("t{mid}-devs")), &Request::new("get", "secrets", Some(&format!("t{mid}")), None)));
    row("can group:tN-devs get secrets (with escalations)", d, "");

    let src = format!("t{mid}/api");
    let dst = format!("t{}/api", (mid + 1) % n);
    let (d, allowed) = time(21, || {
        let a = ws.endpoint(&src).unwrap();
        let b = ws.endpoint(&dst).unwrap();
        ws.network.decide(&a.endpoint, &b.endpoint).allows(8080, "TCP")
    });
    assert!(allowed);
    row("reach tN/api tN+1/api --port 8080", d, "");
    let (d, _) = time(21, || {
        let a = ws.endpoint(&format!("t{mid}/worker")).unwrap();
        ws.network.decide(&a.endpoint, &Endpoint::parse_net("10.3.2.1").unwrap()).allows(5432, "TCP")
    });
    row("reach tN/worker 10.x.2.1 --port 5432", d, "");
    let (d, m) = time(3, || posture::matrix(&ws));
    let w = ws.workloads().count();
    row("reach --matrix", d, &format!("({} of {} pairs connect)", m.len(), w * (w - 1)));
    assert_eq!(m.len(), n);

    let manifests: Vec<Manifest> = (0..1000).map(|i| manifest(i, n)).collect();
    let (d, findings) = time(3, || khc_analysis::eval::evaluate_all(&ws, &manifests, "default"));
    let denied =
        findings.iter().filter(|f| f.severity == khc_analysis::eval::Severity::Deny).map(|f| f.location.clone()).collect::<std::collections::BTreeSet<_>>();
    row("eval 1,000 Deployments", d, &format!("({} denied)", denied.len()));
    assert_eq!(denied.len(), 100);
    let (d, _) = time(3, || posture::blast_radius(&ws, ws.workload(&src).unwrap().0, ws.workload(&src).unwrap().1));
    row("blast-radius tN/api", d, "");

    whole_process(n, &manifests);
}

/// With a release `khc` built (`cargo build --release -p khc`), the same
/// questions as whole processes (compile + load + answer) on the program
/// written to a temporary folder.
fn whole_process(n: usize, manifests: &[Manifest]) {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/khc");
    if !bin.exists() {
        println!("(whole-process figures skipped: build target/release/khc first)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("khc-bench-analysis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("main.khc"), khc_tests::fleet_entry(n)).expect("write");
    for i in 0..n {
        std::fs::write(dir.join(format!("t{i}.khc")), khc_tests::fleet_tenant(i, n, 0)).expect("write");
    }
    let docs: Vec<String> = manifests.iter().map(|m| serde_yaml_ng::to_string(&m.value).expect("yaml")).collect();
    std::fs::write(dir.join("apps.yaml"), docs.join("---\n")).expect("write");
    let p = dir.to_str().expect("utf-8 path");
    let apps = dir.join("apps.yaml");
    let runs: [(&str, Vec<&str>); 5] = [
        ("khc check (whole process)", vec!["check", p]),
        ("khc who-can create deployments.apps -n t5", vec!["who-can", "create", "deployments.apps", "-n", "t5", "-p", p]),
        ("khc reach t5/api t6/api --port 8080", vec!["reach", "t5/api", "t6/api", "--port", "8080", "-p", p]),
        ("khc reach --matrix", vec!["reach", "--matrix", "-p", p]),
        ("khc eval apps.yaml (1,000 Deployments)", vec!["eval", apps.to_str().expect("utf-8"), "-p", p]),
    ];
    for (what, args) in runs {
        let (d, o) = time(3, || std::process::Command::new(&bin).args(&args).output().expect("run khc"));
        assert!(matches!(o.status.code(), Some(0 | 1)), "{what}: {}", String::from_utf8_lossy(&o.stderr));
        row(what, (d.0, None), &String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("").chars().take(60).collect::<String>());
    }
    std::fs::remove_dir_all(&dir).ok();
}
