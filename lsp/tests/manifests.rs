//! Application manifests in the language server (#23 item 1): an open
//! `*.yaml` holding Kubernetes objects gets `khc eval`'s findings as diagnostics
//! on the offending field's line, related to the `.khc` statement that imposes
//! them; certain quick fixes clear them; editing a `.khc` rule re-judges open
//! manifests.

use khc_analysis::eval::{evaluate_with, Options, Severity};
use khc_lsp::transport::Incoming;
use khc_lsp::Server;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/multi-tenant").canonicalize().unwrap()
}

struct Client {
    server: Server,
    id: i64,
    version: i64,
}

impl Client {
    fn start(dir: &Path, options: Value) -> Client {
        let mut c = Client { server: Server::default(), id: 0, version: 1 };
        let uri = format!("file://{}", dir.display());
        c.send(vec![json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "rootUri": uri, "workspaceFolders": [{"uri": uri, "name": "ws"}], "capabilities": {}, "initializationOptions": options}})]);
        c.send(vec![json!({"jsonrpc": "2.0", "method": "initialized", "params": {}})]);
        c
    }
    fn send(&mut self, msgs: Vec<Value>) -> Vec<Value> {
        self.server.handle_batch(msgs.into_iter().map(Incoming::Message).collect()).0
    }
    fn notify(&mut self, method: &str, params: Value) -> Vec<Value> {
        self.send(vec![json!({"jsonrpc": "2.0", "method": method, "params": params})])
    }
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let out = self.send(vec![json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params})]);
        out.into_iter().find(|m| m["id"] == json!(self.id)).expect("an answer")
    }
    fn open(&mut self, path: &Path, text: &str) -> Vec<Value> {
        let lang = if path.extension().is_some_and(|e| e == "khc") { "khc" } else { "yaml" };
        self.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri(path), "languageId": lang, "version": self.version, "text": text}}))
    }
    fn change(&mut self, path: &Path, text: &str) -> Vec<Value> {
        self.version += 1;
        self.notify("textDocument/didChange", json!({"textDocument": {"uri": uri(path), "version": self.version}, "contentChanges": [{"text": text}]}))
    }
}

fn uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// The diagnostics last published for `path` in `out`.
fn diagnostics(out: &[Value], path: &Path) -> Option<Vec<Value>> {
    out.iter()
        .rev()
        .find(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri(path))
        .map(|p| p["params"]["diagnostics"].as_array().unwrap().clone())
}

/// `(0-based line, LSP severity, message)` of each diagnostic.
fn summary(ds: &[Value]) -> Vec<(u64, u64, String)> {
    ds.iter().map(|d| (d["range"]["start"]["line"].as_u64().unwrap(), d["severity"].as_u64().unwrap(), d["message"].as_str().unwrap().to_string())).collect()
}

/// What `khc eval FILE -p EXAMPLE` finds, as the same summary: the line of the
/// field (`[at FILE:LINE]`) or of the object.
fn eval_summary(ws: &khc_analysis::Workspace, path: &Path) -> Vec<(u64, u64, String)> {
    let key = path.to_str().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let ms = khc_analysis::manifest::parse(key, &text).unwrap();
    evaluate_with(ws, &ms, &Options::default())
        .into_iter()
        .map(|f| {
            let loc = f.field_location.clone().unwrap_or(f.location.clone());
            let line: u64 = loc.rsplit_once(':').unwrap().1.parse().unwrap();
            let sev = match f.severity {
                Severity::Deny => 1,
                Severity::Warn => 2,
                Severity::Info => 3,
            };
            (line - 1, sev, f.message)
        })
        .collect()
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    out.sort();
}

/// The diagnostics of every example manifest (`apps/`) and of every generated
/// object file (`generated/`) equal `khc eval`'s findings on it: message,
/// severity and line.
#[test]
fn manifest_diagnostics_equal_khc_eval() {
    let dir = example_dir();
    let ws = khc_analysis::Workspace::load(&dir).unwrap();
    let mut c = Client::start(&dir, Value::Null);
    let mut files = Vec::new();
    yaml_files(&dir.join("apps"), &mut files);
    let apps = files.len();
    yaml_files(&dir.join("generated"), &mut files);
    assert!(apps >= 2 && files.len() > 50, "{files:?}");
    let mut findings = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let out = c.open(f, &text);
        let got = summary(&diagnostics(&out, f).unwrap_or_else(|| panic!("{}: nothing published: {out:?}", f.display())));
        let want = eval_summary(&ws, f);
        assert_eq!(got, want, "{}", f.display());
        findings += want.len();
    }
    assert!(findings >= 7, "the example's debug.yaml alone has 7 findings: {findings}");
}

/// The squiggle sits on the field, names the imposing statement, and the
/// certain quick fix clears it; a `.khc` edit re-judges the open manifest.
#[test]
fn squiggle_on_the_field_related_to_the_rule_with_a_quick_fix() {
    let dir = example_dir();
    let mut c = Client::start(&dir, Value::Null);
    let debug = dir.join("apps/payments/debug.yaml");
    let text = std::fs::read_to_string(&debug).unwrap();
    let ds = diagnostics(&c.open(&debug, &text), &debug).unwrap();
    let host = ds.iter().find(|d| d["message"] == "hostNetwork must not be true (pod-security enforce restricted)").expect("hostNetwork");
    let line = text.lines().position(|l| l.trim() == "hostNetwork: true").unwrap() as u64;
    assert_eq!(host["range"], json!({"start": {"line": line, "character": 6}, "end": {"line": line, "character": 23}}));
    assert_eq!(host["code"], "manifest");
    assert_eq!(host["severity"], 1);
    let rel = &host["relatedInformation"][0];
    assert_eq!(rel["location"]["uri"], uri(&dir.join("tenants/payments.khc")));
    assert_eq!(rel["location"]["range"]["start"]["line"], 1, "`tenant payments {{` sets its Pod Security: {rel}");
    // The fix for allowPrivilegeEscalation.
    let ape: Vec<&Value> = ds.iter().filter(|d| d["message"].as_str().unwrap().contains("allowPrivilegeEscalation")).collect();
    assert_eq!(ape.len(), 2, "Pod Security and the admission rule: {ds:?}");
    let actions =
        c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri(&debug)}, "range": ape[0]["range"], "context": {"diagnostics": ape}}));
    assert_eq!(actions["result"].as_array().unwrap().len(), 1, "one action fixes both findings of the field: {actions}");
    let a = &actions["result"][0];
    assert_eq!(a["diagnostics"].as_array().unwrap().len(), 2);
    assert_eq!(a["title"], "Set `allowPrivilegeEscalation: false`", "{actions}");
    let edit = &a["edit"]["changes"][uri(&debug)][0];
    assert_eq!(edit["newText"], "false");
    let fixed = text.replacen("allowPrivilegeEscalation: true", "allowPrivilegeEscalation: false", 1);
    let after = diagnostics(&c.change(&debug, &fixed), &debug).unwrap();
    assert!(!after.iter().any(|d| d["message"].as_str().unwrap().contains("allowPrivilegeEscalation")), "{after:?}");
    assert_eq!(after.len(), ds.len() - 2);
    // No fix is offered where none is certain (hostNetwork).
    let actions =
        c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri(&debug)}, "range": host["range"], "context": {"diagnostics": [host]}}));
    assert_eq!(actions["result"], json!([]));
    // A `.khc` edit re-judges the open manifest: privileged Pod Security drops
    // the Pod Security findings (the admission rules remain).
    let payments = dir.join("tenants/payments.khc");
    let src = std::fs::read_to_string(&payments).unwrap();
    c.open(&payments, &src);
    let out = c.change(&payments, &src.replacen("pod-security restricted", "pod-security privileged", 1));
    let rejudged = diagnostics(&out, &debug).expect("the open manifest is re-judged");
    assert!(!rejudged.iter().any(|d| d["message"].as_str().unwrap().contains("(pod-security enforce")), "{rejudged:?}");
    assert!(rejudged.iter().any(|d| d["message"].as_str().unwrap().contains("hostNetwork, hostPID and hostIPC are not allowed")), "{rejudged:?}");
    // Closing the manifest clears its diagnostics.
    let out = c.notify("textDocument/didClose", json!({"textDocument": {"uri": uri(&debug)}}));
    assert_eq!(diagnostics(&out, &debug), Some(vec![]));
}

/// YAML that is not Kubernetes objects gets nothing; `initializationOptions.
/// manifests` limits the folders whose manifests are judged.
#[test]
fn other_yaml_and_other_folders_are_left_alone() {
    let dir = example_dir();
    let debug = dir.join("apps/payments/debug.yaml");
    let text = std::fs::read_to_string(&debug).unwrap();
    let mut c = Client::start(&dir, json!({"manifests": ["generated"]}));
    assert_eq!(diagnostics(&c.open(&debug, &text), &debug), Some(vec![]), "apps/ is not listed");
    let mut c = Client::start(&dir, json!({"manifests": ["apps"]}));
    assert!(!diagnostics(&c.open(&debug, &text), &debug).unwrap().is_empty());
    let compose = dir.join("apps/compose.yaml");
    assert_eq!(diagnostics(&c.open(&compose, "services:\n  web:\n    image: nginx\n"), &compose), Some(vec![]));
    let broken = dir.join("apps/broken.yaml");
    assert_eq!(diagnostics(&c.open(&broken, "kind: [\n"), &broken), Some(vec![]));
    // Hover and other requests on a manifest answer nothing (not khc source).
    let h = c.request("textDocument/hover", json!({"textDocument": {"uri": uri(&debug)}, "position": {"line": 3, "character": 2}}));
    assert_eq!(h["result"], Value::Null);
}

/// Applies LSP text edits to ASCII `text`.
fn apply(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| {
        let (l, c) = (p["line"].as_u64().unwrap() as usize, p["character"].as_u64().unwrap() as usize);
        text.split_inclusive('\n').take(l).map(str::len).sum::<usize>() + c
    };
    let mut es: Vec<(usize, usize, &str)> =
        edits.iter().map(|e| (offset(&e["range"]["start"]), offset(&e["range"]["end"]), e["newText"].as_str().unwrap())).collect();
    es.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (s, e, t) in es {
        out.replace_range(s..e, t);
    }
    out
}

/// Fields the restricted profile requires and a manifest leaves out: each quick
/// fix adds them (to every container, or the pod's seccomp profile), and after
/// applying every offered fix those findings are gone.
#[test]
fn quick_fixes_add_missing_fields() {
    let dir = example_dir();
    let mut c = Client::start(&dir, Value::Null);
    let pod = dir.join("apps/payments/bare.yaml");
    let mut text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bare\n  namespace: payments\n  labels:\n    app: payments-api\nspec:\n  serviceAccountName: api\n  securityContext:\n    runAsNonRoot: true\n    appArmorProfile:\n      type: RuntimeDefault\n  containers:\n    - name: a\n      image: registry.example.com/payments/a:1\n      resources:\n        limits: {cpu: 100m, memory: 64Mi}\n        requests: {cpu: 100m, memory: 64Mi}\n    - name: b\n      image: registry.example.com/payments/b:1\n      securityContext:\n        runAsUser: 10001\n      resources:\n        limits: {cpu: 100m, memory: 64Mi}\n        requests: {cpu: 100m, memory: 64Mi}\n".to_string();
    let fixed = ["allowPrivilegeEscalation", "capabilities", "seccomp", "read-only", "readOnlyRootFilesystem"];
    let about_fixed = |ds: &[Value]| ds.iter().filter(|d| fixed.iter().any(|f| d["message"].as_str().unwrap().contains(f))).count();
    let mut ds = diagnostics(&c.open(&pod, &text), &pod).unwrap();
    assert!(about_fixed(&ds) >= 4, "{:#?}", summary(&ds));
    let mut titles = Vec::new();
    for _ in 0..6 {
        let actions =
            c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri(&pod)}, "range": ds[0]["range"], "context": {"diagnostics": ds}}));
        let Some(a) = actions["result"].as_array().unwrap().first().cloned() else { break };
        titles.push(a["title"].as_str().unwrap().to_string());
        text = apply(&text, a["edit"]["changes"][uri(&pod)].as_array().unwrap());
        ds = diagnostics(&c.change(&pod, &text), &pod).unwrap();
    }
    assert_eq!(about_fixed(&ds), 0, "after {titles:?}:\n{text}\n{:#?}", summary(&ds));
    assert!(titles.iter().any(|t| t.contains("allowPrivilegeEscalation")) && titles.iter().any(|t| t.contains("seccomp")), "{titles:?}");
    assert!(text.contains("      securityContext:\n        allowPrivilegeEscalation: false\n") || text.contains("        runAsUser: 10001\n"), "{text}");
    serde_yaml_ng_check(&text);
}

/// The fixed text is still YAML with the fields where Kubernetes reads them.
fn serde_yaml_ng_check(text: &str) {
    let ms = khc_analysis::manifest::parse("x", text).unwrap();
    let spec = &ms[0].value["spec"];
    assert_eq!(spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", "{text}");
    for c in spec["containers"].as_array().unwrap() {
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false, "{text}");
        assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]), "{text}");
    }
    assert_eq!(spec["containers"][1]["securityContext"]["runAsUser"], 10001);
}

/// Pods whose labels match no workload of their tenant: the quick fix declares
/// them in the tenant's `.khc` (named after the object, selecting its labels),
/// and once that edit is in, the open manifest is re-judged without the warning.
#[test]
fn quick_fix_declares_the_missing_workload() {
    let dir = example_dir();
    let mut c = Client::start(&dir, Value::Null);
    let m = dir.join("apps/payments/reports.yaml");
    let text = std::fs::read_to_string(dir.join("apps/payments/api.yaml"))
        .unwrap()
        .split("---")
        .next()
        .unwrap()
        .replace("name: api\n", "name: reports\n")
        .replace("app: payments-api", "app: payments-reports")
        .replace("serviceAccountName: api", "serviceAccountName: reports");
    let ds = diagnostics(&c.open(&m, &text), &m).unwrap();
    let undeclared: Vec<&Value> = ds.iter().filter(|d| d["data"]["rule"] == "undeclared-workload").collect();
    assert_eq!(undeclared.len(), 1, "{:#?}", summary(&ds));
    let actions = c.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri(&m)}, "range": undeclared[0]["range"], "context": {"diagnostics": [undeclared[0]]}}),
    );
    let a = &actions["result"][0];
    assert_eq!(a["title"], "Declare workload `reports` in tenant `payments`", "{actions}");
    let payments = dir.join("tenants/payments.khc");
    let edits = a["edit"]["changes"][uri(&payments)].as_array().unwrap();
    assert_eq!(edits[0]["newText"], "  workload reports { selector { app \"payments-reports\" } }\n");
    let src = std::fs::read_to_string(&payments).unwrap();
    c.open(&payments, &src);
    let out = c.change(&payments, &apply(&src, edits));
    let p = out.iter().find(|x| x["params"]["uri"] == uri(&payments)).expect("payments.khc published");
    assert_eq!(p["params"]["diagnostics"], json!([]), "the declaration is valid khc");
    let after = diagnostics(&out, &m).expect("the manifest is re-judged");
    assert!(!after.iter().any(|d| d["data"]["rule"] == "undeclared-workload" || d["data"]["rule"] == "undeclared-service-account"), "{:#?}", summary(&after));
}
