//! References, definitions and rename through the name index's maps (issue 24:
//! no scan per lookup) give the answers of the scans they replaced: every
//! definition, reference and rename candidate of a generated fleet, the
//! `examples/multi-tenant` program and a role-shadowing fixture, compared with
//! the linear scans; and the server's references/rename on a generated fleet.

use khc_lsp::transport::Incoming;
use khc_lsp::Server;
use khc_semantics::index::{index_file, Definition, ProgramIndex, Reference, SymbolId, SymbolKind};
use khc_syntax::FileKey;
use khc_tests::workspace_gen::{Workspace, ENTRY};
use serde_json::{json, Value};
use std::path::Path;

fn index_of(files: &[(String, String)]) -> ProgramIndex {
    ProgramIndex::new(
        files
            .iter()
            .map(|(path, text)| {
                let key = FileKey::from(path.as_str());
                index_file(&key, &khc_syntax::parse(&key, text).tree())
            })
            .collect(),
    )
}

/// The scan `definition` was: the first definition with the identity, else for a
/// role the first cluster role of its name.
fn scan_definition<'a>(ix: &'a ProgramIndex, s: &SymbolId) -> Option<&'a Definition> {
    ix.definitions()
        .find(|d| d.id == *s)
        .or_else(|| (s.kind == SymbolKind::Role).then(|| ix.definitions().find(|d| d.id.kind == SymbolKind::ClusterRole && d.id.name == s.name)).flatten())
}

/// The scan `rename` ran for a collision.
fn scan_name_taken(ix: &ProgramIndex, def: &SymbolId, new: &str) -> bool {
    let same_scope = |k: SymbolKind| match (def.kind, k) {
        (SymbolKind::Role | SymbolKind::ClusterRole, SymbolKind::Role | SymbolKind::ClusterRole) => true,
        (a, b) => a == b,
    };
    ix.definitions().any(|d| same_scope(d.id.kind) && d.id.name == new && (d.id.tenant == def.tenant || d.id.kind == SymbolKind::ClusterRole))
}

fn assert_same_as_scans(what: &str, files: &[(String, String)]) {
    let ix = index_of(files);
    let refs: Vec<&Reference> = ix.references().collect();
    let defs: Vec<&Definition> = ix.definitions().collect();
    assert!(!defs.is_empty() && !refs.is_empty(), "{what}: something to look up");
    for r in &refs {
        assert_eq!(ix.definition(&r.target), scan_definition(&ix, &r.target), "{what}: definition of {:?}", r.target);
    }
    // Each reference resolved once, grouped by definition: the references of each.
    let mut resolved: std::collections::HashMap<*const Definition, Vec<&Reference>> = Default::default();
    for r in &refs {
        if let Some(d) = scan_definition(&ix, &r.target) {
            resolved.entry(d as *const Definition).or_default().push(r);
        }
    }
    let mut names: Vec<String> = defs.iter().map(|d| d.id.name.clone()).collect();
    names.sort();
    names.dedup();
    names.push("fresh-name".into());
    for d in &defs {
        let expected = resolved.get(&(*d as *const Definition)).cloned().unwrap_or_default();
        assert_eq!(ix.references_of(d).collect::<Vec<_>>(), expected, "{what}: references of {:?}", d.id);
        for new in names.iter().step_by(1 + names.len() / 40) {
            assert_eq!(ix.name_taken(&d.id, new), scan_name_taken(&ix, &d.id, new), "{what}: renaming {:?} to {new}", d.id);
        }
    }
    // What is at each occurrence's start, middle and end, and just past it.
    let spans: Vec<(&str, khc_syntax::Span)> = defs.iter().map(|d| (&*d.file, d.span)).chain(refs.iter().map(|r| (&*r.file, r.span))).collect();
    for (path, span) in spans {
        for offset in [span.start.saturating_sub(1), span.start, (span.start + span.end) / 2, span.end, span.end + 1] {
            let scan = ix
                .definitions()
                .find(|d| &*d.file == path && d.span.touches(offset))
                .map(|d| d.id.clone())
                .or_else(|| ix.references().find(|r| &*r.file == path && r.span.touches(offset)).map(|r| r.target.clone()));
            assert_eq!(ix.at(path, offset).map(|o| o.symbol().clone()), scan, "{what}: at {path}:{offset}");
        }
    }
}

#[test]
fn indexed_answers_equal_the_scans() {
    let ws = Workspace::new(40);
    assert_same_as_scans("generated fleet", &ws.files());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/multi-tenant");
    let files: Vec<(String, String)> = ["cluster.khc", "tenants/payments.khc", "tenants/monitoring.khc", "tenants/legacy.khc"]
        .iter()
        .map(|f| (f.to_string(), std::fs::read_to_string(dir.join(f)).unwrap()))
        .collect();
    assert_same_as_scans("multi-tenant", &files);
    // Cluster roles, a tenant role that shadows one, a role defined twice, a grant
    // of an undefined role, and a second file that names the first one's symbols.
    let shadowing = vec![
        (
            "a.khc".to_string(),
            "cluster c {\n  role reader { can get on pods }\n  role reader { can list on pods }\n  grant reader to group \"x\"\n}\n\
tenant a {\n  grant reader to group \"g\"\n  grant ghost to group \"g\"\n}\n\
tenant b {\n  role reader { can list on pods }\n  role reader { can watch on pods }\n  grant reader to group \"h\"\n  workload api {}\n}\n"
                .to_string(),
        ),
        (
            "b.khc".to_string(),
            "tenant d {\n  grant reader to group \"i\" tenant b workload api\n  allow egress from workload w to tenant b workload api ports 80\n}\n"
                .to_string(),
        ),
    ];
    assert_same_as_scans("shadowing", &shadowing);
}

fn send(server: &mut Server, id: i64, method: &str, params: Value) -> Value {
    let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    server.handle_batch(vec![Incoming::Message(msg)]).0.into_iter().find(|m| m["id"] == json!(id)).expect("an answer")
}

/// On a generated fleet, as the benchmark asks: the references of a peer tenant's
/// name are its declaration and the four cross-tenant allows that name it, and
/// rename edits exactly those.
#[test]
fn references_and_rename_of_a_peer_tenant_on_a_generated_fleet() {
    let n = 60;
    let ws = Workspace::new(n);
    let dir = std::env::temp_dir().join(format!("khc-lsp-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ws.write(&dir).unwrap();
    let root = format!("file://{}", dir.display());
    let mut server = Server::default();
    send(&mut server, 0, "initialize", json!({"rootUri": root, "workspaceFolders": [{"uri": root, "name": "ws"}], "capabilities": {}}));
    server.handle_batch(vec![Incoming::Message(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}))]);
    let target = n / 2;
    let text = ws.tenant_source(target, 0);
    let uri = format!("{root}/{}", ws.tenant_path(target));
    let open = |uri: &str, text: &str| json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "khc", "version": 1, "text": text}}});
    server.handle_batch(vec![Incoming::Message(open(&format!("{root}/{ENTRY}"), &ws.cluster_source())), Incoming::Message(open(&uri, &text))]);
    let at = text.find("to tenant ").unwrap() + "to tenant ".len() + 1;
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    let peer = Workspace::tenant_name(target + 1);
    let pos = json!({"line": line, "character": col});
    let r = send(&mut server, 1, "textDocument/references", json!({"textDocument": {"uri": uri}, "position": pos, "context": {"includeDeclaration": true}}));
    let locs = r["result"].as_array().unwrap_or_else(|| panic!("{r}"));
    // Declaration, then `to tenant PEER` from the previous tenant (this one) and
    // `from tenant PEER` in the next, and the two STRIDE-apart allows.
    assert_eq!(locs.len(), 5, "{r}");
    for l in locs {
        let file = l["uri"].as_str().unwrap().strip_prefix("file://").unwrap();
        let body = std::fs::read_to_string(file).unwrap();
        let line = body.lines().nth(l["range"]["start"]["line"].as_u64().unwrap() as usize).unwrap();
        let (s, e) = (l["range"]["start"]["character"].as_u64().unwrap() as usize, l["range"]["end"]["character"].as_u64().unwrap() as usize);
        assert_eq!(&line[s..e], peer, "{line}");
    }
    let e = send(&mut server, 2, "textDocument/rename", json!({"textDocument": {"uri": uri}, "position": pos, "newName": "renamed"}));
    let edits: usize = e["result"]["changes"].as_object().unwrap_or_else(|| panic!("{e}")).values().map(|v| v.as_array().unwrap().len()).sum();
    assert_eq!(edits, 5, "{e}");
    // A name another tenant already has is refused.
    let e = send(&mut server, 3, "textDocument/rename", json!({"textDocument": {"uri": uri}, "position": pos, "newName": Workspace::tenant_name(3)}));
    assert!(e["error"]["message"].as_str().unwrap_or("").contains("already exists"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
