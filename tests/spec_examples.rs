//! Every ```-fenced code block of SPEC.md is khc source that the compiler accepts:
//! blocks that are whole programs compile as they are; fragments (a statement that
//! lives inside a `tenant` or `cluster`) compile inside a minimal program around them.
//! Only the grammar (EBNF) and the templates that show a statement's shape with
//! placeholders (`…`, `NAME`, `PEER`, `[ports PORT…]`) are skipped, and they are listed.

use khc_tests::*;

/// The fenced blocks of a Markdown text, with the line each starts at.
fn fenced_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(b) => blocks.push(b),
                None => current = Some((i + 2, String::new())),
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    blocks
}

/// A template rather than source: an ellipsis, or a placeholder word in capitals
/// outside a string (NAME, PEER, PORT…).
fn is_template(block: &str) -> bool {
    block.contains('…')
        || block.lines().any(|l| {
            let code = l.split('#').next().unwrap_or("");
            let unquoted: String = code.split('"').step_by(2).collect();
            unquoted.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w.len() >= 2 && w.bytes().all(|b| b.is_ascii_uppercase()))
        })
}

fn is_grammar(block: &str) -> bool {
    block.lines().next().is_some_and(|l| l.split_whitespace().nth(1) == Some("="))
}

const CLUSTER: &str = "cluster spec {\n  encryption { provider secretbox { key k env \"K\" } }\n}\n";

/// The program a block is compiled as: itself when it declares top-level
/// statements, else inside a cluster (cluster statements) or a tenant.
fn program(block: &str) -> (String, Vec<(&'static str, &'static str)>) {
    let first = block.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    let head = first.split_whitespace().next().unwrap_or("");
    match head {
        "cluster" => (block.to_string(), vec![]),
        "tenant" | "profile" => (format!("{CLUSTER}{block}"), vec![]),
        "import" => (format!("{block}{CLUSTER}"), vec![("tenants/payments.khc", "tenant payments {}\n")]),
        "encryption" | "exempt-namespaces" | "kubernetes" | "api-server" | "audit" | "authentication" | "managed-by" => {
            (format!("cluster spec {{\n{block}}}\n"), vec![])
        }
        // `pod-security` without a level in a fenced block is the cluster's default (SPEC section 7).
        "pod-security" if first.starts_with("pod-security {") => (format!("cluster spec {{\n{block}}}\n"), vec![]),
        _ => (format!("{CLUSTER}tenant payments {{\n  namespaces payments payments-jobs\n  workload ci {{}}\n{block}}}\n"), vec![]),
    }
}

#[test]
fn every_code_block_in_spec_compiles() {
    let spec = std::fs::read_to_string(repo_root().join("SPEC.md")).expect("SPEC.md");
    let blocks = fenced_blocks(&spec);
    assert!(blocks.len() >= 10, "found only {} code blocks", blocks.len());
    let mut compiled = 0;
    let mut skipped = Vec::new();
    let mut failures = Vec::new();
    for (line, block) in &blocks {
        if is_grammar(block) || is_template(block) {
            skipped.push(*line);
            continue;
        }
        let (text, extra) = program(block);
        let mut files = vec![("spec.khc", text.as_str())];
        files.extend(extra);
        let (_, diags, rendered) = compile_sources(&files);
        if diags.iter().any(|d| d.is_error()) {
            failures.push(format!("SPEC.md:{line}:\n{block}\ncompiled as\n{text}\n{rendered}"));
        }
        compiled += 1;
    }
    eprintln!("compiled {compiled} blocks; skipped grammar and templates at SPEC.md lines {skipped:?}");
    assert!(failures.is_empty(), "SPEC code blocks that do not compile:\n\n{}", failures.join("\n\n"));
    assert!(compiled >= 6, "only {compiled} blocks compiled");
}

#[test]
fn the_selector_example_of_section_11_is_checked() {
    let spec = std::fs::read_to_string(repo_root().join("SPEC.md")).unwrap();
    let block = fenced_blocks(&spec).into_iter().map(|(_, b)| b).find(|b| b.contains("\"app.kubernetes.io/part-of\"")).expect("section 11 example");
    assert!(!is_template(&block) && !is_grammar(&block), "the selector example must be compiled, not skipped");
}

/// The rows of SPEC's Appendix A (the seeds' recommendations): `(number, construct column)`.
fn seed_rows(spec: &str) -> Vec<(String, String)> {
    let start = spec.find("## Appendix A").expect("SPEC.md has an Appendix A (the seeds coverage table)");
    let section = &spec[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    section[..end]
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split(" | ").map(str::trim).collect();
            (cells.len() == 4 && cells[0].bytes().all(|b| b.is_ascii_digit())).then(|| (cells[0].to_string(), cells[3].to_string()))
        })
        .collect()
}

/// Words in backticks that are not statements (besides diagnostic codes): object names and files.
const NOT_STATEMENTS: &[&str] = &["default-deny", "allow-dns", "kube-apiserver-flags", "kube-controller-manager-flags", "kube-scheduler-flags", "default"];

#[test]
fn every_seed_recommendation_maps_to_a_construct_or_says_why_not() {
    let spec = std::fs::read_to_string(repo_root().join("SPEC.md")).expect("SPEC.md");
    let rows = seed_rows(&spec);
    assert!(rows.len() >= 60, "Appendix A lists only {} recommendations", rows.len());
    let mut statements = std::collections::BTreeSet::new();
    for b in khc_semantics::schema::BLOCKS {
        statements.extend(khc_semantics::schema::statements(b.kind).map(|s| s.name));
    }
    let mut problems = Vec::new();
    for (n, construct) in &rows {
        let named: Vec<&str> = construct.split('`').skip(1).step_by(2).collect();
        if named.is_empty() && !construct.starts_with("out of scope:") {
            problems.push(format!("row {n}: neither a construct in backticks nor `out of scope: why`"));
        }
        for code in named {
            let word = code.split_whitespace().next().unwrap_or("");
            let looks_like_statement = word.starts_with(|c: char| c.is_ascii_lowercase()) && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
            let is_code = khc_syntax::CODES.iter().any(|(c, _)| *c == word);
            if looks_like_statement && !is_code && !NOT_STATEMENTS.contains(&word) && !statements.contains(word) {
                problems.push(format!("row {n}: `{code}` names no statement of the language"));
            }
        }
    }
    assert!(problems.is_empty(), "SPEC.md Appendix A:\n{}", problems.join("\n"));
}

/// The rows of SPEC's standard-library table as the stdlib's sources give them:
/// `| \`PROFILE\` | \`std/MODULE\` | \`stmt\`, \`stmt\`, … |`, in source order.
fn stdlib_profile_rows() -> Vec<String> {
    let mut rows = Vec::new();
    for (key, text) in khc_db::STDLIB {
        let module = key.trim_end_matches(".khc").to_string();
        let parse = khc_syntax::parse(&khc_syntax::FileKey::from(*key), text);
        for profile in parse.tree().statements().filter(|s| s.is("profile")) {
            let name = profile.flat_args().first().map(|v| text[v.span.range()].to_string()).unwrap_or_default();
            let rules: Vec<String> = profile
                .children()
                .iter()
                .map(|r| format!("`{}`", text[r.span().range()].split('#').next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ")))
                .collect();
            rows.push(format!("| `{name}` | `{module}` | {} |", rules.join(", ")));
        }
    }
    rows
}

#[test]
fn spec_lists_every_standard_library_profile_with_its_rules() {
    let spec = std::fs::read_to_string(repo_root().join("SPEC.md")).expect("SPEC.md");
    let start = spec.find("### The standard library's profiles").expect("SPEC.md has a section `### The standard library's profiles`");
    let table: Vec<&str> = spec[start..].lines().skip_while(|l| !l.starts_with("| `")).take_while(|l| l.starts_with('|')).collect();
    let expected = stdlib_profile_rows();
    assert!(expected.len() >= 6, "{expected:?}");
    assert_eq!(table, expected, "SPEC.md's table of standard-library profiles is stale; it should read:\n{}", expected.join("\n"));
}
