//! Query benchmark: `cargo bench -p khc-tests --bench analysis [-- TENANTS]`.
//!
//! Compiles a generated program (1,000 tenants by default; see
//! `khc_tests::bench_tenant`), builds the evaluators of `khc-analysis`, and
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

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    (median(times), last.expect("at least one run"))
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
    Manifest { file: "bench.yaml".into(), line: 1 + i as u32 * 20, value }
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let mut db = KhcDatabase::new("");
    let entry = db.set_text(&FileKey::from("main.khc"), khc_tests::bench_entry(n));
    for i in 0..n {
        db.set_text(&FileKey::from(format!("t{i}.khc").as_str()), khc_tests::bench_tenant(i, n, 0));
    }
    let t = Instant::now();
    let out = build(&db, entry).clone().expect("benchmark program compiles");
    let model = check(&db, entry).model.clone().expect("model");
    let compile = t.elapsed();
    let t = Instant::now();
    let ws = Workspace::new(vec![model], &out);
    let index = t.elapsed();
    println!("{n} tenants, {} files, {} objects, {} workloads", out.files.len(), ws.objects.len(), ws.workloads().count());
    println!("{:<44} {:>12.2?}", "compile (parse, check, emit)", compile);
    println!("{:<44} {:>12.2?}", "load evaluators (parse YAML, index, CEL)", index);

    let mid = n / 2;
    let ns = format!("t{mid}-jobs");
    let (d, answers) = time(21, || ws.rbac.who_can(&Request::new("create", "deployments.apps", Some(&ns), None)));
    assert_eq!(answers.len(), 2);
    println!("{:<44} {:>12.2?}", "who-can create deployments.apps -n (1 ns)", d);
    let (d, answers) = time(21, || ws.rbac.who_can(&Request::new("get", "secrets", None, None)));
    println!("{:<44} {:>12.2?}   ({} answers)", "who-can get secrets (cluster-wide)", d, answers.len());
    let (d, all) = time(3, || {
        let mut count = 0;
        for t in ws.tenants() {
            for ns in &t.namespaces {
                count += ws.rbac.who_can(&Request::new("create", "jobs.batch", Some(ns), None)).len();
            }
        }
        count
    });
    println!("{:<44} {:>12.2?}   ({all} answers, {} namespaces)", "who-can create jobs.batch -A", d, 2 * n);
    let (d, _) = time(21, || ws.rbac.explain(&Subject::group(&format!("t{mid}-devs")), &Request::new("get", "secrets", Some(&format!("t{mid}")), None)));
    println!("{:<44} {:>12.2?}", "can group:tN-devs get secrets (with escalations)", d);

    let src = format!("t{mid}/api");
    let dst = format!("t{}/api", (mid + 1) % n);
    let (d, allowed) = time(21, || {
        let a = ws.endpoint(&src).unwrap();
        let b = ws.endpoint(&dst).unwrap();
        ws.network.decide(&a.endpoint, &b.endpoint).allows(8080, "TCP")
    });
    assert!(allowed);
    println!("{:<44} {:>12.2?}", "reach tN/api tN+1/api --port 8080", d);
    let (d, _) = time(21, || {
        let a = ws.endpoint(&format!("t{mid}/worker")).unwrap();
        ws.network.decide(&a.endpoint, &Endpoint::parse_net("10.3.2.1").unwrap()).allows(5432, "TCP")
    });
    println!("{:<44} {:>12.2?}", "reach tN/worker 10.x.2.1 --port 5432", d);
    let (d, m) = time(3, || posture::matrix(&ws));
    let w = ws.workloads().count();
    println!("{:<44} {:>12.2?}   ({} of {} pairs connect)", "reach --matrix", d, m.len(), w * (w - 1));
    assert_eq!(m.len(), n);

    let manifests: Vec<Manifest> = (0..1000).map(|i| manifest(i, n)).collect();
    let (d, findings) = time(3, || khc_analysis::eval::evaluate_all(&ws, &manifests, "default"));
    let denied =
        findings.iter().filter(|f| f.severity == khc_analysis::eval::Severity::Deny).map(|f| f.location.clone()).collect::<std::collections::BTreeSet<_>>();
    println!("{:<44} {:>12.2?}   ({} denied)", "eval 1,000 Deployments", d, denied.len());
    assert_eq!(denied.len(), 100);
    let (d, _) = time(3, || posture::blast_radius(&ws, ws.workload(&src).unwrap().0, ws.workload(&src).unwrap().1));
    println!("{:<44} {:>12.2?}", "blast-radius tN/api", d);
}
