//! No two generated objects collide (issue 7 item 11): the check
//! (`khc_emit::collisions`) fires with both sources, the one remaining collision
//! (found by reading the naming rules) is fixed, and the examples, generated fleets
//! and random programs with adversarial names have none.

use khc_emit::collisions::{find, Collision, Producer};
use khc_emit::Output;
use khc_syntax::FileKey;
use khc_tests::*;
use proptest::prelude::*;

fn collisions(out: &Output) -> Vec<Collision> {
    find(&out.files.iter().collect::<Vec<_>>())
}

/// Found by reading the naming rules: the policy khc adds for a
/// token-mounting workload `x-to-tenant-b` (`allow-egress-from-x-to-tenant-b-to-api-server`)
/// and the declared rule from workload `x` to tenant `b-to-api-server` had one
/// name, so one silently replaced the other.
#[test]
fn api_server_policy_and_declared_rule_get_different_names() {
    let entry = "import \"t.khc\"\ncluster c {\n  managed-by group \"khc-appliers\"\n  cni kube-router\n  api-server 10.0.0.1/32\n  encryption { provider secretbox { key k env \"K\" } }\n}\n";
    let t = "tenant a {\n  workload x-to-tenant-b { automount-token true }\n  workload x {}\n  allow egress from workload x to tenant b-to-api-server ports 80\n}\n\
tenant b-to-api-server {\n  allow ingress from tenant a workload x ports 80\n}\n";
    let (out, diags, rendered) = compile_sources(&[("main.khc", entry), ("t.khc", t)]);
    assert!(diags.is_empty(), "{rendered}");
    let out = out.expect("builds");
    assert_eq!(collisions(&out), vec![]);
    let dir = "clusters/c/tenants/a/namespaces/a";
    let names: Vec<&str> = out.files.iter().filter_map(|f| f.path.strip_prefix(&format!("{dir}/networkpolicy-allow-egress-from-x-"))).collect();
    assert_eq!(names, ["to-tenant-b-to-api-server-2.yaml", "to-tenant-b-to-api-server.yaml"]);
    let api = out.files.iter().find(|f| f.path == format!("{dir}/networkpolicy-allow-egress-from-x-to-tenant-b-to-api-server.yaml")).unwrap();
    assert!(api.contents.contains("10.0.0.1/32"), "the api-server policy keeps its name");
}

/// The diagnostic names both statements: the second producer is the primary
/// label, the first a secondary one, each on its statement's line.
#[test]
fn collision_diagnostic_points_at_both_statements() {
    let mut db = khc_db::KhcDatabase::new("");
    let text = "tenant a {\n  workload x {}\n  # comment\n  allow egress from workload x to tenant b ports 80\n}\n";
    db.set_text(&FileKey::from("t.khc"), text.into());
    let c = Collision {
        what: "NetworkPolicy.networking.k8s.io `a/p`".into(),
        first: Producer { path: "clusters/c/one.yaml".into(), source: Some(("t.khc".into(), 2)) },
        second: Producer { path: "clusters/c/two.yaml".into(), source: Some(("t.khc".into(), 4)) },
    };
    let d = khc_db::collision_diagnostics(&db, &[c], &FileKey::from("main.khc"));
    assert_eq!(d.len(), 1);
    let d = &d[0];
    assert!(d.is_error() && d.code == "duplicate");
    assert!(d.message.contains("NetworkPolicy.networking.k8s.io `a/p`") && d.message.contains("one.yaml") && d.message.contains("two.yaml"), "{}", d.message);
    let at = |s: khc_syntax::Span| &text[s.start as usize..s.end as usize];
    assert_eq!(at(d.primary.span), "allow egress from workload x to tenant b ports 80");
    assert_eq!(d.secondary.len(), 1);
    assert_eq!(at(d.secondary[0].span), "workload x {}");
    // Sources that cannot be located fall back to the entry file.
    let lost =
        Collision { what: "the path `p`".into(), first: Producer { path: "p".into(), source: None }, second: Producer { path: "p".into(), source: None } };
    let d = khc_db::collision_diagnostics(&db, &[lost], &FileKey::from("main.khc"));
    assert_eq!(&*d[0].primary.file, "main.khc");
}

/// The checked model of `(key, text)` sources, the first the entry.
fn model_of(files: &[(&str, &str)]) -> khc_semantics::model::Model {
    let mut db = khc_db::KhcDatabase::new("");
    let keys: Vec<_> = files.iter().map(|(k, t)| db.set_text(&FileKey::from(*k), t.to_string())).collect();
    db.load_program(keys[0]);
    khc_db::check(&db, keys[0]).model.clone().expect("checks")
}

#[test]
fn examples_and_generated_fleets_have_no_collisions() {
    assert_eq!(collisions(&example_output()), vec![]);
    let (out, _) = compile(&repo_root().join("examples/multi-cluster"));
    assert!(!out.files.is_empty());
    assert_eq!(collisions(&out), vec![]);
    for n in [1, 2, 3, 50] {
        let files = fleet_sources(n);
        let refs: Vec<(&str, &str)> = files.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (out, diags, rendered) = compile_sources(&refs);
        assert!(!diags.iter().any(|d| d.is_error()), "{rendered}");
        let out = out.expect("builds");
        assert_eq!(collisions(&out), vec![], "fleet of {n}");
        // With the GitOps engine objects too.
        for engine in [khc_emit::gitops::Engine::ArgoCd, khc_emit::gitops::Engine::Flux] {
            let model = model_of(&refs);
            let mut files = out.files.clone();
            let g = khc_emit::gitops::GitOps { engine, repo: Some("https://git.example.com/r.git".into()), revision: None, path: String::new() };
            khc_emit::gitops::apply(&mut files, &model, &g);
            assert_eq!(find(&files.iter().collect::<Vec<_>>()), vec![], "fleet of {n} with {engine:?}");
        }
    }
}

/// Name parts chosen to make generated names run into each other: words khc
/// itself puts into names (`to`, `from`, `tenant`, `api-server`, `quota`…).
const PARTS: &[&str] = &[
    "a",
    "b",
    "x",
    "to",
    "from",
    "tenant",
    "api-server",
    "api",
    "server",
    "namespace",
    "cidr",
    "quota",
    "limits",
    "allow",
    "ingress",
    "egress",
    "2",
    "dns",
    "same",
];

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PARTS), 1..4).prop_map(|p| p.join("-"))
}

/// A generated rule: from tenant, to tenant, local workload, peer workload, ingress?, port.
type Rule = (usize, usize, Option<usize>, Option<usize>, bool, u16);

#[derive(Debug, Clone)]
struct Gen {
    tenants: Vec<(String, Vec<(String, bool)>)>,
    rules: Vec<Rule>,
}

fn program() -> impl Strategy<Value = Gen> {
    let tenant = (name(), prop::collection::vec((name(), any::<bool>()), 0..4));
    (
        prop::collection::vec(tenant, 1..4),
        prop::collection::vec((0usize..4, 0usize..4, prop::option::of(0usize..4), prop::option::of(0usize..4), any::<bool>(), 1u16..3), 0..10),
    )
        .prop_map(|(tenants, rules)| Gen { tenants, rules })
}

fn render(g: &Gen) -> String {
    let mut text = String::from(
        "cluster c {\n  managed-by group \"khc-appliers\"\n  api-server 10.0.0.1/32\n  encryption { provider secretbox { key k env \"K\" } }\n}\n",
    );
    for (i, (t, workloads)) in g.tenants.iter().enumerate() {
        text.push_str(&format!("tenant {t} {{\n  namespaces {t} {t}-{i}\n"));
        for (w, token) in workloads {
            text.push_str(&format!("  workload {w} {{ automount-token {token} }}\n"));
        }
        for &(from, to, local, peer, ingress, port) in &g.rules {
            if from % g.tenants.len() != i {
                continue;
            }
            let (pt, pw) = &g.tenants[to % g.tenants.len()];
            let local = local.and_then(|l| workloads.get(l % workloads.len().max(1))).map(|(w, _)| w.clone());
            let peer_w = peer.and_then(|p| pw.get(p % pw.len().max(1))).map(|(w, _)| format!(" workload {w}"));
            let peer_w = peer_w.unwrap_or_default();
            let rule = match (ingress, local) {
                (true, Some(l)) => format!("allow ingress from tenant {pt}{peer_w} to workload {l} ports {port}"),
                (true, None) => format!("allow ingress from tenant {pt}{peer_w} ports {port}"),
                (false, Some(l)) => format!("allow egress from workload {l} to tenant {pt}{peer_w} ports {port}"),
                (false, None) => format!("allow egress to tenant {pt}{peer_w} ports {port}"),
            };
            text.push_str(&format!("  {rule}\n"));
        }
        text.push_str("  quota { pods 10 }\n  role r { can get on pods }\n  grant r to group \"g\"\n  admission { no-privileged }\n}\n");
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("KHC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300), ..ProptestConfig::default() })]

    /// Programs whose tenant and workload names are made of the words khc puts
    /// into generated names: whenever one compiles, no two objects collide.
    #[test]
    fn adversarial_names_never_collide(g in program()) {
        let text = render(&g);
        let (out, _, _) = compile_sources(&[("main.khc", &text)]);
        if let Some(out) = out {
            let found = collisions(&out);
            prop_assert!(found.is_empty(), "{found:?}\n{text}");
        }
    }
}

/// The generator reaches the emitter: a good share of its programs compile (so
/// `adversarial_names_never_collide` is not vacuous) and many of those have
/// declared rules.
#[test]
fn adversarial_generator_compiles_often() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut compiled, mut with_rules) = (0, 0);
    for _ in 0..200 {
        let g = program().new_tree(&mut runner).expect("value").current();
        let (out, _, _) = compile_sources(&[("main.khc", &render(&g))]);
        if let Some(out) = out {
            compiled += 1;
            with_rules += usize::from(out.files.iter().any(|f| f.path.contains("networkpolicy-allow-") && !f.path.contains("allow-dns")));
        }
    }
    assert!(compiled >= 40, "only {compiled} of 200 generated programs compile");
    assert!(with_rules >= 10, "only {with_rules} compiled programs have declared rules");
}
