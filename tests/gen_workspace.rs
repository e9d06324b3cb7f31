//! Writes a generated benchmark workspace to disk:
//! `cargo run -p khc-tests --example gen-workspace -- N DIR [--flat]`.
//!
//! `DIR/cluster.khc` imports `DIR/tenants/tNNN.khc` (or `DIR/tNNN.khc` with
//! `--flat`); `khc check DIR` and `khc lsp` can then be tried on it.

use khc_tests::workspace_gen::{Layout, Workspace};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flat = args.iter().any(|a| a == "--flat");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let (Some(n), Some(dir), 2) = (pos.first().and_then(|n| n.parse::<usize>().ok()), pos.get(1), pos.len()) else {
        eprintln!("usage: gen-workspace N DIR [--flat]");
        std::process::exit(2);
    };
    let ws = Workspace::new(n).with_layout(if flat { Layout::Flat } else { Layout::Nested });
    if let Err(e) = ws.write(std::path::Path::new(dir)) {
        eprintln!("gen-workspace: cannot write {dir}: {e}");
        std::process::exit(2);
    }
    eprintln!("wrote {n} tenants to {dir} (entry {dir}/cluster.khc)");
}
