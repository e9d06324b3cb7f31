//! A stand-alone `khc fmt` until the CLI wires it:
//! `cargo run -p khc-fmt --example fmt -- [--check] [PATH…]`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let paths: Vec<PathBuf> = args.iter().filter(|a| *a != "--check").map(PathBuf::from).collect();
    run(&paths, check)
}

/// The same entry point as `compiler/cli/src/commands/fmt.rs`.
fn run(paths: &[PathBuf], check: bool) -> ExitCode {
    let code = khc_fmt::files::run(paths, check, &mut std::io::stdin().lock(), &mut std::io::stdout().lock(), &mut std::io::stderr().lock());
    ExitCode::from(code)
}
