//! Whole-process fleet benchmark: `cargo bench -p khc-tests --bench fleet`.
//!
//! Generates workspaces of N tenants (default 100, 1,000 and 5,000; one file each, the
//! same generator as the corpus tests) on tmpfs (`/dev/shm`, or `KHC_BENCH_DIR`) and
//! measures, with the release `khc` binary (built if missing; or `KHC_BIN`):
//!
//! * **build cost**: cold `khc build` into an empty folder versus `tar -x` of the same
//!   tree into an empty folder, interleaved in the same run (issues 12 and 24: khc ≤
//!   1.5× tar, not growing with the fleet);
//! * **kustomize**: `kubectl kustomize` of the cluster entry point (plain and with
//!   `--gitops argocd`) and of every tenant unit (issue 12: entry point ≤ 30 s and each
//!   unit ≤ 0.5 s at 1,000 tenants; the sum over units linear in tenants), for the
//!   sizes up to 1,000 (a process per unit: 5,000 would take half an hour).
//!
//! * **peak memory**: the peak RSS of each cold `khc build` (from `wait4`), against
//!   the bytes of the tree it wrote (issue 12: ≤ 2×);
//! * **check scaling**: `khc check` of `--check-sizes` (default 1,000 and 5,000)
//!   tenants, interleaved, as time per tenant (issue 12: the larger within 1.1× of
//!   the smaller).
//!
//! * **questions** (issue 24): every question command as a whole process (compile,
//!   load the evaluators, answer) against `khc check` of the same fleet, CPU time and
//!   peak RSS, medians of `--question-runs` (default 3) interleaved rounds at
//!   `--question-sizes` (default 1,000 and 5,000): `who-can` (one namespace and `-A`), `can`,
//!   `reach`, `reach --matrix`, `blast-radius`, `eval` of one Deployment per tenant,
//!   `report`, and `diff` of two versions differing in one tenant (against `khc
//!   check` of both; also `diff --against HEAD` in a git repository of the fleet
//!   with that tenant changed in the work tree), and `who-can get secrets` (`-n t5` and `-A`) on the fleet with
//!   every tenant granting `admin` to its admins (issue 18: the multi-step
//!   escalation search from each of them), and `graph --format html`
//!   (`--no-question-graph` leaves it out). Targets: CPU and peak RSS within 2× of `khc check` (`diff`: of checking
//!   both versions; `graph`: 5×).
//!
//! Options (after `--`): `--sizes 100,1000,5000` (`none` skips the build cost),
//! `--runs 7` (build cost runs per size), `--no-kustomize`, `--check-sizes
//! 1000,5000` (`--check-sizes none` skips it), `--question-sizes 1000,5000`
//! (`none` skips them), `--question-runs 3`, `--questions diff,reach` (only the
//! question commands starting so, besides both `check`s), `--no-question-graph`.
//! The defaults are what issue 24's "done when" asks for: every figure at 1,000 and
//! 5,000 tenants (about 15 minutes on an idle 2-core machine). Prints medians and ratios. `--write-workspaces DIR` only writes the
//! workspace of each size to `DIR/ws-N` (for profiling, e.g. with massif) and exits.

use khc_tests::{fleet_entry, fleet_tenant};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(cmd: &mut Command) -> Duration {
    run_cpu(cmd).0
}

/// CPU time (user + system) used by finished child processes so far.
#[cfg(unix)]
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(u.ru_utime) + tv(u.ru_stime)
}

#[cfg(not(unix))]
fn children_cpu() -> Duration {
    Duration::ZERO
}

/// Wall time, CPU time (user + system) and peak resident memory (bytes) of a
/// command, from `wait4`.
#[cfg(unix)]
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also reports its rusage
fn run_rss(cmd: &mut Command) -> (Duration, Duration, u64) {
    use std::os::unix::process::ExitStatusExt;
    let t = Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut status = 0;
    // SAFETY: wait4 on our own child; it writes only into `status` and `u`.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut u) };
    let d = t.elapsed();
    assert!(pid > 0 && std::process::ExitStatus::from_raw(status).success(), "{cmd:?} failed");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (d, tv(u.ru_utime) + tv(u.ru_stime), u.ru_maxrss as u64 * 1024)
}

#[cfg(not(unix))]
fn run_rss(cmd: &mut Command) -> (Duration, Duration, u64) {
    let (d, c) = run_cpu(cmd);
    (d, c, 0)
}

/// Wall time and CPU time (user + system) of a command. On a shared, loaded machine
/// the CPU time is the steadier figure; both are reported.
fn run_cpu(cmd: &mut Command) -> (Duration, Duration) {
    let cpu = children_cpu();
    let t = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let d = t.elapsed();
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    (d, children_cpu().saturating_sub(cpu))
}

fn khc_binary() -> PathBuf {
    if let Some(b) = std::env::var_os("KHC_BIN") {
        return b.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo).args(["build", "--release", "-q", "-p", "khc"]).current_dir(&root));
    target.join("release/khc")
}

fn write_workspace(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("main.khc"), fleet_entry(n)).unwrap();
    for i in 0..n {
        std::fs::write(dir.join(format!("t{i}.khc")), fleet_tenant(i, n, 0)).unwrap();
    }
}

fn fresh(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = vec![100, 1000, 5000];
    let mut check_sizes = vec![1000, 5000];
    let mut runs = 7;
    let (mut question_sizes, mut question_runs, mut question_graph) = (vec![1000, 5000], 3, true);
    let mut questions: Option<Vec<String>> = None;
    let mut kustomize = Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success());
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--sizes" => {
                sizes = if args[i + 1] == "none" { Vec::new() } else { args[i + 1].split(',').map(|s| s.parse().expect("size")).collect() };
                i += 1;
            }
            "--runs" => {
                runs = args[i + 1].parse().expect("runs");
                i += 1;
            }
            "--no-kustomize" => kustomize = false,
            "--question-sizes" => {
                question_sizes = if args[i + 1] == "none" { Vec::new() } else { args[i + 1].split(',').map(|s| s.parse().expect("size")).collect() };
                i += 1;
            }
            "--question-runs" => {
                question_runs = args[i + 1].parse().expect("runs");
                i += 1;
            }
            "--questions" => {
                questions = Some(args[i + 1].split(',').map(str::to_string).collect());
                i += 1;
            }
            "--question-graph" => question_graph = true,
            "--no-question-graph" => question_graph = false,
            "--write-workspaces" => {
                let dir = PathBuf::from(&args[i + 1]);
                for &n in &sizes {
                    write_workspace(&dir.join(format!("ws-{n}")), n);
                }
                println!("wrote workspaces of {sizes:?} tenants under {}", dir.display());
                return;
            }
            "--check-sizes" => {
                check_sizes = if args[i + 1] == "none" { Vec::new() } else { args[i + 1].split(',').map(|s| s.parse().expect("size")).collect() };
                i += 1;
            }
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    let khc = khc_binary();
    let base =
        std::env::var_os("KHC_BENCH_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/dev/shm")).join(format!("khc-fleet-{}", std::process::id()));
    fresh(&base);
    println!("khc {}; outputs under {}", khc.display(), base.display());

    println!("\nbuild cost (cold `khc build` vs `tar -x` of the same tree, medians of {runs} interleaved runs)");
    println!(
        "{:>8} {:>8} {:>10} {:>12} {:>12} {:>10} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "tenants", "files", "MB", "khc build", "tar -x", "khc/tar", "khc cpu", "tar cpu", "cpu ratio", "peak RSS", "RSS/bytes"
    );
    let mut kustomize_rows = Vec::new();
    for &n in &sizes {
        let ws = base.join(format!("ws-{n}"));
        write_workspace(&ws, n);
        let out = base.join(format!("out-{n}"));
        let tar = base.join(format!("tree-{n}.tar"));
        let untar = base.join(format!("untar-{n}"));
        // One build to make the tarball (and warm the page cache for the binary).
        fresh(&out);
        run(Command::new(&khc).arg("build").arg(&ws).arg("-o").arg(&out));
        run(Command::new("tar").arg("-cf").arg(&tar).arg("-C").arg(&out).arg("."));
        let (mut khc_t, mut tar_t, mut khc_c, mut tar_c, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            fresh(&out);
            let (wall, cpu, peak) = run_rss(Command::new(&khc).arg("build").arg(&ws).arg("-o").arg(&out));
            khc_t.push(wall);
            khc_c.push(cpu);
            rss.push(peak);
            fresh(&untar);
            std::fs::create_dir_all(&untar).unwrap();
            let (wall, cpu) = run_cpu(Command::new("tar").arg("-xf").arg(&tar).arg("-C").arg(&untar));
            tar_t.push(wall);
            tar_c.push(cpu);
        }
        let files = walk_count(&out);
        let bytes = walk_bytes(&out);
        let mb = bytes as f64 / 1e6;
        let (k, t, kc, tc) = (median(khc_t), median(tar_t), median(khc_c), median(tar_c));
        rss.sort();
        let peak = rss[rss.len() / 2];
        println!(
            "{n:>8} {files:>8} {mb:>10.1} {k:>12.2?} {t:>12.2?} {:>10.2} {kc:>12.2?} {tc:>12.2?} {:>10.2} {:>9.1}M {:>10.2}",
            k.as_secs_f64() / t.as_secs_f64(),
            kc.as_secs_f64() / tc.as_secs_f64().max(1e-9),
            peak as f64 / 1e6,
            peak as f64 / bytes as f64
        );
        fresh(&untar);

        if kustomize && n <= 1000 {
            let cluster = out.join("clusters/bench");
            let entry = run(Command::new("kubectl").arg("kustomize").arg(&cluster));
            let gitops_out = base.join(format!("gitops-{n}"));
            fresh(&gitops_out);
            run(Command::new(&khc).arg("build").arg(&ws).arg("-o").arg(&gitops_out).args([
                "--gitops",
                "argocd",
                "--gitops-repo",
                "https://git.example.com/fleet.git",
            ]));
            let gitops_entry = run(Command::new("kubectl").arg("kustomize").arg(gitops_out.join("clusters/bench")));
            fresh(&gitops_out);
            let mut units = Vec::new();
            for i in 0..n {
                units.push(run(Command::new("kubectl").arg("kustomize").arg(cluster.join(format!("tenants/t{i}")))));
            }
            let sum: Duration = units.iter().sum();
            let max = *units.iter().max().unwrap();
            units.sort();
            let p95 = units[units.len() * 95 / 100];
            kustomize_rows.push((n, entry, gitops_entry, median(units), p95, max, sum));
        }
        fresh(&out);
        fresh(&tar);
        fresh(&ws);
    }
    if !check_sizes.is_empty() {
        check_scaling(&khc, &base, &check_sizes, runs);
    }
    if !kustomize_rows.is_empty() {
        println!("\n`kubectl kustomize` (entry point: cluster unit; gitops entry: --gitops argocd; units: every tenant)");
        println!(
            "{:>8} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>14}",
            "tenants", "entry", "gitops entry", "unit median", "unit p95", "unit max", "sum units", "sum/tenant"
        );
        for (n, entry, g, med, p95, max, sum) in kustomize_rows {
            println!("{n:>8} {entry:>12.2?} {g:>12.2?} {med:>12.2?} {p95:>12.2?} {max:>12.2?} {sum:>12.2?} {:>14.2?}", sum / n as u32);
        }
    }
    for &n in &question_sizes {
        question_costs(&khc, &base, n, question_runs, question_graph, questions.as_deref());
    }
    fresh(&base);
}

/// Runs a command to its end, whatever its exit code (a question may answer
/// *no* with exit 1; 2 and above are failures): wall time, CPU time, peak RSS.
#[cfg(unix)]
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which also reports its rusage
fn run_answer(cmd: &mut Command) -> (Duration, Duration, u64) {
    let t = Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut status = 0;
    // SAFETY: wait4 on our own child; it writes only into `status` and `u`.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut u) };
    let d = t.elapsed();
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) <= 1, "{cmd:?} failed (status {status})");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (d, tv(u.ru_utime) + tv(u.ru_stime), u.ru_maxrss as u64 * 1024)
}

#[cfg(not(unix))]
fn run_answer(cmd: &mut Command) -> (Duration, Duration, u64) {
    let t = Instant::now();
    let _ = cmd.output();
    (t.elapsed(), Duration::ZERO, 0)
}

/// Issue 24: every question command, whole-process, against `khc check` of the
/// same `n`-tenant fleet (CPU and peak RSS, medians of `runs` interleaved rounds).
fn question_costs(khc: &Path, base: &Path, n: usize, runs: usize, graph: bool, only: Option<&[String]>) {
    let ws = base.join(format!("q-{n}"));
    write_workspace(&ws, n);
    // The second version for `diff`: tenant t1 changes a port and its quota.
    let ws2 = base.join(format!("q-{n}-new"));
    write_workspace(&ws2, n);
    std::fs::write(ws2.join("t1.khc"), fleet_tenant(1, n, 1)).unwrap();
    // The third version for the escalation search (issue 18): every tenant also
    // grants the built-in `admin` to its admins, whose `edit` part may impersonate
    // the tenant's ServiceAccounts and mint their tokens (a multi-step search from
    // each of the n groups).
    // The same change as a git repository (`diff --against HEAD`): the fleet
    // committed, t1 changed in the work tree.
    let ws_git = base.join(format!("q-{n}-git"));
    write_workspace(&ws_git, n);
    for args in [&["init", "-q"][..], &["add", "-A"], &["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "fleet"]] {
        let o = Command::new("git").args(args).current_dir(&ws_git).output().expect("git");
        assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    std::fs::write(ws_git.join("t1.khc"), fleet_tenant(1, n, 1)).unwrap();
    let ws3 = base.join(format!("q-{n}-admins"));
    write_workspace(&ws3, n);
    for i in 0..n {
        let t = fleet_tenant(i, n, 0);
        let t = t.trim_end().strip_suffix('}').expect("a tenant block").to_string() + &format!("  grant admin to group \"t{i}-admins\"\n}}\n");
        std::fs::write(ws3.join(format!("t{i}.khc")), t).unwrap();
    }
    let mut apps = String::new();
    for i in 0..n {
        apps.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: t{i}\nspec:\n  selector:\n    matchLabels: {{app: api-{i}}}\n  template:\n    metadata:\n      labels: {{app: api-{i}}}\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/t{i}/app:1\n"
        ));
    }
    let apps_file = base.join(format!("apps-{n}.yaml"));
    std::fs::write(&apps_file, apps).unwrap();
    let p = ws.to_str().expect("UTF-8 path");
    let p2 = ws2.to_str().expect("UTF-8 path");
    let p3 = ws3.to_str().expect("UTF-8 path");
    let pg = ws_git.to_str().expect("UTF-8 path");
    let a = apps_file.to_str().expect("UTF-8 path");
    let mut cases: Vec<(&str, Vec<&str>)> = vec![
        ("check", vec!["check", p]),
        ("who-can create deployments.apps -n t5", vec!["who-can", "create", "deployments.apps", "-n", "t5", "-p", p]),
        ("who-can create pods -A", vec!["who-can", "create", "pods", "-A", "-p", p]),
        ("can group:t5-devs create deployments.apps -n t5", vec!["can", "group:t5-devs", "create", "deployments.apps", "-n", "t5", "-p", p]),
        ("reach t5/api t6/api --port 8080", vec!["reach", "t5/api", "t6/api", "--port", "8080", "-p", p]),
        ("reach --matrix", vec!["reach", "--matrix", "-p", p]),
        ("blast-radius t5/api", vec!["blast-radius", "t5/api", "-p", p]),
        ("eval (one Deployment per tenant)", vec!["eval", a, "-p", p]),
        ("report", vec!["report", "-p", p]),
        ("check (the new version)", vec!["check", p2]),
        ("diff (one tenant changed)", vec!["diff", p, p2]),
        // The path before issue 24 item 2: two full compiles, the whole posture of each.
        ("diff (one tenant changed; KHC_DIFF_FULL=1)", vec!["diff", p, p2]),
        // The revision read from git, only the changed file's blob (issue 24 item 2).
        ("diff --against HEAD (one tenant changed)", vec!["diff", "--against", "HEAD", pg]),
    ];
    // Issue 18: the multi-step escalation search, from every tenant's admins.
    cases.push(("who-can get secrets -n t5 (tenant admins)", vec!["who-can", "get", "secrets", "-n", "t5", "-p", p3]));
    cases.push(("who-can get secrets -A (tenant admins)", vec!["who-can", "get", "secrets", "-A", "-p", p3]));
    if graph {
        cases.push(("graph --format html", vec!["graph", "--format", "html", "-p", p]));
    }
    // `--questions a,b`: only the commands whose name starts with one of them
    // (both `check`s are always measured: the ratios are to them).
    if let Some(only) = only {
        cases.retain(|(what, _)| what.starts_with("check") || only.iter().any(|o| what.starts_with(o.as_str())));
    }
    let mut cpu: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    let mut rss: Vec<Vec<u64>> = vec![Vec::new(); cases.len()];
    for _ in 0..runs {
        for (i, (what, args)) in cases.iter().enumerate() {
            let mut cmd = Command::new(khc);
            cmd.args(args);
            if what.contains("KHC_DIFF_FULL=1") {
                cmd.env("KHC_DIFF_FULL", "1");
            }
            let (_, c, r) = run_answer(&mut cmd);
            cpu[i].push(c);
            rss[i].push(r);
        }
    }
    let med_rss = |v: &mut Vec<u64>| {
        v.sort();
        v[v.len() / 2]
    };
    let meds: Vec<(Duration, u64)> = cpu.into_iter().zip(rss.iter_mut()).map(|(c, r)| (median(c), med_rss(r))).collect();
    let (check_cpu, check_rss) = meds[0];
    let new_check = cases.iter().position(|(what, _)| *what == "check (the new version)").expect("measured");
    let both_cpu = meds[0].0 + meds[new_check].0;
    println!("\nquestions at {n} tenants, whole process (medians of {runs} interleaved rounds; ratios to `khc check`, `diff`'s to checking both versions)");
    println!("{:<50} {:>10} {:>8} {:>10} {:>8}", "command", "cpu", "×check", "peak RSS", "×check");
    for ((what, _), (c, r)) in cases.iter().zip(&meds) {
        let against = if what.starts_with("diff") { both_cpu } else { check_cpu };
        println!(
            "{what:<50} {:>9.2}s {:>8.2} {:>8.0}MB {:>8.2}",
            c.as_secs_f64(),
            c.as_secs_f64() / against.as_secs_f64(),
            *r as f64 / 1e6,
            *r as f64 / check_rss as f64
        );
    }
    fresh(&ws);
    fresh(&ws2);
    fresh(&ws_git);
}

/// `khc check` of each size, interleaved: median wall and CPU time per tenant,
/// and each size's per-tenant CPU time relative to the smallest.
fn check_scaling(khc: &Path, base: &Path, sizes: &[usize], runs: usize) {
    println!("\n`khc check` scaling (medians of {runs} interleaved runs)");
    println!("{:>8} {:>12} {:>12} {:>14} {:>14} {:>12}", "tenants", "wall", "cpu", "wall/tenant", "cpu/tenant", "cpu/t ratio");
    let dirs: Vec<PathBuf> = sizes
        .iter()
        .map(|&n| {
            let ws = base.join(format!("check-{n}"));
            write_workspace(&ws, n);
            ws
        })
        .collect();
    let mut times: Vec<(Vec<Duration>, Vec<Duration>)> = vec![(Vec::new(), Vec::new()); sizes.len()];
    for _ in 0..runs {
        for (i, ws) in dirs.iter().enumerate() {
            let (wall, cpu) = run_cpu(Command::new(khc).arg("check").arg(ws));
            times[i].0.push(wall);
            times[i].1.push(cpu);
        }
    }
    let mut first = None;
    for ((n, (wall, cpu)), ws) in sizes.iter().zip(times).zip(&dirs) {
        let (w, c) = (median(wall), median(cpu));
        let per = c.as_secs_f64() / *n as f64;
        let base_per = *first.get_or_insert(per);
        println!("{n:>8} {w:>12.2?} {c:>12.2?} {:>12.1}µs {:>12.1}µs {:>12.2}", w.as_secs_f64() / *n as f64 * 1e6, per * 1e6, per / base_per);
        fresh(ws);
    }
}

fn walk_bytes(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        n += if m.is_dir() { walk_bytes(&p) } else { m.len() };
    }
    n
}

fn walk_count(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += walk_count(&p);
        } else {
            n += 1;
        }
    }
    n
}
