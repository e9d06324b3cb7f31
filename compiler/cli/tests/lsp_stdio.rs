//! `khc lsp --stdio` as a process: malformed frames and bad JSON are answered
//! with JSON-RPC errors and the server keeps serving; diagnostics of a tenant
//! file in a sub-folder are semantic; `shutdown` + `exit` end it with status 0.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

fn recv(reader: &mut impl BufRead) -> Value {
    let mut len = 0;
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "server closed its output");
        if line == "\r\n" {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            len = n.trim().parse().unwrap();
        }
    }
    let mut buf = vec![0; len];
    reader.read_exact(&mut buf).unwrap();
    serde_json::from_slice(&buf).unwrap()
}

#[test]
fn stdio_session_survives_bad_frames() {
    let dir = std::env::temp_dir().join(format!("khc-lsp-stdio-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    std::fs::write(
        dir.join("main.khc"),
        "import \"tenants/a.khc\"\ncluster c {\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("tenants/a.khc"), "tenant a {\n  workload api {}\n}\n").unwrap();
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_khc")).args(["lsp", "--stdio"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start khc lsp");
    let mut stdin = child.stdin.take().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut send_raw = |s: &str| {
        stdin.write_all(s.as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    let frame = |v: Value| {
        let body = v.to_string();
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    };
    let uri = format!("file://{}", dir.display());
    send_raw(&frame(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"rootUri": uri, "capabilities": {}}})));
    assert_eq!(recv(&mut reader)["result"]["serverInfo"]["name"], "khc");
    send_raw(&frame(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}})));
    // Bad JSON, then a bad header: two errors, the server goes on.
    send_raw("Content-Length: 5\r\n\r\n{oops");
    assert_eq!(recv(&mut reader)["error"]["code"], -32700);
    send_raw("Content-Length: many\r\n\r\n");
    assert_eq!(recv(&mut reader)["error"]["code"], -32700);
    // A semantic error in the tenant file (not next to the entry file).
    let tenant_uri = format!("{uri}/tenants/a.khc");
    let text = "tenant a {\n  workload api {}\n  allow ingress from workload apx to workload api\n}\n";
    send_raw(&frame(
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": tenant_uri, "languageId": "khc", "version": 7, "text": text}}}),
    ));
    let p = recv(&mut reader);
    assert_eq!(p["method"], "textDocument/publishDiagnostics");
    assert_eq!(p["params"]["uri"], tenant_uri);
    assert_eq!(p["params"]["version"], 7);
    let diags = p["params"]["diagnostics"].as_array().unwrap();
    assert!(diags.iter().any(|d| d["message"].as_str().unwrap().contains("no workload `apx`")), "{p}");
    send_raw(&frame(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"})));
    assert_eq!(recv(&mut reader)["id"], 2);
    send_raw(&frame(json!({"jsonrpc": "2.0", "id": 3, "method": "textDocument/hover", "params": {}})));
    assert_eq!(recv(&mut reader)["error"]["code"], -32600);
    send_raw(&frame(json!({"jsonrpc": "2.0", "method": "exit"})));
    assert!(child.wait().unwrap().success());
    std::fs::remove_dir_all(&dir).ok();
}

/// A subject of `khc who-can --format json` as the hover spells it.
fn subject_text(v: &Value) -> String {
    match v["kind"].as_str().unwrap() {
        "User" => format!("user:{}", v["name"].as_str().unwrap()),
        "Group" => format!("group:{}", v["name"].as_str().unwrap()),
        _ => format!("sa:{}/{}", v["namespace"].as_str().unwrap(), v["name"].as_str().unwrap()),
    }
}

/// #23 item 2: the "who may touch it here" of a resource's hover (served by
/// `khc lsp --stdio` on the multi-tenant example) names, for each verb, exactly
/// the subjects `khc who-can VERB RESOURCE -n NS --format json` answers over the
/// tenant's namespaces with a grant, a one-step escalation or a grant on named
/// objects (the multi-step paths only the command searches are left out).
#[test]
fn resource_hover_agrees_with_who_can() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/multi-tenant");
    let dir = std::env::temp_dir().join(format!("khc-lsp-touch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    for f in ["cluster.khc", "tenants/payments.khc", "tenants/monitoring.khc", "tenants/legacy.khc"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(dir.join("tenants/payments.khc")).unwrap();
    let mut child =
        Command::new(env!("CARGO_BIN_EXE_khc")).args(["lsp", "--stdio"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("start khc lsp");
    let mut stdin = child.stdin.take().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut send = |v: Value| {
        let body = v.to_string();
        stdin.write_all(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).unwrap();
        stdin.flush().unwrap();
    };
    let uri = format!("file://{}", dir.display());
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"rootUri": uri, "workspaceFolders": [{"uri": uri, "name": "ws"}], "capabilities": {}}}),
    );
    let _ = recv(&mut reader);
    send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    let file_uri = format!("{uri}/tenants/payments.khc");
    send(
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": file_uri, "languageId": "khc", "version": 1, "text": text}}}),
    );
    for (id, resource, needle) in [(2, "deployments.apps", "delete on deployments.apps"), (3, "secrets", "can get on secrets")] {
        let (line, l) = text.lines().enumerate().find(|(_, l)| l.contains(needle)).unwrap();
        let character = l.find(needle).unwrap() + needle.len() - 2;
        send(
            json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/hover", "params": {"textDocument": {"uri": file_uri}, "position": {"line": line, "character": character}}}),
        );
        let hover = loop {
            let m = recv(&mut reader);
            if m["id"] == json!(id) {
                break m;
            }
        };
        let md = hover["result"]["contents"]["value"].as_str().expect("a hover").to_string();
        assert!(md.contains("**Who may touch it here**"), "{md}");
        for verb in ["get", "create", "update", "delete"] {
            let row = md.lines().find(|l| l.starts_with(&format!("- `{verb}`: "))).unwrap_or_else(|| panic!("no {verb} row in {md}"));
            let mut from_hover: Vec<String> = row.split('`').skip(3).step_by(2).map(str::to_string).collect();
            from_hover.sort();
            let mut from_cli = std::collections::BTreeSet::new();
            for ns in ["payments", "payments-jobs"] {
                let out =
                    Command::new(env!("CARGO_BIN_EXE_khc")).args(["who-can", verb, resource, "-n", ns, "--format", "json", "-p"]).arg(&dir).output().unwrap();
                let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
                for scoped in v.as_array().unwrap() {
                    for a in scoped["answers"].as_array().unwrap() {
                        let direct_or_one_step = a["grants"].as_array().is_some_and(|g| !g.is_empty()) || a.get("escalations").is_some();
                        if direct_or_one_step {
                            from_cli.insert(subject_text(&a["subject"]));
                        }
                    }
                    for a in scoped.get("only_named").and_then(Value::as_array).into_iter().flatten() {
                        from_cli.insert(subject_text(&a["subject"]));
                    }
                }
            }
            assert_eq!(from_hover, from_cli.into_iter().collect::<Vec<_>>(), "{verb} {resource}: {row}");
        }
    }
    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(&dir).ok();
}
