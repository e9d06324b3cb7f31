//! The rule registry and the Kubernetes facts (`compiler/rules`) are the one
//! source of every surface that names rules, statements or kinds; this test
//! fails when a surface is stale:
//!
//! * the VS Code (TextMate) and Neovim grammars list exactly the schema's
//!   statements (`KHC_BLESS=1` rewrites the lists), and the list the VS Code
//!   grammar test tokenizes (`editors/test/statements.json`) is current;
//! * SPEC section 8's rule table has one row per registry rule, with its shape;
//! * every kind khc emits is in `facts::EMITTED_KINDS` (so none silently lacks
//!   `managed-by` protection);
//! * every pod kind of `facts::POD_KINDS` gets Pod Security findings from
//!   `khc eval` (a PodTemplate with `hostNetwork: true` did not);
//! * `khc report` derives coverage from the registry, arguments included;
//! * the crates import only what CONTRIBUTING.md's layering allows.

use khc_rules::facts;
use khc_semantics::schema::{self, BlockKind, BLOCKS};
use khc_tests::*;
use std::collections::BTreeSet;
use std::path::Path;

/// Statement names that the grammars colour as declarations instead.
const DECLARATIONS: &[&str] = &["cluster", "tenant", "profile", "workload", "role"];

/// Every statement name of the schema, except declarations.
fn statement_names() -> BTreeSet<&'static str> {
    BLOCKS.iter().flat_map(|b| schema::statements(b.kind).map(|s| s.name)).filter(|n| !DECLARATIONS.contains(n)).collect()
}

fn bless() -> bool {
    std::env::var_os("KHC_BLESS").is_some()
}

fn check_or_bless(path: &Path, old: &str, new: &str) {
    if old == new {
        return;
    }
    if bless() {
        std::fs::write(path, new).expect("write grammar");
        return;
    }
    panic!("{} is stale against the schema; run `KHC_BLESS=1 cargo test -p khc-tests --test registry` to regenerate its keyword list", path.display());
}

#[test]
fn textmate_grammar_lists_every_statement() {
    let path = repo_root().join("editors/vscode/syntaxes/khc.tmLanguage.json");
    let text = std::fs::read_to_string(&path).expect("read grammar");
    let start = text.find("\"statement\": {").expect("a statement pattern");
    let open = r"(?<![A-Za-z0-9_.\\-])(?:";
    let from = start + text[start..].find(open).expect("statement alternatives") + open.len();
    let to = from + text[from..].find(r")(?![A-Za-z0-9_.\\-])").expect("end of alternatives");
    let listed: BTreeSet<&str> = text[from..to].split('|').collect();
    let expected = statement_names();
    let missing: Vec<_> = expected.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&expected).collect();
    // Longest first, so that a regex alternative never stops at a prefix.
    let mut words: Vec<&str> = expected.iter().copied().collect();
    words.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    let new = format!("{}{}{}", &text[..from], words.join("|"), &text[to..]);
    if !bless() {
        assert!(missing.is_empty() && extra.is_empty(), "VS Code grammar: missing {missing:?}, not statements {extra:?} (KHC_BLESS=1 regenerates)");
    }
    check_or_bless(&path, &text, &new);
}

#[test]
fn vim_syntax_lists_every_statement() {
    let path = repo_root().join("editors/neovim/syntax/khc.vim");
    let text = std::fs::read_to_string(&path).expect("read syntax");
    let start = text.find("syntax keyword khcStatement ").expect("a statement keyword list");
    let body_start = start + "syntax keyword khcStatement ".len();
    let mut end = body_start + text[body_start..].find('\n').expect("line end");
    while text[end + 1..].starts_with("      \\ ") {
        end = end + 1 + text[end + 1..].find('\n').expect("line end");
    }
    let listed: BTreeSet<&str> = text[body_start..end].split_whitespace().filter(|w| *w != "\\").collect();
    let expected = statement_names();
    let mut lines: Vec<String> = vec![String::new()];
    for w in &expected {
        let line = lines.last_mut().expect("a line");
        if !line.is_empty() && line.len() + w.len() + 1 > 92 {
            lines.push(w.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(w);
        }
    }
    let new = format!("{}{}{}", &text[..body_start], lines.join("\n      \\ "), &text[end..]);
    if !bless() {
        let missing: Vec<_> = expected.difference(&listed).collect();
        let extra: Vec<_> = listed.difference(&expected).collect();
        assert!(missing.is_empty() && extra.is_empty(), "Neovim syntax: missing {missing:?}, not statements {extra:?} (KHC_BLESS=1 regenerates)");
    }
    check_or_bless(&path, &text, &new);
}

/// `editors/test/statements.json`: every statement keyword of the schema, which
/// `editors/test/grammar.test.mjs` tokenizes with VS Code's engine (a statement
/// the TextMate grammar does not colour fails that test, not a hand-kept list).
#[test]
fn editor_test_statement_list_is_current() {
    let path = repo_root().join("editors/test/statements.json");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut declarations: Vec<&str> = DECLARATIONS.to_vec();
    declarations.sort();
    let new = serde_json::to_string_pretty(&serde_json::json!({
        "_generated": "by tests/registry.rs from the schema; KHC_BLESS=1 cargo test -p khc-tests --test registry regenerates it",
        "statements": statement_names(),
        "declarations": declarations,
    }))
    .expect("json")
        + "\n";
    check_or_bless(&path, &old, &new);
}

/// SPEC section 8's table: one row per rule, `` `NAME SHAPE` ``, in registry order.
#[test]
fn spec_rule_table_matches_the_registry() {
    let spec = std::fs::read_to_string(repo_root().join("SPEC.md")).expect("SPEC.md");
    let section = &spec[spec.find("## 8. Admission rules").expect("section 8")..];
    let section = &section[..section.find("\n## 9.").expect("section 9")];
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l[2..].split(" |").next().expect("a cell").trim())
        .filter(|c| !c.starts_with("`use ") && !c.starts_with("`mode "))
        .take_while(|_| true)
        .collect();
    let table: Vec<&str> = rows.iter().copied().take_while(|c| c.starts_with('`')).collect();
    let expected: Vec<String> = khc_rules::ALL
        .iter()
        .map(|r| {
            let d = r.def();
            if d.shape.is_empty() {
                format!("`{}`", d.name)
            } else {
                format!("`{} {}`", d.name, d.shape)
            }
        })
        .collect();
    let rule_rows: Vec<&str> = table.iter().copied().filter(|c| expected.iter().any(|e| e.split(' ').next() == c.split(' ').next() || e == c)).collect();
    for e in &expected {
        assert!(table.contains(&e.as_str()), "SPEC section 8 has no row {e} (the registry's name and shape)");
    }
    assert_eq!(rule_rows.len(), expected.len(), "SPEC section 8 has rule rows the registry lacks: {rule_rows:?}");
}

/// Every kind in the example trees is a known emitted kind, so `managed-by`
/// protection cannot silently skip a new one.
#[test]
fn every_emitted_kind_is_a_known_fact() {
    for example in ["multi-tenant", "multi-cluster"] {
        let (out, _) = compile(&repo_root().join("examples").join(example));
        for (path, v) in objects(&out) {
            let kind = v["kind"].as_str().unwrap_or("");
            if path.contains("/control-plane/")
                || path.starts_with("control-plane/")
                || kind == "Kustomization"
                || v["apiVersion"].as_str().unwrap_or("").contains("argoproj")
            {
                continue;
            }
            assert!(facts::emitted_kind(kind).is_some(), "{path}: kind {kind} is not in khc_rules::facts::EMITTED_KINDS (decide its managed-by protection)");
        }
    }
}

/// A project in a temporary folder, loaded as `khc eval` and `khc report` load it.
fn workspace(tag: &str, source: &str) -> khc_analysis::Workspace {
    let dir = std::env::temp_dir().join(format!("khc-registry-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("main.khc"), source).expect("write source");
    let ws = khc_analysis::Workspace::load(&dir.join("main.khc")).unwrap_or_else(|e| panic!("{tag}: {e:?}"));
    let _ = std::fs::remove_dir_all(&dir);
    ws
}

/// Every pod kind gets the same Pod Security findings as a Pod with the same spec.
#[test]
fn every_pod_kind_gets_pod_security_findings() {
    let ws = workspace("eval", "cluster c {\n  kubernetes 1.35\n}\ntenant t {\n  pod-security restricted\n}\n");
    let spec = serde_json::json!({"hostNetwork": true, "containers": [{"name": "a", "image": "r/a:1"}]});
    let pod_template = serde_json::json!({"metadata": {"labels": {"app": "a"}}, "spec": spec});
    let count = |kind: &facts::PodKind| {
        let api_version = if kind.group.is_empty() { kind.version.to_string() } else { format!("{}/{}", kind.group, kind.version) };
        let mut obj = serde_json::json!({"apiVersion": api_version, "kind": kind.kind, "metadata": {"name": "x", "namespace": "t"}});
        if kind.template.is_empty() {
            obj["spec"] = spec.clone();
        } else {
            let mut at = &mut obj;
            for f in kind.template {
                at = &mut at[*f];
            }
            *at = pod_template.clone();
        }
        let m = khc_analysis::manifest::Manifest { file: "m.yaml".into(), line: 1, value: obj, document: 1, item: None, text: None, end_line: None };
        khc_analysis::eval::evaluate(&ws, &m, "t").iter().filter(|f| f.check == "pod-security").count()
    };
    let pod = count(&facts::POD_KINDS[0]);
    assert!(pod > 0, "a hostNetwork pod has no Pod Security finding");
    for k in facts::POD_KINDS {
        assert_eq!(count(k), pod, "{}: Pod Security findings differ from a Pod's", k.kind);
    }
}

/// `khc report` coverage comes from the registry, with arguments: SELinux is
/// covered by `allowed-selinux-types` + `no-selinux-overrides`, restricted
/// capabilities only partly by `drop-all-capabilities`, and
/// `allowed-capabilities SYS_ADMIN` covers no capability control.
#[test]
fn report_coverage_comes_from_the_registry() {
    let ws = workspace(
        "report",
        "cluster c {\n  kubernetes 1.35\n}\n\
         tenant a {\n  pod-security privileged\n  admission {\n    allowed-selinux-types\n    no-selinux-overrides\n    drop-all-capabilities\n  }\n}\n\
         tenant b {\n  pod-security privileged\n  admission {\n    allowed-selinux-types\n    drop-all-capabilities\n    allowed-capabilities NET_BIND_SERVICE\n  }\n}\n\
         tenant c {\n  pod-security privileged\n  admission {\n    allowed-capabilities SYS_ADMIN\n  }\n}\n",
    );
    let rows = khc_analysis::report::compliance(&ws);
    let cell = |row: &str, tenant: &str| rows.iter().find(|r| r.id == row).unwrap_or_else(|| panic!("no row {row}")).tenants[tenant].enforcer.label();
    assert_eq!(cell("pss/selinux", "a"), "khc");
    assert_eq!(cell("pss/selinux", "b"), "partial");
    assert_eq!(cell("pss/capabilities-restricted", "a"), "partial");
    assert_eq!(cell("pss/capabilities-restricted", "b"), "khc");
    assert_eq!(cell("pss/capabilities-baseline", "b"), "khc");
    assert_eq!(cell("pss/capabilities-baseline", "c"), "neither");
    assert_eq!(cell("pss/selinux", "c"), "neither");
    // A cluster-only rule is no tenant's coverage: no per-tenant row.
    let ws = workspace("report-cluster", "cluster c {\n  kubernetes 1.35\n  admission {\n    no-workloads-in-default\n  }\n}\ntenant a {\n}\n");
    let rows = khc_analysis::report::compliance(&ws);
    assert!(!rows.iter().any(|r| r.id == "recommended/no-workloads-in-default"), "a cluster-only rule has a per-tenant row");
}

/// The layering CONTRIBUTING.md states: which khc crates each crate may depend on.
const LAYERS: &[(&str, &[&str])] = &[
    ("compiler/rules", &[]),
    ("compiler/syntax", &[]),
    ("compiler/fmt", &["khc-syntax"]),
    ("compiler/semantics", &["khc-syntax", "khc-rules"]),
    ("compiler/emit", &["khc-syntax", "khc-rules", "khc-semantics"]),
    ("compiler/db", &["khc-syntax", "khc-rules", "khc-semantics", "khc-emit"]),
    ("compiler/analysis", &["khc-syntax", "khc-rules", "khc-semantics", "khc-emit", "khc-db"]),
    ("lsp", &["khc-syntax", "khc-rules", "khc-semantics", "khc-emit", "khc-db", "khc-fmt", "khc-analysis"]),
    ("compiler/import", &["khc-syntax", "khc-rules", "khc-semantics", "khc-emit", "khc-db", "khc-fmt", "khc-analysis"]),
    ("compiler/cli", &["khc-syntax", "khc-rules", "khc-semantics", "khc-emit", "khc-db", "khc-fmt", "khc-analysis", "khc-lsp", "khc-import"]),
];

#[test]
fn crates_import_only_lower_layers() {
    for (dir, allowed) in LAYERS {
        let toml = std::fs::read_to_string(repo_root().join(dir).join("Cargo.toml")).expect("Cargo.toml");
        let deps = toml.split("[dependencies]").nth(1).unwrap_or("");
        let deps = deps.split("\n[").next().unwrap_or("");
        for line in deps.lines() {
            let name = line.split(['=', '.']).next().unwrap_or("").trim();
            if name.starts_with("khc-") {
                assert!(allowed.contains(&name), "{dir} depends on {name}, which its layer may not import (CONTRIBUTING.md)");
            }
        }
    }
    let members = std::fs::read_to_string(repo_root().join("Cargo.toml")).expect("Cargo.toml");
    for (dir, _) in LAYERS {
        assert!(members.contains(&format!("\"{dir}\"")), "{dir} is not a workspace member");
    }
    let _ = BlockKind::File;
}
