//! Helpers shared by the whole-process benchmarks (`lsp.rs`, `cli.rs`): locating
//! the `khc` binary, a scratch folder on tmpfs, command-line options, statistics.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The `khc` binary to measure.
///
/// `KHC_BIN` wins when set. Otherwise the binary is built with the same profile
/// as this benchmark (`cargo bench` builds benchmarks with the release profile,
/// so this runs `cargo build --release -p khc`, a no-op when it is up to date)
/// into the same target directory, and that binary is used.
pub fn khc_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("KHC_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<bench>-<hash>
    let profile_dir = exe.parent().and_then(Path::parent).expect("benchmark lives in target/<profile>/deps").to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "khc", "--bin", "khc", "--manifest-path"]).arg(&manifest).env("CARGO_TARGET_DIR", &target_dir);
    if release {
        cmd.arg("--release");
    }
    eprintln!("building khc ({}) …", if release { "release" } else { "debug" });
    match cmd.status() {
        Ok(s) if s.success() => {}
        other => panic!("`cargo build -p khc` failed ({other:?}); build it yourself and set KHC_BIN=path/to/khc"),
    }
    let bin = profile_dir.join(format!("khc{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}

/// A fresh scratch folder: under `/dev/shm` (tmpfs) when present, so disk speed
/// does not enter the measurements; removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// Creates `…/khc-bench-NAME-PID`.
    pub fn new(name: &str) -> Self {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        let dir = base.join(format!("khc-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch folder");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Command-line options common to the benchmarks. `cargo bench` passes `--bench`,
/// which is ignored.
pub struct Options {
    /// Tenant counts to run.
    pub sizes: Vec<usize>,
    /// All arguments, for benchmark-specific flags.
    pub args: Vec<String>,
}

impl Options {
    /// `--quick` (or `KHC_BENCH_QUICK=1`) runs `quick`; `--sizes 10,2000` runs those;
    /// otherwise `full`.
    pub fn parse(full: &[usize], quick: &[usize]) -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let quick_mode = args.iter().any(|a| a == "--quick") || std::env::var("KHC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut sizes = if quick_mode { quick.to_vec() } else { full.to_vec() };
        if let Some(i) = args.iter().position(|a| a == "--sizes") {
            let list = args.get(i + 1).expect("--sizes takes a list such as 10,100");
            sizes = list.split(',').map(|s| s.trim().parse().expect("--sizes: numbers separated by commas")).collect();
        }
        Options { sizes, args }
    }

    /// Whether `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.args.iter().any(|a| a == flag)
    }
}

/// Median (upper middle) of a sample.
pub fn median(v: &[Duration]) -> Option<Duration> {
    percentile(v, 50.0)
}

/// The nearest-rank percentile `p` (0–100) of a sample.
pub fn percentile(v: &[Duration], p: f64) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

/// A duration in milliseconds with two decimals, or `n/a`.
pub fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "n/a".to_string(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

/// User + system CPU time consumed so far by process `pid` (Linux; `None` elsewhere).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    stat_ticks(&format!("/proc/{pid}/stat"), 11)
}

/// User + system CPU time of this process's children that have been waited for
/// (Linux; `None` elsewhere).
pub fn children_cpu_time() -> Option<Duration> {
    stat_ticks("/proc/self/stat", 13)
}

/// The sum of two consecutive tick counts of a `/proc/…/stat` file, the first at
/// `index` counting from the field after the command name.
fn stat_ticks(path: &str, index: usize) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime, stime, cutime, cstime are fields 14–17 of the full line: 11–14 here.
    let ticks: u64 = fields.get(index)?.parse::<u64>().ok()? + fields.get(index + 1)?.parse::<u64>().ok()?;
    let hz = clock_ticks();
    Some(Duration::from_secs_f64(ticks as f64 / hz))
}

fn clock_ticks() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        Command::new("getconf").arg("CLK_TCK").output().ok().and_then(|o| String::from_utf8(o.stdout).ok()).and_then(|s| s.trim().parse().ok()).unwrap_or(100.0)
    })
}

/// CPU count and load average, printed with the results: the machine is shared,
/// and other processes' load shows up as latency.
pub fn machine_load() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").map_or_else(|_| "?".into(), |l| l.split(' ').take(3).collect::<Vec<_>>().join(" "));
    format!("machine: {cpus} CPUs, load average {load}")
}
