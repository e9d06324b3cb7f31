//! Cold whole-process `khc check` and `khc build` timings:
//! `cargo bench -p khc-tests --bench cli [-- OPTIONS]`.
//!
//! Writes a generated workspace (`khc_tests::workspace_gen`) to tmpfs (`/dev/shm`
//! when present) and runs the `khc` binary on it 5 times per command: `check DIR`,
//! `build DIR -o OUT` into a fresh output folder each time (every file written),
//! and `build` again into the same folder (nothing changes on disk). Prints the
//! median, minimum and maximum wall time, the median CPU time (user + system; on
//! a shared machine the steadier number) and the number of files written.
//!
//! Options: `--quick` (or `KHC_BENCH_QUICK=1`): 100 tenants (default 1000);
//! `--sizes 1000,2000`; `--flat` puts tenant files next to `cluster.khc`.
//! `KHC_BIN=path/to/khc` measures that binary instead of building one.

mod common;

use common::{children_cpu_time, ms, percentile, Options, Scratch};
use khc_tests::workspace_gen::{Layout, Workspace};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

/// Runs khc: (wall time, CPU time (user + system) if known, output).
fn timed(khc: &Path, args: &[&str], cwd: &Path) -> (Duration, Option<Duration>, Output) {
    let cpu0 = children_cpu_time();
    let t = Instant::now();
    let out = Command::new(khc).args(args).current_dir(cwd).env("NO_COLOR", "1").output().expect("run khc");
    let wall = t.elapsed();
    (wall, cpu0.zip(children_cpu_time()).map(|(a, b)| b.saturating_sub(a)), out)
}

fn main() {
    let opts = Options::parse(&[1000], &[100]);
    let layout = if opts.has("--flat") { Layout::Flat } else { Layout::Nested };
    let khc = common::khc_binary();
    println!("{}", common::machine_load());
    let scratch = Scratch::new("cli");
    println!("khc cold whole-process timings: {} ({RUNS} runs each; ms)", khc.display());
    println!("{:>7} {:<22} {:>9} {:>9} {:>9} {:>9} {:>7}  result", "tenants", "command", "median", "min", "max", "cpu-med", "files");
    for &n in &opts.sizes {
        let ws = Workspace::new(n).with_layout(layout);
        let root = scratch.0.join(format!("ws-{n}"));
        ws.write(&root).expect("write workspace");
        let out = scratch.0.join(format!("out-{n}"));
        let out_s = out.to_str().expect("UTF-8 path").to_string();
        type Prepare<'a> = &'a dyn Fn();
        let fresh = || {
            let _ = std::fs::remove_dir_all(&out);
        };
        let keep = || {};
        let cases: [(&str, Vec<&str>, Prepare); 3] = [
            ("check", vec!["check", "."], &keep),
            ("build (fresh output)", vec!["build", ".", "-o", &out_s], &fresh),
            ("build (unchanged)", vec!["build", ".", "-o", &out_s], &keep),
        ];
        for (name, args, prepare) in cases {
            let mut times = Vec::new();
            let mut cpu = Vec::new();
            let mut last = None;
            for _ in 0..RUNS {
                prepare();
                let (t, c, o) = timed(&khc, &args, &root);
                times.push(t);
                cpu.extend(c);
                last = Some(o);
            }
            let o = last.expect("at least one run");
            let stderr = String::from_utf8_lossy(&o.stderr);
            let summary = stderr.lines().last().unwrap_or("").trim().to_string();
            let files = std::fs::read_to_string(out.join(".khc-manifest")).map_or(0, |m| m.lines().filter(|l| !l.starts_with('#')).count());
            println!(
                "{n:>7} {name:<22} {:>9} {:>9} {:>9} {:>9} {:>7}  exit {} {summary}",
                ms(percentile(&times, 50.0)),
                ms(percentile(&times, 0.0)),
                ms(percentile(&times, 100.0)),
                ms(percentile(&cpu, 50.0)),
                if name == "check" { "-".to_string() } else { files.to_string() },
                o.status.code().map_or("signal".into(), |c| c.to_string()),
            );
        }
    }
}
