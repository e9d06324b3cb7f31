//! `khc_analysis::manifest::parse` reads the plain block style of YAML with
//! its own reader (`manifest::block_yaml`) and hands every other document to
//! `serde_yaml_ng`: its answers — values, lines, document and item indices,
//! errors — must equal `manifest::parse_through_serde` (every document through
//! `serde_yaml_ng`, the oracle) on every YAML file of the repository and the
//! shared fixtures, on generated manifests (scalars in every notation and
//! style, nested lists of maps, flow collections, comments, several documents,
//! `kind: List`), on those manifests with random edits (bad indentation,
//! unterminated quotes, tabs, stray indicators) and on arbitrary strings.
//! The generators are seeded: every run reads the same texts.

use khc_analysis::manifest::{block_yaml, parse, parse_through_serde, Manifest};
use serde_json::Value;
use std::path::{Path, PathBuf};

type Answer = Result<Vec<(String, u32, Value, u32, Option<u32>, Option<u32>)>, String>;

fn answer(r: Result<Vec<Manifest>, String>) -> Answer {
    r.map(|ms| ms.into_iter().map(|m| (m.file, m.line, m.value, m.document, m.item, m.end_line)).collect())
}

/// Both paths' answers on `text`, asserted equal; how many of its documents
/// the block reader read itself, and how many it has.
fn same(text: &str) -> (usize, usize) {
    let fast = answer(parse("m.yaml", text));
    let oracle = answer(parse_through_serde("m.yaml", text));
    assert_eq!(fast, oracle, "the block reader and serde_yaml_ng differ on:\n{text}\n---- (debug) {text:?}");
    let lines: Vec<&str> = text.lines().collect();
    let docs: Vec<&[&str]> = lines.split(|l| l.starts_with("---")).collect();
    (docs.iter().filter(|d| block_yaml::read(&d.join("\n")).is_some()).count(), docs.len())
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick_str(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len())]
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Scalars in every notation: null, bool, integers (0x/0o/0b, signs, leading
/// zeros, beyond 64 and 128 bits), floats (exponents, `.inf`, `.nan`),
/// YAML 1.1 words, indicators, unicode, quotes and escapes.
const SCALARS: &[&str] = &[
    "",
    "~",
    "null",
    "Null",
    "NULL",
    "nUll",
    "true",
    "True",
    "TRUE",
    "tRue",
    "false",
    "False",
    "FALSE",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "Yes",
    "NO",
    "0",
    "-0",
    "+0",
    "00",
    "007",
    "-007",
    "+007",
    "08",
    "0x1F",
    "0X1F",
    "-0x1F",
    "+0x1F",
    "0x-1",
    "0x+1",
    "0x",
    "0o17",
    "-0o17",
    "0o8",
    "0b101",
    "-0b101",
    "0b2",
    "1_000",
    "1e3",
    "1E3",
    "-1e-3",
    "1.",
    ".5",
    "-.5",
    "+.5",
    "1.5e+10",
    "1e",
    ".",
    "+",
    "-",
    "+-1",
    "--1",
    "++1",
    ".inf",
    "-.inf",
    "+.inf",
    ".Inf",
    ".INF",
    "-.Inf",
    ".nan",
    ".NaN",
    ".NAN",
    "-.nan",
    "nan",
    "NaN",
    "inf",
    "infinity",
    "-inf",
    "+Infinity",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "340282366920938463463374607431768211455",
    "340282366920938463463374607431768211456",
    "-170141183460469231731687303715884105729",
    "99999999999999999999999999999999999999999999",
    "0xFFFFFFFFFFFFFFFFF",
    "1e400",
    "-1e400",
    "4.9e-324",
    "1e-400",
    "0.1",
    "3.14159",
    "-2.5E-3",
    "12:30",
    "1:2:3",
    "2001-12-14",
    "2001-12-14T21:59:43.10-05:00",
    "a b",
    "a  b",
    "héllo",
    "日本語",
    "emoji 🎉",
    "\u{a0}nbsp",
    "a#b",
    "a #b",
    "a: b",
    "a:b",
    "-a",
    "--a",
    "- a",
    "?",
    "?a",
    "? a",
    ":a",
    "a:",
    "a,b",
    "[a]",
    "{a}",
    "a[b]",
    "a{b}",
    "*a",
    "&a",
    "!a",
    "!!str a",
    "|",
    ">",
    "%a",
    "@a",
    "`a",
    "'a",
    "\"a",
    "a'b",
    "a\"b",
    "a''b",
    "\\",
    "\\n",
    "x\ty",
    "line\nbreak",
    "registry.example.com/t0/app:1",
    "http://x/y#frag",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "500m",
    "1Gi",
    "v1",
    "apps/v1",
    "=",
    "<<",
    "...",
    "---",
    "a ",
    " a",
    "#",
    "# c",
    "$x",
    "cr\rlf",
    "nul\0x",
    "bell\u{7}",
    "a:b: c",
    "a::",
    "a - b",
    "a\u{a0}",
    "a\\b",
];

/// Keys as written (plain, quoted, odd).
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "labels",
    "spec",
    "items",
    "app.kubernetes.io/name",
    "a",
    "b",
    "c",
    "1",
    "0x10",
    "true",
    "null",
    "~",
    "a b",
    "k#x",
    "x-y",
    "\"q\"",
    "'s'",
    "\"a: b\"",
    "'it''s'",
    "\"esc\\\"aped\"",
    "-k",
    "k:v",
    "é",
    "<<",
    "\"\"",
    "''",
    "? k",
    "&a k",
    "*a",
    "!t k",
    "[a]",
    "{a: 1}",
    "\"x\" ",
];

/// `s` written in a style the generator picks: plain, single- or double-quoted
/// (with escapes libyaml reads, some of which the block reader hands on).
fn written(rng: &mut Rng, s: &str) -> String {
    match rng.below(6) {
        0..=2 => s.to_string(),
        3 => format!("'{}'", s.replace('\'', "''")),
        _ => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\0' => out.push_str("\\0"),
                    '\t' => out.push_str(if rng.chance(50) { "\\t" } else { "\t" }),
                    '/' if rng.chance(50) => out.push_str("\\/"),
                    'a' if rng.chance(20) => out.push_str("\\x61"),
                    'é' if rng.chance(50) => out.push_str("\\u00e9"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

fn node(rng: &mut Rng, depth: usize) -> Node {
    let leaf = depth >= 4 || rng.chance(45);
    if leaf {
        return Node::Scalar(scalar(rng, depth));
    }
    let n = rng.below(4) + usize::from(rng.chance(85));
    if rng.chance(55) {
        Node::Map((0..n).map(|_| (key(rng), node(rng, depth + 1))).collect())
    } else {
        Node::Seq((0..n).map(|_| node(rng, depth + 1)).collect())
    }
}

fn key(rng: &mut Rng) -> String {
    if rng.chance(80) {
        rng.pick(&KEYS[..12]).to_string()
    } else {
        rng.pick(KEYS).to_string()
    }
}

/// A scalar or a flow collection of scalars, as written.
fn scalar(rng: &mut Rng, depth: usize) -> String {
    match rng.below(12) {
        0 if depth < 6 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| scalar(rng, depth + 2)).collect();
            let sep: &str = if rng.chance(80) { ", " } else { rng.pick_str(&[",", " , ", ",,", ", ]"]) };
            format!("[{}{}]", items.join(sep), if rng.chance(5) { "," } else { "" })
        }
        1 if depth < 6 => {
            let n = rng.below(4);
            let items: Vec<String> =
                (0..n).map(|_| format!("{}{}{}", rng.pick(&KEYS[..12]), rng.pick(&[": ", ": ", ":", " : ", ":  "]), scalar(rng, depth + 2))).collect();
            format!("{{{}}}", items.join(if rng.chance(85) { ", " } else { "," }))
        }
        _ => {
            let s = match rng.below(10) {
                0..=3 => rng.pick(&SCALARS[..4]),
                4..=7 => rng.pick(&SCALARS[..60]),
                _ => rng.pick(SCALARS),
            };
            written(rng, s)
        }
    }
}

/// Appends `node` as the value of a mapping key written at `indent` (the text
/// after `key:`), or as a sequence item.
fn render_value(rng: &mut Rng, out: &mut Vec<String>, head: String, indent: usize, node: &Node, item: bool) {
    let step = *rng.pick(&[2, 2, 2, 4, 1, 3]);
    match node {
        Node::Scalar(s) => out.push(if s.is_empty() { head.trim_end().to_string() } else { format!("{head} {s}{}", comment(rng)) }),
        Node::Map(entries) if entries.is_empty() => out.push(format!("{head} {{}}")),
        Node::Seq(items) if items.is_empty() => out.push(format!("{head} []")),
        Node::Map(entries) if item && rng.chance(70) => {
            // `- key: value` with the mapping's other keys under the first.
            let col = indent + 2;
            let mut first = Vec::new();
            render_map(rng, &mut first, col, entries);
            let line = first.remove(0);
            out.push(format!("{head} {}", &line[col.min(line.len())..]));
            out.extend(first);
        }
        Node::Map(entries) => {
            out.push(format!("{head}{}", comment(rng)));
            render_map(rng, out, indent + step, entries);
        }
        Node::Seq(items) => {
            out.push(format!("{head}{}", comment(rng)));
            // A mapping's sequence at the key's column (as kubectl prints it) or deeper.
            let at = if !item && rng.chance(50) { indent } else { indent + step };
            render_seq(rng, out, at, items);
        }
    }
}

fn render_map(rng: &mut Rng, out: &mut Vec<String>, indent: usize, entries: &[(String, Node)]) {
    for (k, v) in entries {
        noise(rng, out, indent);
        render_value(rng, out, format!("{}{k}:", " ".repeat(indent)), indent, v, false);
    }
}

fn render_seq(rng: &mut Rng, out: &mut Vec<String>, indent: usize, items: &[Node]) {
    for v in items {
        noise(rng, out, indent);
        render_value(rng, out, format!("{}-", " ".repeat(indent)), indent, v, true);
    }
}

fn comment(rng: &mut Rng) -> &'static str {
    if rng.chance(8) {
        rng.pick_str(&["  # c", " #c", " # a: b", "#x", " # 'q"])
    } else {
        ""
    }
}

/// Blank lines and comment lines, at any indentation, now and then.
fn noise(rng: &mut Rng, out: &mut Vec<String>, indent: usize) {
    if rng.chance(6) {
        out.push(rng.pick(&["", "   ", "# comment", "  # indented comment: x"]).to_string());
    }
    if rng.chance(2) {
        out.push(format!("{}# at the block's column", " ".repeat(indent)));
    }
}

/// A manifest file: one to three documents, most of them Kubernetes-like
/// objects, some `kind: List`, now and then a scalar or a sequence on top.
fn manifest(rng: &mut Rng) -> String {
    let mut docs = Vec::new();
    for _ in 0..rng.below(3) + 1 {
        let mut lines = Vec::new();
        if rng.chance(20) {
            lines.push("# a header comment".to_string());
        }
        match rng.below(10) {
            0 => {
                let items: Vec<Node> = (0..rng.below(3) + 1).map(|_| object(rng)).collect();
                let mut entries = vec![("apiVersion".to_string(), Node::Scalar("v1".into())), ("items".to_string(), Node::Seq(items))];
                entries.push(("kind".to_string(), Node::Scalar("List".into())));
                render_map(rng, &mut lines, 0, &entries);
            }
            1 => {
                let n = node(rng, 1);
                match &n {
                    Node::Seq(items) if !items.is_empty() => render_seq(rng, &mut lines, 0, items),
                    Node::Scalar(s) => lines.push(s.clone()),
                    _ => lines.push("[]".into()),
                }
            }
            _ => {
                let Node::Map(entries) = object(rng) else { unreachable!() };
                let indent = if rng.chance(3) { 2 } else { 0 };
                render_map(rng, &mut lines, indent, &entries);
            }
        }
        docs.push(lines.join("\n"));
    }
    let sep = ["---\n", "---\n", "--- # doc\n", "---\n\n", "\n---\n"];
    let mut text = String::new();
    if rng.chance(40) {
        text.push_str("---\n");
    }
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            text.push_str(rng.pick_str(&sep));
        }
        text.push_str(d);
        text.push('\n');
    }
    if rng.chance(10) {
        text = text.replace('\n', "\r\n");
    }
    text
}

/// An object with `apiVersion`, `kind`, `metadata` and a random `spec`.
fn object(rng: &mut Rng) -> Node {
    let mut entries = vec![
        ("apiVersion".to_string(), Node::Scalar(rng.pick(&["v1", "apps/v1"]).to_string())),
        ("kind".to_string(), Node::Scalar(rng.pick(&["Pod", "Deployment", "ConfigMap"]).to_string())),
        ("metadata".to_string(), Node::Map(vec![("name".into(), Node::Scalar(scalar(rng, 9))), ("labels".into(), node(rng, 3))])),
    ];
    if rng.chance(90) {
        entries.push(("spec".to_string(), node(rng, 1)));
    }
    Node::Map(entries)
}

/// `text` with one to three random edits: a character inserted (an
/// indicator, a tab, a quote, a space, a line break…), one deleted, a line's
/// indentation changed, or a line duplicated.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..rng.below(3) + 1 {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 | 1 => chars.insert(
                at,
                *rng.pick(&[
                    ' ', '\t', '\'', '"', ':', '-', '#', '{', '[', ']', '}', ',', '&', '*', '!', '|', '>', '?', '\n', '\r', '%', '\\', 'é', '\u{feff}',
                    '\u{85}', '\u{2028}',
                ]),
            ),
            2 if at < chars.len() => {
                chars.remove(at);
            }
            3 => {
                // Indent or dedent the line holding `at`.
                let start = chars[..at].iter().rposition(|&c| c == '\n').map_or(0, |i| i + 1);
                if rng.chance(50) {
                    chars.insert(start, ' ');
                } else if chars.get(start) == Some(&' ') {
                    chars.remove(start);
                }
            }
            _ => {
                let start = chars[..at].iter().rposition(|&c| c == '\n').map_or(0, |i| i + 1);
                let end = chars[at..].iter().position(|&c| c == '\n').map_or(chars.len(), |i| at + i + 1);
                let line: Vec<char> = chars[start..end].to_vec();
                chars.splice(start..start, line);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn generated_manifests_read_the_same_both_ways() {
    let mut rng = Rng(0x6b68_635f_7961_6d6c);
    let (mut fast, mut docs) = (0, 0);
    for _ in 0..6000 {
        let (f, n) = same(&manifest(&mut rng));
        (fast, docs) = (fast + f, docs + n);
    }
    // The generator writes mostly the block style: most documents are read without serde_yaml_ng.
    eprintln!("{fast} of {docs} generated documents read by the block reader");
    assert!(fast * 2 > docs, "only {fast} of {docs} generated documents read by the block reader");
}

#[test]
fn edited_manifests_read_the_same_both_ways() {
    let mut rng = Rng(0x0ddb_a11c_afe0_0001);
    let mut errors = 0;
    for _ in 0..6000 {
        let text = manifest(&mut rng);
        let text = mutate(&mut rng, &text);
        same(&text);
        errors += usize::from(parse_through_serde("m.yaml", &text).is_err());
    }
    assert!(errors > 500, "the edits should make many files that are not YAML ({errors})");
}

#[test]
fn arbitrary_strings_read_the_same_both_ways() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let alphabet: Vec<char> = " \n\n\n  -:#'\"{}[],\t!&*|>?%@`~.+_0123456789abexyzAEINTUXéλ\\\r\u{feff}\u{85}\u{2028}\u{1}".chars().collect();
    for _ in 0..20000 {
        let len = rng.below(40);
        let text: String = (0..len).map(|_| *rng.pick(&alphabet)).collect();
        same(&text);
        same(&format!("k: {text}\n"));
        same(&format!("a:\n  - {text}\n"));
    }
}

#[test]
fn every_scalar_in_every_style_resolves_as_serde_yaml_ng() {
    for s in SCALARS {
        for seed in 1..40 {
            let mut rng = Rng(seed);
            let w = written(&mut rng, s);
            for text in
                [format!("k: {w}\n"), format!("k:\n- {w}\n"), format!("k: [{w}]\n"), format!("k: {{a: {w}}}\n"), format!("{w}: v\n"), format!("- {w}: 1\n")]
            {
                same(&text);
            }
        }
    }
}

#[test]
fn errors_are_serde_yaml_ngs() {
    for text in [
        "kind: Pod\n metadata: x\n",
        "kind: Pod\nspec:\n  a: 1\n b: 2\n",
        "kind: 'Pod\n",
        "kind: \"Pod\n",
        "kind: Pod\nkind: Pod\n",
        "kind: Pod\n\tspec: {}\n",
        "kind: [a, b\n",
        "a: b: c\n",
        "- a\nb: c\n",
        "kind: Pod\n---\nkind: &a [*b]\n",
        "just a scalar\n",
        "- a\n- b\n",
        "key: \"\\q\"\n",
        "k: 18446744073709551616123456789012345678901234567890\n",
    ] {
        same(text);
        let fast = parse("m.yaml", text);
        assert_eq!(fast.as_ref().err(), parse_through_serde("m.yaml", text).as_ref().err(), "{text}");
    }
    assert!(parse("m.yaml", "kind: Pod\n metadata: x\n").unwrap_err().contains("not YAML"));
    // Keys and values past libyaml's 1024 characters of a simple key.
    for n in [1000, 1020, 1030, 2000] {
        let long = "a".repeat(n);
        for text in [
            format!("{long}: 1\n"),
            format!("k: {{{long}: 1}}\n"),
            format!("k: {{x: 1, {long}: 1}}\n"),
            format!("k: [{long}]\n"),
            format!("k: {long}\n"),
            format!("- {long}: 1\n"),
            format!("\"{long}\": 1\n"),
            format!("\"a\"{}: 1\n", " ".repeat(n)),
            format!("k: {{\"a\"{}: 1}}\n", " ".repeat(n)),
            format!("k: {{a{}: 1}}\n", " ".repeat(n)),
        ] {
            same(&text);
        }
    }
    // Nesting past the reader's depth (64) and past serde_yaml_ng's recursion limit (128).
    for depth in [10, 63, 64, 65, 70, 127, 128, 129, 200] {
        let block: String = (0..depth).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect::<String>() + &" ".repeat(depth) + "v: 1\n";
        let seqs: String = (0..depth).map(|i| format!("{}-\n", " ".repeat(i))).collect::<String>() + &" ".repeat(depth) + "x\n";
        let flow = format!("k: {}1{}\n", "[".repeat(depth), "]".repeat(depth));
        for text in [block, format!("k:\n{seqs}"), flow] {
            same(&text);
        }
    }
}

#[test]
fn what_helm_and_kubectl_print_is_read_without_serde_yaml_ng() {
    let text = "---\n# Source: chart/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: t0\n  labels:\n    app.kubernetes.io/name: \"app\"\n    helm.sh/chart: app-1.0.0\n  annotations: {}\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {app: api-0}\n  template:\n    metadata:\n      labels: {app: api-0}\n    spec:\n      containers:\n        - name: app\n          image: 'registry.example.com/t0/app:1'\n          args: [\"--port\", \"8080\", --verbose]\n          ports:\n          - containerPort: 8080\n            protocol: TCP\n          resources:\n            limits: {cpu: 500m, memory: 1Gi}\n          securityContext:\n            runAsNonRoot: true\n            runAsUser: 1000\n            readOnlyRootFilesystem: ~\n      tolerations: []\n---\napiVersion: v1\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n  data:\n    ratio: \"0.5\"\n    level: 3.5e2\nkind: List\n";
    assert_eq!(same(text), (3, 3), "every document read by the block reader");
    let m = parse("m.yaml", text).unwrap();
    assert_eq!(m[0].value["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"], 8080);
    assert_eq!(m[0].value["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"], Value::Null);
    assert_eq!(m[1].value["data"]["level"], 350.0);
    assert_eq!((m[1].line, m[1].item), (37, Some(1)));
    // Escapes and numbers the reader resolves itself, as serde_yaml_ng does.
    let doc = "k: \"a\\0b\\r\\t\\/\\\"\"\nn: [0x1F, -0o17, +12, 1e3, .inf, -.5, 007, 0b101, ~, True, yes]\n";
    let v = block_yaml::read(doc).expect("read by the block reader");
    assert_eq!(v, serde_yaml_ng::from_str::<Value>(doc).unwrap());
    assert_eq!(v["k"], "a\0b\r\t/\"");
    assert_eq!(v["n"], serde_json::json!([31, -15, 12, 1000.0, null, -0.5, "007", 5, null, true, "yes"]));
}

/// The repository's YAML (examples, tests, the crates' tests, the shared
/// fixtures): every file read both ways gives the same answer.
#[test]
fn every_yaml_file_of_the_repository_reads_the_same_both_ways() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs = vec![root.join("examples"), root.join("tests"), root.join("lsp/tests"), root.join("../shared/fixtures")];
    for c in std::fs::read_dir(root.join("compiler")).unwrap() {
        dirs.push(c.unwrap().path().join("tests"));
    }
    let mut files = Vec::new();
    for d in dirs {
        walk(&d, &mut files);
    }
    files.sort();
    let (mut read, mut fast, mut docs) = (0, 0, 0);
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else { continue };
        let (f, n) = same(&text);
        (read, fast, docs) = (read + 1, fast + f, docs + n);
    }
    assert!(read > 200, "only {read} YAML files found");
    eprintln!("{read} YAML files, {fast} of their {docs} documents read by the block reader");
    assert!(fast * 10 > docs * 9, "the block reader should read most of the repository's documents");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name == "target" || name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out);
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(p);
        }
    }
}
