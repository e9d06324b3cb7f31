//! A stand-alone `khc fmt` until the CLI wires it: `cargo run -p khc-fmt --example fmt -- [--check] [PATH…]`.

fn main() {
    let args: Vec<std::path::PathBuf> = std::env::args().skip(1).filter(|a| a != "--check").map(Into::into).collect();
    let check = std::env::args().any(|a| a == "--check");
    let code = khc_fmt::files::run(&args, check, &mut std::io::stdin(), &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code.into());
}
