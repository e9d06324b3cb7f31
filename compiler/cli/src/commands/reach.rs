//! `khc reach FROM TO`: whether the NetworkPolicies let a connection through,
//! and which policies (and `allow` statements) decide it; `--matrix` for every
//! workload pair.

use super::{load_project, print_json, usage, QueryFormat, QueryOpts};
use khc_analysis::network::{Decision, Side};
use khc_analysis::posture::matrix;
use std::process::ExitCode;

/// Arguments of `khc reach`.
#[derive(clap::Args, Debug)]
#[command(
    about = "Whether FROM may connect to TO (NetworkPolicies), and which allow statements decide it",
    long_about = "Evaluate the compiled NetworkPolicies as Kubernetes does: a pod selected by a policy of a \
direction is isolated for it; a connection needs the sender's egress and the receiver's ingress.\n\n\
FROM and TO are TENANT/WORKLOAD (the workload's pods), TENANT (a pod of the tenant matching no \
workload), NAMESPACE (a pod without labels in that namespace), an IPv4 address, a CIDR, or @dns: \
the cluster's DNS target (`dns` in the cluster; default a pod labelled k8s-app=kube-dns in kube-system, \
else the target's pods, else its first address such as NodeLocal DNSCache's 169.254.20.10).\n\
Without --port the answer lists every allowed port. Each policy is named with the FILE:LINE of the \
allow statement (or tenant) it implements.\n\n\
--matrix lists every pair of workloads that can connect, with the ports.\n\n\
With --live (or --kubeconfig) the live NetworkPolicies count too, and live pods (or controllers' pod \
templates) of FROM or TO that use hostNetwork are named: no NetworkPolicy selects them, so the \
answer does not hold for them.\n\n\
Exit codes: 0 allowed (matrix: always), 1 denied, 2 usage.",
    after_help = "Examples:\n  khc reach monitoring/prometheus payments/api --port 9090 -p examples/multi-tenant\n  \
khc reach ingress-nginx payments/api -p examples/multi-tenant\n  \
khc reach payments/api 203.0.113.10 --port 443 -p examples/multi-tenant\n  \
khc reach payments/api @dns --port 53 --protocol UDP -p examples/multi-tenant\n  \
khc reach --matrix -p examples/multi-tenant --format json"
)]
pub struct Args {
    /// The sender.
    #[arg(required_unless_present = "matrix")]
    pub from: Option<String>,
    /// The receiver.
    #[arg(required_unless_present = "matrix")]
    pub to: Option<String>,
    /// Destination port.
    #[arg(long)]
    pub port: Option<u16>,
    /// Protocol (TCP, UDP, SCTP).
    #[arg(long, default_value = "TCP")]
    pub protocol: String,
    /// Every workload pair that can connect.
    #[arg(long, conflicts_with_all = ["from", "to", "port"])]
    pub matrix: bool,
    #[command(flatten)]
    pub opts: QueryOpts,
}

fn print_side(name: &str, side: &Side, port: Option<(u16, &str)>) {
    if !side.isolated {
        println!("  {name}: not isolated (no policy selects it for this direction)");
        return;
    }
    let allowing: Vec<String> = side
        .allowing
        .iter()
        .filter(|(_, ports)| port.is_none_or(|(p, proto)| ports.contains(p, proto)))
        .map(|(r, ports)| format!("{r} allows {ports}"))
        .collect();
    if allowing.is_empty() {
        println!("  {name}: denied — isolated and no rule allows it");
        for r in side.isolating.iter().chain(side.allowing.iter().map(|(r, _)| r)) {
            println!("    isolated by {r}");
        }
    } else {
        println!("  {name}: allowed by");
        for a in allowing {
            println!("    {a}");
        }
    }
}

/// Runs `khc reach`.
pub fn run(args: Args) -> ExitCode {
    let ws = match load_project(&args.opts.project) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let proto = args.protocol.to_ascii_uppercase();
    if !khc_analysis::network::PROTOCOLS.contains(&proto.as_str()) {
        return usage(&format!("unknown protocol `{}`: TCP, UDP or SCTP", args.protocol));
    }
    if args.matrix {
        let m = matrix(ws);
        match args.opts.format {
            QueryFormat::Json => print_json(&m),
            QueryFormat::Text => {
                let n = ws.workloads().count();
                println!("{} of {} workload pairs can connect:", m.len(), n * n.saturating_sub(1));
                for r in &m {
                    println!("  {} → {}: {}", r.from, r.to, r.ports);
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    let (Some(from), Some(to)) = (args.from.as_deref(), args.to.as_deref()) else { return usage("FROM and TO are required") };
    let (src, dst) = match (ws.endpoint(from), ws.endpoint(to)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return usage(&e),
    };
    let d: Decision = ws.network.decide(&src.endpoint, &dst.endpoint);
    let port = args.port.map(|p| (p, proto.as_str()));
    let allowed = match port {
        Some((p, proto)) => d.allows(p, proto),
        None => !d.ports().is_empty(),
    };
    // NetworkPolicies never select hostNetwork pods: their traffic is the node's.
    let host_network: Vec<String> = [(&src, "sender"), (&dst, "receiver")]
        .iter()
        .flat_map(|(e, side)| ws.host_network_of(&e.endpoint).into_iter().map(move |s| format!("{s} ({side} {})", e.name)))
        .collect();
    match args.opts.format {
        QueryFormat::Json => print_json(&serde_json::json!({
            "from": src.name, "to": dst.name, "port": args.port, "protocol": proto,
            "allowed": allowed, "ports": d.ports(), "egress": d.egress, "ingress": d.ingress,
            "host_network": host_network,
        })),
        QueryFormat::Text => {
            let what = match args.port {
                Some(p) => format!("on {p}/{proto}"),
                None => format!("on {}", if allowed { d.ports().to_string() } else { "any port".into() }),
            };
            println!("{}: {} → {} {what}", if allowed { "allowed" } else { "denied" }, src.name, dst.name);
            print_side(&format!("egress of {}", src.name), &d.egress, port);
            print_side(&format!("ingress of {}", dst.name), &d.ingress, port);
            for h in &host_network {
                println!("  note: {h} uses hostNetwork: no NetworkPolicy selects it, so this answer does not hold for it (its traffic is the node's)");
            }
        }
    }
    if allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
