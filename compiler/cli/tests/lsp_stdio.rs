//! `khc lsp --stdio` as a process: malformed frames and bad JSON are answered
//! with JSON-RPC errors and the server keeps serving; diagnostics of a tenant
//! file in a sub-folder are semantic; `shutdown` + `exit` end it with status 0.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
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
