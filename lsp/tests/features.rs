//! The language server driven in process with JSON-RPC messages (the same
//! `handle_batch` the stdio loop calls), on a copy of `examples/multi-tenant` and
//! small fixtures whose cursor is marked `$0`.

use expect_test::{expect, Expect};
use khc_lsp::transport::Incoming;
use khc_lsp::Server;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

struct Client {
    server: Server,
    dir: PathBuf,
    id: i64,
    version: i64,
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("khc-lsp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A copy of the example's sources.
fn example(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/multi-tenant");
    let dir = temp(name);
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    for f in ["cluster.khc", "tenants/payments.khc", "tenants/monitoring.khc", "tenants/legacy.khc"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    dir
}

/// Removes the `$0` marker: the text and the marker's (line, UTF-16 column).
fn marked(text: &str) -> (String, Value) {
    let at = text.find("$0").expect("a $0 marker");
    let before = &text[..at];
    let line = before.matches('\n').count();
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].encode_utf16().count();
    (text.replacen("$0", "", 1), json!({"line": line, "character": col}))
}

impl Client {
    fn start(dir: &Path) -> (Client, Vec<Value>) {
        let mut c = Client { server: Server::default(), dir: dir.to_path_buf(), id: 0, version: 1 };
        let uri = format!("file://{}", dir.display());
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "rootUri": uri, "workspaceFolders": [{"uri": uri, "name": "ws"}],
            "capabilities": {"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": true}}}}});
        let mut out = c.send(vec![init]);
        out.extend(c.send(vec![json!({"jsonrpc": "2.0", "method": "initialized", "params": {}})]));
        (c, out)
    }

    fn send(&mut self, msgs: Vec<Value>) -> Vec<Value> {
        self.server.handle_batch(msgs.into_iter().map(Incoming::Message).collect()).0
    }

    fn uri(&self, rel: &str) -> String {
        format!("file://{}/{rel}", self.dir.display())
    }

    fn notify(&mut self, method: &str, params: Value) -> Vec<Value> {
        self.send(vec![json!({"jsonrpc": "2.0", "method": method, "params": params})])
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let out = self.send(vec![json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params})]);
        out.into_iter().find(|m| m["id"] == json!(self.id)).expect("an answer")
    }

    fn open(&mut self, rel: &str, text: &str) -> Vec<Value> {
        let uri = self.uri(rel);
        self.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "khc", "version": self.version, "text": text}}))
    }

    fn change(&mut self, rel: &str, text: &str) -> Vec<Value> {
        self.version += 1;
        let uri = self.uri(rel);
        self.notify("textDocument/didChange", json!({"textDocument": {"uri": uri, "version": self.version}, "contentChanges": [{"text": text}]}))
    }

    /// A request at the `$0` of `text`, after opening it as `rel`.
    fn at(&mut self, rel: &str, text: &str, method: &str, extra: Value) -> Value {
        let (text, pos) = marked(text);
        self.open(rel, &text);
        let mut params = json!({"textDocument": {"uri": self.uri(rel)}, "position": pos});
        if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        self.request(method, params)
    }
}

fn publications<'a>(out: &'a [Value], uri: &str) -> Vec<&'a Value> {
    out.iter().filter(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri).collect()
}

fn messages(p: &Value) -> Vec<String> {
    p["params"]["diagnostics"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap().to_string()).collect()
}

#[test]
fn tenant_file_gets_semantic_diagnostics_quick_fix_and_close_reverts() {
    let dir = example("payments");
    let (mut c, out) = Client::start(&dir);
    assert!(out.iter().any(|m| m["method"] == "client/registerCapability"), "watchers registered: {out:?}");
    assert!(publications(&out, &c.uri("tenants/payments.khc")).is_empty(), "the example is clean");
    let path = dir.join("tenants/payments.khc");
    let good = std::fs::read_to_string(&path).unwrap();
    let bad = good.replace("to workload api ports 8443", "to workload apx ports 8443");
    let uri = c.uri("tenants/payments.khc");
    c.open("tenants/payments.khc", &good);
    let out = c.change("tenants/payments.khc", &bad);
    let p = publications(&out, &uri);
    assert_eq!(p.len(), 1, "{out:?}");
    assert_eq!(p[0]["params"]["version"], json!(c.version));
    let msgs = messages(p[0]);
    assert!(msgs.iter().any(|m| m.contains("has no workload `apx`") && m.contains("did you mean `api`")), "{msgs:?}");
    let d = p[0]["params"]["diagnostics"][0].clone();
    assert_eq!(d["code"], "unknown-name");
    // Only the edited file is published: the others did not change.
    assert_eq!(out.iter().filter(|m| m["method"] == "textDocument/publishDiagnostics").count(), 1, "{out:?}");
    // The quick fix replaces the name.
    let actions = c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}}));
    let action = &actions["result"][0];
    assert_eq!(action["title"], "Replace with `api`");
    assert_eq!(action["edit"]["changes"][&uri][0]["newText"], "api");
    // An unchanged edit still publishes the edited document (with its version).
    let out = c.change("tenants/payments.khc", &bad);
    assert_eq!(publications(&out, &uri).len(), 1);
    // Closing the unsaved buffer reverts to the disk contents: no phantom error.
    let out = c.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    let p = publications(&out, &uri);
    assert_eq!(p.len(), 1, "{out:?}");
    assert!(messages(p[0]).is_empty());
    assert_eq!(p[0]["params"]["version"], Value::Null);
}

#[test]
fn edits_are_coalesced_and_requests_see_them() {
    let dir = example("coalesce");
    let (mut c, _) = Client::start(&dir);
    let path = dir.join("tenants/legacy.khc");
    let text = std::fs::read_to_string(&path).unwrap();
    c.open("tenants/legacy.khc", &text);
    let uri = c.uri("tenants/legacy.khc");
    let mut batch = Vec::new();
    for i in 2..12 {
        batch.push(json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": i}, "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "#"}]}}));
    }
    batch.push(json!({"jsonrpc": "2.0", "id": 99, "method": "khc-bench/barrier", "params": null}));
    let out = c.send(batch);
    let p = publications(&out, &uri);
    assert_eq!(p.len(), 1, "ten edits, one computation: {out:?}");
    assert_eq!(p[0]["params"]["version"], 11);
    // The unknown request is answered with an error, after the publication.
    let last = out.last().unwrap();
    assert_eq!(last["id"], 99);
    assert_eq!(last["error"]["code"], -32601);
}

#[test]
fn robustness_errors_keep_the_server_running() {
    let dir = temp("robust");
    let (mut c, _) = Client::start(&dir);
    let (out, exit) = c.server.handle_batch(vec![
        Incoming::Malformed(-32700, "invalid JSON".into()),
        Incoming::Message(json!({"jsonrpc": "2.0", "id": 1, "method": "no/such", "params": {}})),
        Incoming::Message(json!({"jsonrpc": "2.0", "id": 2})),
        Incoming::Message(json!({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})),
        Incoming::Message(json!({"jsonrpc": "2.0", "id": 4, "method": "textDocument/hover", "params": {}})),
    ]);
    assert_eq!(exit, None);
    assert_eq!(out[0]["error"]["code"], -32700);
    assert_eq!(out[1]["error"]["code"], -32601);
    assert_eq!(out[2]["error"]["code"], -32600);
    assert_eq!(out[3]["result"], Value::Null);
    assert_eq!(out[4]["error"]["code"], -32600, "requests after shutdown are refused");
    let (_, exit) = c.server.handle_batch(vec![Incoming::Message(json!({"jsonrpc": "2.0", "method": "exit"}))]);
    assert_eq!(exit, Some(0));
}

#[test]
fn watched_files_create_and_delete() {
    let dir = example("watch");
    let (mut c, _) = Client::start(&dir);
    // A new tenant file that the cluster does not import: syntax diagnostics only.
    std::fs::write(dir.join("tenants/new.khc"), "tenant fresh {\n  isolation bogus\n  $oops\n}\n").unwrap();
    let uri = c.uri("tenants/new.khc");
    let out = c.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": uri, "type": 1}]}));
    let p = publications(&out, &uri);
    assert_eq!(p.len(), 1, "{out:?}");
    assert!(!messages(p[0]).is_empty());
    // Deleting a file the cluster imports reports the missing import.
    std::fs::remove_file(dir.join("tenants/legacy.khc")).unwrap();
    let out = c.notify("workspace/didChangeWatchedFiles", json!({"changes": [{"uri": c.uri("tenants/legacy.khc"), "type": 3}]}));
    let p = publications(&out, &c.uri("cluster.khc"));
    assert!(p.iter().any(|p| messages(p).iter().any(|m| m.contains("cannot read"))), "{out:?}");
}

/// The answer at `$0` in `rel` after replacing `from` by `to` (which holds the
/// `$0`) in the example's copy of that file.
fn at_edit(c: &mut Client, rel: &str, from: &str, to: &str, method: &str) -> Value {
    let text = std::fs::read_to_string(c.dir.join(rel)).unwrap();
    assert!(text.contains(from), "{rel} has no `{from}`");
    c.at(rel, &text.replacen(from, to, 1), method, json!({}))
}

/// Hover as a snapshot: the markdown the editor shows.
fn check_hover(c: &mut Client, rel: &str, from: &str, to: &str, expect: Expect) {
    let h = at_edit(c, rel, from, to, "textDocument/hover");
    expect.assert_eq(h["result"]["contents"]["value"].as_str().unwrap_or("(no hover)"));
}

/// The labels of a completion answer, in order.
fn labels(v: &Value) -> Vec<String> {
    v["result"].as_array().unwrap().iter().map(|i| i["label"].as_str().unwrap().to_string()).collect()
}

/// Completion as a snapshot: one item a line, `label  (kind) detail → insertText`.
fn check_completion(c: &mut Client, rel: &str, from: &str, to: &str, expect: Expect) {
    let items = at_edit(c, rel, from, to, "textDocument/completion");
    let mut out = String::new();
    for i in items["result"].as_array().unwrap() {
        out.push_str(i["label"].as_str().unwrap());
        if let Some(k) = i["kind"].as_u64() {
            out.push_str(&format!("  ({k})"));
        }
        if let Some(d) = i["detail"].as_str() {
            out.push_str(&format!(" {}", d.lines().next().unwrap_or("")));
        }
        if let Some(t) = i["insertText"].as_str() {
            out.push_str(&format!(" → {t}"));
        }
        out.push('\n');
    }
    expect.assert_eq(&out);
}

#[test]
fn hover() {
    let dir = example("hover");
    let (mut c, _) = Client::start(&dir);
    let c = &mut c;
    let p = "tenants/payments.khc";
    // A statement: its shape and doc from the schema.
    check_hover(
        c,
        p,
        "isolation strict",
        "isol$0ation strict",
        expect![[r#"
            ```khc
            isolation MODE
            ```
            Network isolation: strict (default), tenant, ingress (ingress only, for a migration) or none."#]],
    );
    // `cni`: the statement and a value.
    check_hover(
        c,
        "cluster.khc",
        "  kubernetes 1.35",
        "  kubernetes 1.35\n  c$0ni cilium",
        expect![[r#"
        ```khc
        cni generic|calico|antrea|cilium|kube-router
        ```
        The cluster's CNI: what khc may emit beyond NetworkPolicies (ClusterNetworkPolicy tiers, CiliumNetworkPolicies, DNS-name egress); default generic."#]],
    );
    check_hover(c, "cluster.khc", "  kubernetes 1.35", "  kubernetes 1.35\n  cni cil$0ium", expect!["`cilium` — CNI: Cilium: NetworkPolicies plus CiliumNetworkPolicies: `api-server` egress as `toEntities: kube-apiserver`, DNS names as `toFQDNs` with the DNS proxy rule."]);
    // Back to the file as it is on disk (its tenants' objects are hovered below).
    at_edit(c, "cluster.khc", "  kubernetes 1.35", "  kube$0rnetes 1.35", "textDocument/hover");
    check_hover(
        c,
        p,
        "to cidr 203.0.113.0/24 ports 443",
        "to d$0ns \"api.example.com\" ports 443",
        expect![[r#"`dns` — peer: Egress to DNS names: `dns "api.example.com" "*.example.org"` (needs `cni cilium`, `calico` or `antrea`)."#]],
    );
    // A value: its doc.
    check_hover(
        c,
        p,
        "isolation strict",
        "isolation str$0ict",
        expect!["`strict` — isolation mode: Default deny in and out; only DNS and declared `allow` traffic flows."],
    );
    // `tenant` is a subject kind in `grant`, a peer in `allow` (and an isolation mode elsewhere).
    check_hover(
        c,
        p,
        "grant view to group",
        "grant view to ten$0ant monitoring workload prometheus group",
        expect!["`tenant` — subject kind: A workload of any tenant (its ServiceAccount, in its namespace): `tenant ci workload deployer`."],
    );
    check_hover(c, p, "from tenant monitoring", "from ten$0ant monitoring", expect!["`tenant` — peer: Pods of a tenant: `tenant NAME [workload NAME]`."]);
    // A tenant name: where it is defined and the objects it produces.
    check_hover(
        c,
        p,
        "from tenant monitoring",
        "from tenant moni$0toring",
        expect![[r#"
        **tenant `monitoring`**

        Defined in `monitoring.khc` line 2.

        Produces 21 file(s): 2 × Kustomization, 1 × LimitRange, 1 × Namespace, 7 × NetworkPolicy, 1 × Role, 1 × RoleBinding, 2 × ServiceAccount, 3 × ValidatingAdmissionPolicy, 3 × ValidatingAdmissionPolicyBinding."#]],
    );
    // An admission rule: the CEL it compiles to.
    check_hover(
        c,
        "cluster.khc",
        "    no-latest-tag",
        "    no-lat$0est-tag",
        expect![[r#"
        ```khc
        no-latest-tag 
        ```
        Images are pinned by a tag other than `latest`, or by digest.

        Compiles to the ValidatingAdmissionPolicy validation:
        ```cel
        variables.containers.all(c, c.image.matches('@sha256:[a-f0-9]{64}$') || (c.image.matches(':[^:/]+$') && !c.image.endsWith(':latest'))) && (!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(dyn(v).image) || !has(dyn(v).image.reference) || (dyn(v).image.reference.matches('@sha256:[a-f0-9]{64}$') || (dyn(v).image.reference.matches(':[^:/]+$') && !dyn(v).image.reference.endsWith(':latest')))))
        // message: images (of containers and image volumes) must be pinned to a tag other than 'latest' or to a digest
        ```"#]],
    );
    // The control-plane and fairness statements: shape and doc from the schema.
    check_hover(
        c,
        p,
        "api-share 20",
        "api-sh$0are 20",
        expect![[r#"
        ```khc
        api-share SHARES
        ```
        API Priority and Fairness: the tenant's ServiceAccounts and granted users and groups get their own priority level with SHARES (1–100) nominal concurrency shares; a flood from the tenant queues, then gets 429, in its own level."#]],
    );
    check_hover(
        c,
        "cluster.khc",
        "kubelet-certificate-authority",
        "kubelet-cert$0ificate-authority",
        expect![[r#"
        ```khc
        kubelet-certificate-authority "PATH"
        ```
        The CA bundle (on the control-plane nodes) that signs the kubelets' serving certificates: the API server verifies kubelets with it (`--kubelet-certificate-authority`)."#]],
    );
    // A resource: its group, scope and subresources, as the language spells them.
    check_hover(
        c,
        p,
        "on deployments.apps",
        "on deploy$0ments.apps",
        expect![[r#"
            **`deployments.apps`** — resource `deployments`, API group `apps`.

            Namespaced: a tenant `role` grants it in each of the tenant's namespaces.

            Subresources (granted separately): `deployments.apps/scale`, `deployments.apps/status`.

            **Who may touch it here** (namespaces payments, payments-jobs; as `khc who-can VERB deployments.apps -n NS` answers):

            - `get`: `group:oidc:payments-auditors`, `group:oidc:payments-devs`, `group:oidc:platform-oncall`, `sa:payments-jobs/worker`
            - `create`: `group:oidc:payments-devs`, `sa:payments-jobs/worker`
            - `update`: `group:oidc:payments-devs`, `sa:payments-jobs/worker`
            - `delete`: `group:oidc:payments-devs`, `sa:payments-jobs/worker`"#]],
    );
    check_hover(
        c,
        p,
        "\"pods/log\"",
        "\"pods/l$0og\"",
        expect![[r#"
            **`pods/log`** — subresource `log` of `pods`, the core API group.

            Namespaced: a tenant `role` grants it in each of the tenant's namespaces.

            **Who may touch it here** (namespaces payments, payments-jobs; as `khc who-can VERB pods/log -n NS` answers):

            - `get`: `group:oidc:payments-auditors`, `group:oidc:payments-devs`, `sa:payments-jobs/worker`
            - `create`: nobody
            - `update`: nobody
            - `delete`: nobody"#]],
    );
    check_hover(
        c,
        "cluster.khc",
        "namespaces nodes events",
        "namespaces no$0des events",
        expect![[r#"
            **`nodes`** — resource `nodes`, the core API group.

            Cluster-scoped: only a cluster `role` may grant it (a tenant role's RoleBinding cannot).

            Subresources (granted separately): `nodes/configz`, `nodes/healthz`, `nodes/log`, `nodes/metrics`, `nodes/pods`, `nodes/proxy`, `nodes/spec`, `nodes/stats`, `nodes/status`."#]],
    );
    // `use PROFILE`: the rules the profile brings, each with its line.
    check_hover(
        c,
        p,
        "    use restricted",
        "    use restr$0icted",
        expect![[r#"
        **profile `restricted`**

        Defined in `restricted.khc` line 52.

        A bundle of admission rules; each `use` adds them to a ValidatingAdmissionPolicy.

        It brings 23 rule(s):
        - `use least-privilege` (restricted.khc:53)
          - `use host-isolation` (restricted.khc:31)
            - `no-host-namespaces` (restricted.khc:14)
            - `no-host-ports` (restricted.khc:15)
            - `no-host-path` (restricted.khc:16)
            - `no-docker-socket` (restricted.khc:17)
            - `no-privileged` (restricted.khc:18)
            - `no-host-process` (restricted.khc:19)
            - `no-unmasked-proc-mount` (restricted.khc:20)
            - `allowed-sysctls` (restricted.khc:21)
            - `no-host-probes` (restricted.khc:22)
          - `no-privilege-escalation` (restricted.khc:32)
          - `drop-all-capabilities` (restricted.khc:33)
          - `allowed-capabilities NET_BIND_SERVICE` (restricted.khc:34)
          - `apparmor-runtime-default` (restricted.khc:35)
          - `allowed-selinux-types` (restricted.khc:36)
          - `no-selinux-overrides` (restricted.khc:37)
          - `allowed-volume-types` (restricted.khc:38)
          - `run-as-non-root` (restricted.khc:39)
          - `min-uid 10000` (restricted.khc:40)
          - `seccomp-runtime-default` (restricted.khc:41)
          - `read-only-root-fs` (restricted.khc:42)
        - `use resource-limits` (restricted.khc:54)
          - `require-requests cpu memory` (restricted.khc:47)
          - `require-limits cpu memory` (restricted.khc:48)
        - `no-latest-tag` (restricted.khc:55)"#]],
    );
    // A value of a statement added in the edit.
    check_hover(
        c,
        p,
        "  isolation strict",
        "  isolation strict\n  network-poli$0cies self-managed",
        expect![[r#"
        ```khc
        network-policies khc-only|self-managed
        ```
        Who may write NetworkPolicies in the tenant's namespaces: only the `managed-by` applier (default), or also the tenant's own admins."#]],
    );
}

#[test]
fn completion() {
    let dir = example("complete");
    let (mut c, _) = Client::start(&dir);
    let c = &mut c;
    let p = "tenants/payments.khc";
    // Statements of the tenant block.
    check_completion(
        c,
        p,
        "  isolation strict",
        "  iso$0",
        expect![[r#"
            namespaces  (14) NAME…
            pod-security  (14) LEVEL [{ … }]
            isolation  (14) MODE
            allow  (14) ingress|egress …
            network-policies  (14) khc-only|self-managed
            quota  (14) { … }
            limits  (14) { … }
            role  (14) NAME { … }
            grant  (14) ROLE to SUBJECT…
            workload  (14) NAME { … }
            admission  (14) { … }
            images  (14) { … }
            nodes  (14) { … }
            api-share  (14) SHARES
            deletable-namespaces  (14) NAME…
            exception  (14) NAME { … }
        "#]],
    );
    // A cluster-only rule is offered in the cluster's `admission`, not in a tenant's.
    let rules_in = |c: &mut Client, rel: &str, from: &str, to: &str| labels(&at_edit(c, rel, from, to, "textDocument/completion"));
    let tenant_rules = rules_in(c, p, "    use restricted", "    use restricted\n    $0");
    assert!(tenant_rules.iter().any(|l| l == "no-latest-tag") && !tenant_rules.iter().any(|l| l == "no-workloads-in-default"), "{tenant_rules:?}");
    let cluster_rules = rules_in(c, "cluster.khc", "    no-latest-tag", "    no-latest-tag\n    $0");
    assert!(cluster_rules.iter().any(|l| l == "no-workloads-in-default"), "{cluster_rules:?}");
    // Statements of a nested block (quota).
    check_completion(
        c,
        p,
        "    pods 200",
        "    $0",
        expect![[r#"
        cpu  (14) QUANTITY
        memory  (14) QUANTITY
        limit-cpu  (14) QUANTITY
        limit-memory  (14) QUANTITY
        ephemeral-storage  (14) QUANTITY
        storage  (14) QUANTITY
        pods  (14) COUNT
        services  (14) COUNT
        secrets  (14) COUNT
        configmaps  (14) COUNT
        pvcs  (14) COUNT
        load-balancers  (14) COUNT
        node-ports  (14) COUNT
        budget  (14) tenant
        share  (14) NAMESPACE WEIGHT
        namespace  (14) NAMESPACE KEY QUANTITY …
    "#]],
    );
    // Values: levels, isolation modes, verbs, tenants, workloads.
    check_completion(
        c,
        p,
        "pod-security restricted",
        "pod-security $0",
        expect![[r#"
        privileged  (20) Pod Security level
        baseline  (20) Pod Security level
        restricted  (20) Pod Security level
    "#]],
    );
    check_completion(
        c,
        p,
        "isolation strict",
        "isolation $0",
        expect![[r#"
            strict  (20) isolation mode
            tenant  (20) isolation mode
            ingress  (20) isolation mode
            none  (20) isolation mode
        "#]],
    );
    // The cluster's CNI (SPEC section 6, "The CNI").
    check_completion(
        c,
        "cluster.khc",
        "  kubernetes 1.35",
        "  kubernetes 1.35\n  cni $0",
        expect![[r#"
        generic  (20) CNI
        calico  (20) CNI
        antrea  (20) CNI
        cilium  (20) CNI
        kube-router  (20) CNI
    "#]],
    );
    check_completion(
        c,
        p,
        "  isolation strict",
        "  isolation strict\n  network-policies $0",
        expect![[r#"
        khc-only  (20) NetworkPolicy owner
        self-managed  (20) NetworkPolicy owner
    "#]],
    );
    check_completion(
        c,
        p,
        "from tenant monitoring",
        "from tenant $0",
        expect![[r#"
        legacy  (18) tenant
        monitoring  (18) tenant
        payments  (18) tenant
    "#]],
    );
    check_completion(
        c,
        p,
        "to workload api ports 8443",
        "to workload $0",
        expect![[r#"
        api  (18) workload
        ledger-db  (18) workload
        worker  (18) workload
    "#]],
    );
    check_completion(
        c,
        p,
        "can get on secrets",
        "can $0",
        expect![[r#"
        get  (20) verb
        list  (20) verb
        watch  (20) verb
        create  (20) verb
        update  (20) verb
        patch  (20) verb
        delete  (20) verb
        deletecollection  (20) verb
        use  (20) verb
        bind  (20) verb
        escalate  (20) verb
        impersonate  (20) verb
        approve  (20) verb
        sign  (20) verb
        *  (20) verb
    "#]],
    );
    // Resources insert what the language accepts: the group, and a subresource quoted.
    check_completion(
        c,
        p,
        "can get on secrets",
        "can get on $0",
        expect![[r#"
            bindings  (12) core
            componentstatuses  (12) core
            configmaps  (12) core
            endpoints  (12) core
            events  (12) core
            groups  (12) core
            limitranges  (12) core
            namespaces  (12) core
            namespaces/finalize  (12) core → "namespaces/finalize"
            namespaces/status  (12) core → "namespaces/status"
            nodes  (12) core
            nodes/configz  (12) core → "nodes/configz"
            nodes/healthz  (12) core → "nodes/healthz"
            nodes/log  (12) core → "nodes/log"
            nodes/metrics  (12) core → "nodes/metrics"
            nodes/pods  (12) core → "nodes/pods"
            nodes/proxy  (12) core → "nodes/proxy"
            nodes/spec  (12) core → "nodes/spec"
            nodes/stats  (12) core → "nodes/stats"
            nodes/status  (12) core → "nodes/status"
            persistentvolumeclaims  (12) core
            persistentvolumeclaims/status  (12) core → "persistentvolumeclaims/status"
            persistentvolumes  (12) core
            pods  (12) core
            pods/attach  (12) core → "pods/attach"
            pods/binding  (12) core → "pods/binding"
            pods/ephemeralcontainers  (12) core → "pods/ephemeralcontainers"
            pods/eviction  (12) core → "pods/eviction"
            pods/exec  (12) core → "pods/exec"
            pods/log  (12) core → "pods/log"
            pods/portforward  (12) core → "pods/portforward"
            pods/proxy  (12) core → "pods/proxy"
            pods/status  (12) core → "pods/status"
            podtemplates  (12) core
            replicationcontrollers  (12) core
            replicationcontrollers/scale  (12) core → "replicationcontrollers/scale"
            replicationcontrollers/status  (12) core → "replicationcontrollers/status"
            resourcequotas  (12) core
            resourcequotas/status  (12) core → "resourcequotas/status"
            secrets  (12) core
            serviceaccounts  (12) core
            serviceaccounts/token  (12) core → "serviceaccounts/token"
            services  (12) core
            services/proxy  (12) core → "services/proxy"
            services/status  (12) core → "services/status"
            users  (12) core
            controllerrevisions.apps  (12) apps
            daemonsets.apps  (12) apps
            daemonsets.apps/status  (12) apps → "daemonsets.apps/status"
            deployments.apps  (12) apps
            deployments.apps/scale  (12) apps → "deployments.apps/scale"
            deployments.apps/status  (12) apps → "deployments.apps/status"
            replicasets.apps  (12) apps
            replicasets.apps/scale  (12) apps → "replicasets.apps/scale"
            replicasets.apps/status  (12) apps → "replicasets.apps/status"
            statefulsets.apps  (12) apps
            statefulsets.apps/scale  (12) apps → "statefulsets.apps/scale"
            statefulsets.apps/status  (12) apps → "statefulsets.apps/status"
            cronjobs.batch  (12) batch
            cronjobs.batch/status  (12) batch → "cronjobs.batch/status"
            jobs.batch  (12) batch
            jobs.batch/status  (12) batch → "jobs.batch/status"
            horizontalpodautoscalers.autoscaling  (12) autoscaling
            horizontalpodautoscalers.autoscaling/status  (12) autoscaling → "horizontalpodautoscalers.autoscaling/status"
            poddisruptionbudgets.policy  (12) policy
            poddisruptionbudgets.policy/status  (12) policy → "poddisruptionbudgets.policy/status"
            ingressclasses.networking.k8s.io  (12) networking.k8s.io
            ingresses.networking.k8s.io  (12) networking.k8s.io
            ingresses.networking.k8s.io/status  (12) networking.k8s.io → "ingresses.networking.k8s.io/status"
            networkpolicies.networking.k8s.io  (12) networking.k8s.io
            clusterrolebindings.rbac.authorization.k8s.io  (12) rbac.authorization.k8s.io
            clusterroles.rbac.authorization.k8s.io  (12) rbac.authorization.k8s.io
            rolebindings.rbac.authorization.k8s.io  (12) rbac.authorization.k8s.io
            roles.rbac.authorization.k8s.io  (12) rbac.authorization.k8s.io
            csidrivers.storage.k8s.io  (12) storage.k8s.io
            csinodes.storage.k8s.io  (12) storage.k8s.io
            csistoragecapacities.storage.k8s.io  (12) storage.k8s.io
            storageclasses.storage.k8s.io  (12) storage.k8s.io
            volumeattachments.storage.k8s.io  (12) storage.k8s.io
            leases.coordination.k8s.io  (12) coordination.k8s.io
            endpointslices.discovery.k8s.io  (12) discovery.k8s.io
            events.events.k8s.io  (12) events.k8s.io
            priorityclasses.scheduling.k8s.io  (12) scheduling.k8s.io
            runtimeclasses.node.k8s.io  (12) node.k8s.io
            customresourcedefinitions.apiextensions.k8s.io  (12) apiextensions.k8s.io
            customresourcedefinitions.apiextensions.k8s.io/status  (12) apiextensions.k8s.io → "customresourcedefinitions.apiextensions.k8s.io/status"
            mutatingwebhookconfigurations.admissionregistration.k8s.io  (12) admissionregistration.k8s.io
            validatingadmissionpolicies.admissionregistration.k8s.io  (12) admissionregistration.k8s.io
            validatingadmissionpolicybindings.admissionregistration.k8s.io  (12) admissionregistration.k8s.io
            validatingwebhookconfigurations.admissionregistration.k8s.io  (12) admissionregistration.k8s.io
            certificatesigningrequests.certificates.k8s.io  (12) certificates.k8s.io
            certificatesigningrequests.certificates.k8s.io/approval  (12) certificates.k8s.io → "certificatesigningrequests.certificates.k8s.io/approval"
            certificatesigningrequests.certificates.k8s.io/status  (12) certificates.k8s.io → "certificatesigningrequests.certificates.k8s.io/status"
            signers.certificates.k8s.io  (12) certificates.k8s.io
            tokenreviews.authentication.k8s.io  (12) authentication.k8s.io
            uids.authentication.k8s.io  (12) authentication.k8s.io
            userextras.authentication.k8s.io/scopes  (12) authentication.k8s.io → "userextras.authentication.k8s.io/scopes"
            localsubjectaccessreviews.authorization.k8s.io  (12) authorization.k8s.io
            selfsubjectaccessreviews.authorization.k8s.io  (12) authorization.k8s.io
            selfsubjectrulesreviews.authorization.k8s.io  (12) authorization.k8s.io
            subjectaccessreviews.authorization.k8s.io  (12) authorization.k8s.io
        "#]],
    );
    // After a complete peer: what may follow.
    let peer = "from tenant monitoring workload prometheus to workload api ports 9090";
    check_completion(
        c,
        p,
        peer,
        "from tenant monitoring workload prometheus $0",
        expect![[r#"
        to  (14) The receiving side; in `grant`, the subjects.
        ports  (14) Allowed ports, ranges or port names (`ports 8080 9000-9100 http`; default: all). A name is the destination pod's container port of that name.
        protocol  (14) TCP (default), UDP or SCTP.
    "#]],
    );
    check_completion(
        c,
        p,
        "to cidr 203.0.113.0/24 ports 443",
        "to cidr 203.0.113.0/24 ports 443 $0",
        expect![[r#"
        protocol  (14) TCP (default), UDP or SCTP.
    "#]],
    );
    check_completion(
        c,
        p,
        "allow egress from workload api to cidr",
        "allow egress $0",
        expect![[r#"
        from  (14) The sending side.
        to  (14) The receiving side; in `grant`, the subjects.
    "#]],
    );
    // Stdlib modules in an import.
    check_completion(
        c,
        "cluster.khc",
        "import \"std/restricted\"",
        "import \"std/$0\"",
        expect![[r#"
        std/baseline  (9) standard-library module
        std/restricted  (9) standard-library module
    "#]],
    );
    // The cluster's control-plane statements: `anonymous` modes, `managed-by` subject kinds, the audit block.
    check_completion(
        c,
        "cluster.khc",
        "anonymous health-only",
        "anonymous $0",
        expect![[r#"
        health-only  (20) anonymous mode
        off  (20) anonymous mode
    "#]],
    );
    check_completion(
        c,
        "cluster.khc",
        "managed-by serviceaccount",
        "managed-by $0",
        expect![[r#"
        user  (20) subject kind
        group  (20) subject kind
        workload  (20) subject kind
        tenant  (20) subject kind
        serviceaccount  (20) subject kind
    "#]],
    );
    // A cluster grant to another tenant's workload: `tenant T`, then `workload`, then T's workloads.
    check_completion(
        c,
        "cluster.khc",
        "grant platform-reader to group \"oidc:platform-oncall\"",
        "grant platform-reader to tenant monitoring $0",
        expect![[r#"
            workload  (14) the tenant's workload whose ServiceAccount gets the grant
        "#]],
    );
    check_completion(
        c,
        "cluster.khc",
        "grant platform-reader to group \"oidc:platform-oncall\"",
        "grant platform-reader to tenant monitoring workload $0",
        expect![[r#"
            prometheus  (18) workload
        "#]],
    );
    check_completion(
        c,
        "cluster.khc",
        "    max-age 30",
        "    $0",
        expect![[r#"
        log-path  (14) "PATH"
        max-age  (14) DAYS
        max-backups  (14) N
        max-size  (14) MEGABYTES
    "#]],
    );
    check_completion(
        c,
        "cluster.khc",
        "  kubernetes 1.35",
        "  $0",
        expect![[r#"
            kubernetes  (14) VERSION
            exempt-namespaces  (14) NAME…
            api-server  (14) CIDR…
            pod-cidr  (14) CIDR…
            service-cidr  (14) CIDR…
            cni  (14) generic|calico|antrea|cilium|kube-router
            dns  (14) [namespace NS [selector KEY "VALUE"…]] [cidr ADDRESS…]
            allow  (14) ingress from tenant NAME [workload NAME] to all-tenants … | egress from all-tenants to tenant NAME [workload NAME] …
            quota-scale  (14) FACTOR
            admission-mode  (14) deny|warn|audit…
            encryption  (14) { … }
            admission  (14) { … }
            exception  (14) NAME { … }
            role  (14) NAME { … }
            grant  (14) ROLE to SUBJECT…
            managed-by  (14) SUBJECT…
            audit  (14) { … }
            pod-security  (14) { … }
            authentication  (14) { … }
            images  (14) { … }
            kubelet-certificate-authority  (14) "PATH"
        "#]],
    );
}

#[test]
fn definition_references_rename() {
    let dir = example("nav");
    let (mut c, _) = Client::start(&dir);
    let payments = std::fs::read_to_string(dir.join("tenants/payments.khc")).unwrap();
    let text = payments.replacen("from tenant monitoring", "from tenant monit$0oring", 1);
    let d = c.at("tenants/payments.khc", &text, "textDocument/definition", json!({}));
    assert_eq!(d["result"]["uri"], c.uri("tenants/monitoring.khc"), "{d}");
    assert_eq!(d["result"]["range"]["start"]["line"], 1);
    // References of workload `api` (declaration included).
    let text = payments.replacen("workload api {", "workload a$0pi {", 1);
    let r = c.at("tenants/payments.khc", &text, "textDocument/references", json!({"context": {"includeDeclaration": true}}));
    let refs = r["result"].as_array().unwrap();
    assert!(refs.len() >= 5, "{r}");
    assert!(refs.iter().any(|l| l["uri"] == c.uri("tenants/monitoring.khc")), "monitoring reaches payments' api: {r}");
    // Rename across files.
    let e = c.at("tenants/payments.khc", &text, "textDocument/rename", json!({"newName": "gateway"}));
    let changes = e["result"]["changes"].as_object().unwrap();
    assert!(changes.contains_key(&c.uri("tenants/monitoring.khc")) && changes.contains_key(&c.uri("tenants/payments.khc")), "{e}");
    assert!(changes.values().flat_map(|v| v.as_array().unwrap()).all(|e| e["newText"] == "gateway"));
    // Invalid and colliding names are refused.
    let e = c.at("tenants/payments.khc", &text, "textDocument/rename", json!({"newName": "Bad_Name"}));
    assert!(e["error"]["message"].as_str().unwrap().contains("not a valid name"), "{e}");
    let e = c.at("tenants/payments.khc", &text, "textDocument/rename", json!({"newName": "worker"}));
    assert!(e["error"]["message"].as_str().unwrap().contains("already exists"), "{e}");
}

/// `grant … to tenant T workload W` references tenant T and T's workload W:
/// renaming the workload in its tenant's file renames it in the cluster's grant
/// (and not a same-named workload of the granting tenant).
#[test]
fn rename_reaches_cross_tenant_grant_subjects() {
    let dir = example("nav-grant");
    let cluster = std::fs::read_to_string(dir.join("cluster.khc")).unwrap();
    let cluster = cluster.replacen("grant platform-reader to group", "grant platform-reader to tenant monitoring workload prometheus group", 1);
    std::fs::write(dir.join("cluster.khc"), &cluster).unwrap();
    let (mut c, _) = Client::start(&dir);
    let monitoring = std::fs::read_to_string(dir.join("tenants/monitoring.khc")).unwrap();
    let text = monitoring.replacen("workload prometheus {", "workload prom$0etheus {", 1);
    let e = c.at("tenants/monitoring.khc", &text, "textDocument/rename", json!({"newName": "scraper"}));
    let edits = e["result"]["changes"][c.uri("cluster.khc")].as_array().unwrap_or_else(|| panic!("{e}")).clone();
    assert_eq!(edits.len(), 1, "{e}");
    let line = edits[0]["range"]["start"]["line"].as_u64().unwrap() as usize;
    assert!(cluster.lines().nth(line).unwrap().contains("tenant monitoring workload prometheus"), "{e}");
    // The tenant name in the subject is a reference too.
    let text = cluster.replacen("tenant monitoring workload", "tenant moni$0toring workload", 1);
    let d = c.at("cluster.khc", &text, "textDocument/definition", json!({}));
    assert_eq!(d["result"]["uri"], c.uri("tenants/monitoring.khc"), "{d}");
}

#[test]
fn symbols_tokens_folding_formatting() {
    let dir = example("symbols");
    let (mut c, _) = Client::start(&dir);
    let payments = std::fs::read_to_string(dir.join("tenants/payments.khc")).unwrap();
    c.open("tenants/payments.khc", &payments);
    let doc = json!({"textDocument": {"uri": c.uri("tenants/payments.khc")}});
    let s = c.request("textDocument/documentSymbol", doc.clone());
    let top = &s["result"][0];
    assert_eq!(top["name"], "payments");
    let children: Vec<&str> = top["children"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(children.contains(&"api") && children.contains(&"deployer") && children.contains(&"payments-jobs"), "{children:?}");
    let w = c.request("workspace/symbol", json!({"query": "prom"}));
    assert!(w["result"].as_array().unwrap().iter().any(|s| s["name"] == "prometheus"), "{w}");
    let t = c.request("textDocument/semanticTokens/full", doc.clone());
    let data = t["result"]["data"].as_array().unwrap();
    assert!(data.len() > 100 && data.len() % 5 == 0);
    // The first token is the comment on line 0.
    assert_eq!(&data[..5], &[json!(0), json!(0), json!(payments.lines().next().unwrap().len()), json!(1), json!(0)]);
    let f = c.request("textDocument/foldingRange", doc.clone());
    let f = f["result"].as_array().unwrap();
    assert!(f.iter().any(|r| r["startLine"] == 1), "the tenant block folds: {f:?}");
    assert!(f.iter().any(|r| r["kind"] == "comment"), "{f:?}");
    // Formatting: the example is formatted; a messy copy gets one edit.
    let fm =
        c.request("textDocument/formatting", json!({"textDocument": {"uri": c.uri("tenants/payments.khc")}, "options": {"tabSize": 2, "insertSpaces": true}}));
    assert_eq!(fm["result"], json!([]));
    c.change("tenants/payments.khc", &payments.replacen("  isolation strict", "isolation    strict", 1));
    let fm =
        c.request("textDocument/formatting", json!({"textDocument": {"uri": c.uri("tenants/payments.khc")}, "options": {"tabSize": 2, "insertSpaces": true}}));
    assert_eq!(fm["result"][0]["newText"], payments);
}

#[test]
fn diagnostics_are_capped_per_file() {
    let dir = temp("cap");
    let (mut c, _) = Client::start(&dir);
    let mut text = String::from(
        "cluster c {\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption { provider secretbox { key k env \"K\" } }\n}\ntenant t {\n",
    );
    for i in 0..300 {
        text.push_str(&format!("  bogus{i} x\n"));
    }
    text.push_str("}\n");
    let out = c.open("main.khc", &text);
    let p = publications(&out, &c.uri("main.khc"));
    let d = p[0]["params"]["diagnostics"].as_array().unwrap();
    assert_eq!(d.len(), 201);
    assert!(d[200]["message"].as_str().unwrap().starts_with("100 more"), "{}", d[200]);
}

#[test]
fn quick_fixes_for_unreachable_and_wildcards() {
    let dir = temp("fixes");
    let (mut c, _) = Client::start(&dir);
    let text = "cluster c {\n  encryption { provider secretbox { key k env \"K\" } }\n}\ntenant a {\n  allow ingress from tenant b\n  role r { can * on pods }\n}\ntenant b {\n  isolation strict\n}\n";
    let out = c.open("main.khc", text);
    let uri = c.uri("main.khc");
    let p = publications(&out, &uri);
    let diags = p[0]["params"]["diagnostics"].as_array().unwrap().clone();
    let unreachable = diags.iter().find(|d| d["code"] == "unreachable").unwrap_or_else(|| panic!("{diags:?}"));
    let actions =
        c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": unreachable["range"], "context": {"diagnostics": [unreachable]}}));
    let a = &actions["result"][0];
    assert_eq!(a["title"], "Add `allow egress to tenant a` to tenant `b`", "{actions}");
    let edit = &a["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "  allow egress to tenant a\n");
    assert_eq!(edit["range"]["start"]["line"], 9, "before tenant b's `}}`");
    let wildcard = diags.iter().find(|d| d["message"].as_str().unwrap().starts_with("wildcard verb")).unwrap();
    let actions =
        c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": wildcard["range"], "context": {"diagnostics": [wildcard]}}));
    assert_eq!(actions["result"][0]["edit"]["changes"][&uri][0]["newText"], "get list watch");
}

/// The one-sided-traffic quick fix (issue 20 item 5) inserts the exact mirror
/// statement — workloads swapped, same ports and protocols — at the end of the
/// other tenant's block, in the other tenant's file; the help says the same.
#[test]
fn mirror_quick_fix_inserts_the_exact_statement_in_the_other_tenant() {
    let dir = temp("mirror");
    std::fs::write(
        dir.join("main.khc"),
        "import \"shop.khc\"\ncluster c {\n  encryption { provider secretbox { key k env \"K\" } }\n}\ntenant web {\n  workload site {}\n  allow ingress from tenant shop workload api to workload site ports 8080 9000-9100 http protocol TCP UDP\n  allow egress from workload site to tenant shop workload api ports 53 protocol UDP\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join("shop.khc"), "tenant shop {\n  workload api {}\n}\n").unwrap();
    let (mut c, _) = Client::start(&dir);
    let text = std::fs::read_to_string(dir.join("main.khc")).unwrap();
    let out = c.open("main.khc", &text);
    let uri = c.uri("main.khc");
    let p = publications(&out, &uri);
    let diags = p[0]["params"]["diagnostics"].as_array().unwrap().clone();
    let mut got = String::new();
    for d in diags.iter().filter(|d| d["code"] == "unreachable") {
        let actions = c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}}));
        got.push_str(&format!(
            "line {}: {}\n",
            d["range"]["start"]["line"],
            d["message"].as_str().unwrap().lines().find(|l| l.starts_with("help:")).unwrap_or("(no help)")
        ));
        for a in actions["result"].as_array().unwrap().iter().filter(|a| a["isPreferred"] == true) {
            for (file, edits) in a["edit"]["changes"].as_object().unwrap() {
                for e in edits.as_array().unwrap() {
                    got.push_str(&format!(
                        "  {} → {} at {}:{}: {:?}\n",
                        a["title"].as_str().unwrap(),
                        file.rsplit('/').next().unwrap(),
                        e["range"]["start"]["line"],
                        e["range"]["start"]["character"],
                        e["newText"].as_str().unwrap()
                    ));
                }
            }
        }
    }
    expect![[r#"
        line 6: help: add `allow egress from workload api to tenant web workload site ports 8080 9000-9100 http protocol TCP UDP` to tenant `shop`
          Add `allow egress from workload api to tenant web workload site ports 8080 9000-9100 http protocol TCP UDP` to tenant `shop` → shop.khc at 2:0: "  allow egress from workload api to tenant web workload site ports 8080 9000-9100 http protocol TCP UDP\n"
        line 7: help: add `allow ingress from tenant web workload site to workload api ports 53 protocol UDP` to tenant `shop`
          Add `allow ingress from tenant web workload site to workload api ports 53 protocol UDP` to tenant `shop` → shop.khc at 2:0: "  allow ingress from tenant web workload site to workload api ports 53 protocol UDP\n"
    "#]].assert_eq(&got);
}

/// The cluster's `allow … to all-tenants` and `dns` (issue 20 item 5): hover
/// from the schema, and completion offers the one destination the cluster's
/// `allow` has.
#[test]
fn cluster_allow_and_dns_hover_and_completion() {
    let dir = example("cluster-allow");
    let (mut c, _) = Client::start(&dir);
    let c = &mut c;
    let from = "  no-external-ips # CVE-2020-8554: a Service's externalIPs can capture any traffic\n  }\n";
    let with = |line: &str| format!("{from}  {line}\n");
    check_completion(
        c,
        "cluster.khc",
        from,
        &with("allow ingress from tenant monitoring workload prometheus to $0"),
        expect![[r#"
            all-tenants  (14) In the cluster's `allow`: every tenant's pods (a rule in every isolated tenant, the opposite one at the tenant the statement names).
        "#]],
    );
    check_completion(
        c,
        "cluster.khc",
        from,
        &with("allow egress from $0"),
        expect![[r#"
            all-tenants  (14) In the cluster's `allow`: every tenant's pods (a rule in every isolated tenant, the opposite one at the tenant the statement names).
        "#]],
    );
    check_completion(
        c,
        "cluster.khc",
        from,
        &with("allow egress from all-tenants to $0"),
        expect![[r#"
            tenant  (14) Pods of a tenant: `tenant NAME [workload NAME]`.
        "#]],
    );
    check_hover(
        c,
        "cluster.khc",
        from,
        &with("dn$0s cidr 169.254.20.10/32"),
        expect![[r#"
        ```khc
        dns [namespace NS [selector KEY "VALUE"…]] [cidr ADDRESS…]
        ```
        Where the cluster serves DNS: isolated tenants' `allow-dns` egress (port 53 UDP and TCP) goes to these pods and/or addresses instead of `k8s-app: kube-dns` in kube-system, e.g. `dns cidr 169.254.20.10/32` for NodeLocal DNSCache."#]],
    );
    check_hover(
        c,
        "cluster.khc",
        from,
        &with("allow ingress from tenant monitoring to all-te$0nants ports 9090"),
        expect![
            "`all-tenants` — keyword: In the cluster's `allow`: every tenant's pods (a rule in every isolated tenant, the opposite one at the tenant the statement names)."
        ],
    );
}

/// Issue 20: a cluster grant to `"NS/NAME"` where NS is a tenant's namespace and
/// NAME none of its workloads is a warning whose fix replaces the string.
#[test]
fn quick_fix_for_a_cluster_grant_to_a_misspelt_service_account() {
    let dir = temp("sa-fix");
    let (mut c, _) = Client::start(&dir);
    let text = "cluster c {\n  encryption { provider secretbox { key k env \"K\" } }\n  role r { can get on nodes }\n  grant r to serviceaccount \"ci/deployr\"\n}\ntenant ci {\n  workload deployer {}\n}\n";
    let out = c.open("main.khc", text);
    let uri = c.uri("main.khc");
    let p = publications(&out, &uri);
    let diags = p[0]["params"]["diagnostics"].as_array().unwrap().clone();
    let d = diags.iter().find(|d| d["code"] == "unknown-name").unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(d["severity"], 2, "a warning: {d}");
    let actions = c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}}));
    let fix =
        actions["result"].as_array().unwrap().iter().find(|a| a["title"].as_str().unwrap().starts_with("Replace with")).unwrap_or_else(|| panic!("{actions}"));
    assert_eq!(fix["edit"]["changes"][&uri][0]["newText"], "\"ci/deployer\"", "{actions}");
}

#[test]
fn without_workspace_folders_the_entry_is_found_upwards() {
    let dir = example("nofolders");
    let mut c = Client { server: Server::default(), dir: dir.clone(), id: 0, version: 1 };
    c.send(vec![json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"capabilities": {}}})]);
    let text = std::fs::read_to_string(dir.join("tenants/payments.khc")).unwrap().replace("from tenant monitoring", "from tenant monitorin");
    let out = c.open("tenants/payments.khc", &text);
    let p = publications(&out, &c.uri("tenants/payments.khc"));
    assert!(messages(p[0]).iter().any(|m| m.contains("unknown tenant `monitorin`")), "{out:?}");
}

/// An opened, unsaved cluster file is the root of its own project: the server
/// does not climb to an ancestor directory holding some other entry file (as
/// `/tmp` may) and adopt that whole tree, whose files would be checked and
/// published before the opened one's.
#[test]
fn an_opened_entry_file_does_not_adopt_an_ancestor_project() {
    let parent = temp("adopt-ancestor");
    std::fs::write(parent.join("other.khc"), "cluster elsewhere {\n  kubernetes 1.35\n}\n").unwrap();
    let dir = parent.join("mine");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = Client { server: Server::default(), dir: dir.clone(), id: 0, version: 1 };
    c.send(vec![json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"capabilities": {}}})]);
    let out = c.open("c.khc", "cluster c {\n  kubernetes 1.2\n}\n");
    let published: Vec<&str> = out.iter().filter(|m| m["method"] == "textDocument/publishDiagnostics").filter_map(|m| m["params"]["uri"].as_str()).collect();
    assert_eq!(published, [c.uri("c.khc").as_str()], "only the opened file, not ../other.khc: {out:?}");
}

/// Diagnostics are recomputed at the grain of the edited file, yet a problem in
/// another file follows the edit: renaming tenant `monitoring` (which `legacy`
/// and `payments` accept traffic from) reports the unknown tenant in both other
/// files, and renaming it back clears them; changing the port of its egress
/// rule warns in `payments`, whose ingress rule no longer matches.
#[test]
fn cross_file_diagnostics_follow_an_edit() {
    let dir = example("crossfile");
    let (mut c, _) = Client::start(&dir);
    let text = std::fs::read_to_string(dir.join("tenants/monitoring.khc")).unwrap();
    let (legacy, payments) = (c.uri("tenants/legacy.khc"), c.uri("tenants/payments.khc"));
    c.open("tenants/monitoring.khc", &text);
    let out = c.change("tenants/monitoring.khc", &text.replace("tenant monitoring {", "tenant monitor {"));
    for uri in [&legacy, &payments] {
        let p = publications(&out, uri);
        assert_eq!(p.len(), 1, "{uri}: {out:?}");
        assert!(messages(p[0]).iter().any(|m| m.contains("`monitoring`")), "{:?}", messages(p[0]));
    }
    let out = c.change("tenants/monitoring.khc", &text);
    for uri in [&legacy, &payments] {
        let p = publications(&out, uri);
        assert_eq!(p.len(), 1, "{uri}: {out:?}");
        assert!(messages(p[0]).is_empty(), "{:?}", messages(p[0]));
    }
    let out = c.change("tenants/monitoring.khc", &text.replacen("ports 9090", "ports 9091", 1));
    let pubs: Vec<&Value> = out.iter().filter(|m| m["method"] == "textDocument/publishDiagnostics").collect();
    assert_eq!(pubs.len(), 2, "the edited file and payments, whose rule no longer matches: {out:?}");
    assert!(messages(publications(&out, &payments)[0]).iter().any(|m| m.contains("other workloads, ports or protocols")), "{out:?}");
}

/// Every front end runs every program check: two entry files of one directory
/// declaring the same cluster fail `khc check`, and the language server reports
/// it too (`khc_db::checks::duplicate_clusters`), and clears it once renamed.
#[test]
fn two_entries_declaring_one_cluster_are_reported() {
    let dir = temp("dup-clusters");
    std::fs::write(dir.join("eu.khc"), "cluster prod {\n  kubernetes 1.35\n}\n").unwrap();
    std::fs::write(dir.join("us.khc"), "cluster prod {\n  kubernetes 1.35\n}\n").unwrap();
    let (mut c, out) = Client::start(&dir);
    let dup = |out: &[Value], c: &Client| -> Vec<String> {
        ["eu.khc", "us.khc"]
            .iter()
            .flat_map(|f| publications(out, &c.uri(f)).into_iter().flat_map(messages).collect::<Vec<_>>())
            .filter(|m| m.contains("is declared by both"))
            .collect()
    };
    let found = dup(&out, &c);
    assert_eq!(found.len(), 1, "{out:?}");
    assert!(found[0].starts_with("cluster `prod` is declared by both") && found[0].contains("eu.khc and") && found[0].contains("us.khc"), "{found:?}");
    let out = c.open("us.khc", "cluster prod-us {\n  kubernetes 1.35\n}\n");
    assert!(!publications(&out, &c.uri("us.khc")).is_empty(), "{out:?}");
    assert!(dup(&out, &c).is_empty(), "{out:?}");
}

/// Completion offers a rule's argument values from the registry.
#[test]
fn rule_argument_completion_comes_from_the_registry() {
    let dir = example("rule-values");
    let (mut c, _) = Client::start(&dir);
    let c = &mut c;
    check_completion(
        c,
        "cluster.khc",
        "    no-latest-tag",
        "    allowed-service-types $0",
        expect![[r#"
        ClusterIP  (20) allowed-service-types
        ExternalName  (20) allowed-service-types
        LoadBalancer  (20) allowed-service-types
        NodePort  (20) allowed-service-types
    "#]],
    );
    let items = at_edit(c, "cluster.khc", "    no-latest-tag", "    allowed-capabilities $0", "textDocument/completion");
    assert!(items["result"].as_array().unwrap().iter().any(|i| i["label"] == "NET_BIND_SERVICE"), "{items}");
}

/// #25 item 11: one huge `*.khc` somewhere in the workspace (never opened) is not
/// read, parsed or checked at `initialize` (it stalled it for 25 s at 3.7 GB): the
/// server answers at once, names the file in a warning, and checks it when the
/// editor opens it.
#[test]
fn a_huge_unopened_file_does_not_block_initialize() {
    let dir = example("huge");
    std::fs::create_dir_all(dir.join("junk")).unwrap();
    let mut big = String::with_capacity(24 << 20);
    let mut i = 0;
    while big.len() < 24 << 20 {
        big.push_str(&format!("tenant t{i} {{\n  namespaces t{i}\n  quota {{ pods 10 }}\n}}\n"));
        i += 1;
    }
    std::fs::write(dir.join("junk/huge.khc"), &big).unwrap();
    let t = std::time::Instant::now();
    let (mut c, out) = Client::start(&dir);
    let took = t.elapsed();
    let warning = out.iter().find(|m| m["method"] == "window/showMessage").unwrap_or_else(|| panic!("no message naming the file: {out:?}"));
    let text = warning["params"]["message"].as_str().unwrap();
    assert!(text.contains("junk/huge.khc") && text.contains("larger than the 4 MiB limit"), "{text}");
    assert!(took < std::time::Duration::from_secs(20), "initialize took {took:?}");
    // The rest of the workspace is served as usual.
    let hover = c.request("textDocument/hover", json!({"textDocument": {"uri": c.uri("cluster.khc")}, "position": {"line": 0, "character": 0}}));
    assert!(hover.get("error").is_none(), "{hover}");
    std::fs::remove_dir_all(&dir).ok();
}

/// #23 item 2: code lenses over `workload` and `tenant` declarations carry the
/// query commands' answers, computed as `khc blast-radius` and `khc who-can`
/// compute them.
#[test]
fn code_lenses_show_the_query_answers() {
    let dir = example("lenses");
    let (mut c, _) = Client::start(&dir);
    let payments = std::fs::read_to_string(dir.join("tenants/payments.khc")).unwrap();
    c.open("tenants/payments.khc", &payments);
    let lenses = c.request("textDocument/codeLens", json!({"textDocument": {"uri": c.uri("tenants/payments.khc")}}));
    let got: Vec<(u64, String)> = lenses["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["range"]["start"]["line"].as_u64().unwrap(), l["command"]["title"].as_str().unwrap().to_string()))
        .collect();
    let ws = khc_analysis::Workspace::load(&dir).unwrap();
    let line_of = |needle: &str| payments.lines().position(|l| l.trim_start().starts_with(needle)).unwrap() as u64;
    let mut want = vec![(line_of("tenant payments"), khc_lsp::lenses::tenant_title(&ws, "payments").unwrap())];
    for w in ["api", "worker", "ledger-db"] {
        want.push((line_of(&format!("workload {w} ")), khc_lsp::lenses::workload_title(&ws, "payments", w).unwrap()));
    }
    want.sort();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, want);
    // The figures themselves, as blast-radius gives them for payments/api.
    let (t, w) = ws.workloads().find(|(t, w)| t.name == "payments" && w.name == "api").unwrap();
    let br = khc_analysis::posture::blast_radius(&ws, t, w);
    assert!(br.reached_by.len() >= 2, "the ingress controller and prometheus: {:?}", br.reached_by);
    assert!(got.contains(&(line_of("workload api "), format!("reached by {} · can reach {}", br.reached_by.len(), br.reaches.len()))), "{got:?}");
    assert!(got.iter().any(|(_, t)| t.ends_with("may exec into its pods")), "{got:?}");
    eprintln!("lenses: {got:?}");
}

/// Issue 20 item 2: inside an exception, `lifts` completes the registry's rule
/// names (without those already listed) and `workloads` the tenant's workloads;
/// `namespace NS` in a pod-security block completes the levels.
#[test]
fn exception_completion_offers_rules_and_workloads() {
    let dir = example("exception-completion");
    let (mut c, _) = Client::start(&dir);
    let text = std::fs::read_to_string(dir.join("tenants/monitoring.khc")).unwrap();
    let with = |body: &str| text.replacen("  isolation tenant\n", &format!("  isolation tenant\n  exception host {{\n    {body}\n  }}\n"), 1);
    let l = labels(&c.at("tenants/monitoring.khc", &with("lifts no-host-path $0"), "textDocument/completion", json!({})));
    assert!(l.contains(&"no-host-namespaces".to_string()) && l.contains(&"allowed-volume-types".to_string()), "{l:?}");
    assert!(!l.contains(&"no-host-path".to_string()), "{l:?}");
    assert_eq!(l.len(), khc_rules::ALL.len() - 1);
    let l = labels(&c.at("tenants/monitoring.khc", &with("workloads $0"), "textDocument/completion", json!({})));
    assert_eq!(l, ["prometheus"], "{l:?}");
    let ps = text.replacen("    warn restricted\n", "    warn restricted\n    namespace monitoring $0\n", 1);
    let l = labels(&c.at("tenants/monitoring.khc", &ps, "textDocument/completion", json!({})));
    assert_eq!(l, ["privileged", "baseline", "restricted"], "{l:?}");
}

/// Issue 20 item 2: hovering `exception` shows what it lifts, for whom, why and
/// until when, and the namespaces whose Pod Security label it lowers; a rule in
/// `lifts` shows the rule's documentation.
#[test]
fn exception_hover_shows_scope_reason_and_lowered_namespaces() {
    let dir = example("exception-hover");
    let (mut c, _) = Client::start(&dir);
    let text = std::fs::read_to_string(dir.join("tenants/monitoring.khc")).unwrap();
    let with = |marked: &str| {
        text.replacen(
            "  isolation tenant\n",
            &format!("  isolation tenant\n  {marked} scrape {{\n    workloads prometheus\n    lifts no-host-namespaces\n    reason \"node metrics\"\n    expires \"2099-01-01\"\n  }}\n"),
            1,
        )
    };
    let h = c.at("tenants/monitoring.khc", &with("excep$0tion"), "textDocument/hover", json!({}));
    let v = h["result"]["contents"]["value"].as_str().unwrap();
    assert!(v.contains("**Exception `scrape`** lifts `no-host-namespaces` for workloads monitoring/prometheus; expires 2099-01-01"), "{v}");
    assert!(v.contains("Reason: node metrics"), "{v}");
    assert!(v.contains("Namespace `monitoring`: Pod Security `enforce` lowered to `privileged`; khc enforces `baseline`"), "{v}");
    let h = c.at(
        "tenants/monitoring.khc",
        &with("exception").replacen("lifts no-host-namespaces", "lifts no-host-name$0spaces", 1),
        "textDocument/hover",
        json!({}),
    );
    let v = h["result"]["contents"]["value"].as_str().unwrap();
    assert!(v.contains("no-host-namespaces") && v.contains("hostNetwork"), "{v}");
}

/// Issue 20 items 5 and 8: hovering a workload's `port` statement shows its
/// shape and what `allow … ports NAME` resolves it to; a custom `rule` in
/// `admission` shows its shape and what it compiles into. The keywords inside
/// a rule's block (`cel`) have their own doc.
#[test]
fn port_and_custom_rule_hover() {
    let dir = example("port-rule-hover");
    let (mut c, _) = Client::start(&dir);
    let c = &mut c;
    let p = "tenants/payments.khc";
    check_hover(
        c,
        p,
        "    selector { app \"payments-api\" }\n",
        "    selector { app \"payments-api\" }\n    po$0rt https 8443\n",
        expect![[r#"
            ```khc
            port NAME NUMBER [TCP|UDP|SCTP]
            ```
            A named container port of the workload's pods (`port http 8080`): `allow … ports http` names it, and `reach` resolves it to this number when the workload is the destination."#]],
    );
    let rule = "    rule few-replicas {\n      kinds deployments.apps\n      cel \"object.spec.replicas <= 5\"\n      message \"at most 5 replicas\"\n    }\n";
    check_hover(
        c,
        p,
        "    use restricted\n",
        &format!("    use restricted\n{}", rule.replacen("rule", "ru$0le", 1)),
        expect![[r#"
            ```khc
            rule NAME { kinds …; cel "…"; message "…" }
            ```
            A custom rule: a CEL expression (true when the object complies) judging the named resources, with its message; its own ValidatingAdmissionPolicy, bound like the block's rules."#]],
    );
    check_hover(
        c,
        p,
        "    use restricted\n",
        &format!("    use restricted\n{}", rule.replacen("cel", "c$0el", 1)),
        expect![[r#"
            ```khc
            cel "EXPR"
            ```
            The CEL expression, true when the object complies (`object`, `oldObject`, `request`, `namespaceObject` as in a ValidatingAdmissionPolicy); parse-checked by khc, type-checked by the API server."#]],
    );
}

/// Issue 20 item 2 (cluster form): hovering `exception` in the cluster block
/// shows what it lifts, for which ServiceAccounts, why and until when; hovering
/// the cluster rule it lifts says so; `lifts` completes rule names there too.
#[test]
fn cluster_exception_hover_and_completion() {
    let dir = example("cluster-exception-hover");
    let (mut c, _) = Client::start(&dir);
    let c = &mut c;
    let exception = "  exception node-agents {\n    workloads \"monitoring/node-exporter\"\n    lifts no-latest-tag\n    reason \"pinned by digest upstream\"\n    expires \"2099-01-01\"\n  }\n";
    let with = |marked: &str| format!("  no-external-ips # CVE-2020-8554: a Service's externalIPs can capture any traffic\n  }}\n{marked}");
    let from = "  no-external-ips # CVE-2020-8554: a Service's externalIPs can capture any traffic\n  }\n";
    check_hover(
        c,
        "cluster.khc",
        from,
        &with(&exception.replacen("exception", "excep$0tion", 1)),
        expect![[r#"
            ```khc
            exception NAME { … }
            ```
            A scoped exception to the cluster's `admission` rules: named rules lifted for some namespaces (any, e.g. `kube-system` or `monitoring`) or ServiceAccounts `"ns/name"`, with a required reason and an optional expiry.

            **Exception `node-agents`** lifts `no-latest-tag` for workloads monitoring/node-exporter; expires 2099-01-01.

            Reason: pinned by digest upstream"#]],
    );
    let text = std::fs::read_to_string(dir.join("cluster.khc")).unwrap().replacen(from, &with(exception), 1);
    let h = c.at("cluster.khc", &text.replacen("    no-latest-tag\n", "    no-lat$0est-tag\n", 1), "textDocument/hover", json!({}));
    let v = h["result"]["contents"]["value"].as_str().unwrap();
    assert!(v.contains("Lifted by exception `node-agents` (workloads monitoring/node-exporter): pinned by digest upstream"), "{v}");
    let l = labels(&c.at(
        "cluster.khc",
        &text.replacen("    lifts no-latest-tag\n", "    lifts no-latest-tag no-host-p$0\n", 1),
        "textDocument/completion",
        json!({}),
    ));
    assert!(l.iter().any(|x| x == "no-host-path"), "{l:?}");
}

/// Issue 20 item 3: a warning acknowledged in source is published as a hint
/// with its reason; an unmatched acknowledgement is a warning; every warning
/// offers a quick fix that inserts the acknowledgement above its line.
#[test]
fn acknowledged_warnings_are_hints_and_a_quick_fix_acknowledges() {
    let dir = temp("acknowledge");
    let (mut c, _) = Client::start(&dir);
    let text = "cluster c {\n  kubernetes 1.37\n}\ntenant t {}\n";
    let uri = c.uri("main.khc");
    let out = c.open("main.khc", text);
    let diags = publications(&out, &uri)[0]["params"]["diagnostics"].as_array().unwrap().clone();
    let risky = diags.iter().find(|d| d["code"] == "risky" && d["severity"] == 2).unwrap_or_else(|| panic!("{diags:?}")).clone();
    let actions = c.request("textDocument/codeAction", json!({"textDocument": {"uri": uri}, "range": risky["range"], "context": {"diagnostics": [risky]}}));
    let ack = actions["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"].as_str().unwrap().starts_with("Acknowledge `risky`"))
        .unwrap_or_else(|| panic!("{actions}"));
    let edit = &ack["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "# khc: allow risky — \n");
    assert_eq!(edit["range"]["start"], json!({"line": 0, "character": 0}));
    let acked = format!("# khc: allow risky — a lab cluster\n{text}").replace("tenant t {}", "tenant t {} # khc: allow conflict — none here");
    let out = c.change("main.khc", &acked);
    let diags = publications(&out, &uri)[0]["params"]["diagnostics"].as_array().unwrap().clone();
    let hints: Vec<&Value> = diags.iter().filter(|d| d["severity"] == 4).collect();
    assert_eq!(hints.len(), 2, "{diags:?}");
    assert!(hints.iter().all(|d| d["code"] == "risky" && d["message"].as_str().unwrap().contains("acknowledged: a lab cluster")), "{hints:?}");
    let warnings: Vec<&Value> = diags.iter().filter(|d| d["severity"] == 2).collect();
    assert_eq!(warnings.len(), 1, "{diags:?}");
    assert!(warnings[0]["message"].as_str().unwrap().contains("acknowledgement of `conflict` matches no warning"), "{warnings:?}");
}

/// #23 item 2: hover on a resource in a tenant's `can … on` adds who may touch
/// it in the tenant's namespaces (the project's evaluators, as `khc who-can`;
/// `compiler/cli/tests/lsp_stdio.rs` cross-checks the subjects against the
/// command's output).
#[test]
fn resource_hover_lists_who_may_touch_it_here() {
    let dir = example("touch");
    let (mut c, _) = Client::start(&dir);
    let c = &mut c;
    let p = "tenants/payments.khc";
    check_hover(
        c,
        p,
        "can get on secrets",
        "can get on sec$0rets",
        expect![[r#"
        **`secrets`** — resource `secrets`, the core API group.

        Namespaced: a tenant `role` grants it in each of the tenant's namespaces.

        **Who may touch it here** (namespaces payments, payments-jobs; as `khc who-can VERB secrets -n NS` answers):

        - `get`: `group:oidc:payments-devs` (named objects only), `sa:payments-jobs/worker` (named objects only)
        - `create`: nobody
        - `update`: nobody
        - `delete`: nobody"#]],
    );
    check_hover(
        c,
        p,
        "delete on deployments.apps",
        "delete on deployments.a$0pps",
        expect![[r#"
        **`deployments.apps`** — resource `deployments`, API group `apps`.

        Namespaced: a tenant `role` grants it in each of the tenant's namespaces.

        Subresources (granted separately): `deployments.apps/scale`, `deployments.apps/status`.

        **Who may touch it here** (namespaces payments, payments-jobs; as `khc who-can VERB deployments.apps -n NS` answers):

        - `get`: `group:oidc:payments-auditors`, `group:oidc:payments-devs`, `group:oidc:platform-oncall`, `sa:payments-jobs/worker`
        - `create`: `group:oidc:payments-devs`, `sa:payments-jobs/worker`
        - `update`: `group:oidc:payments-devs`, `sa:payments-jobs/worker`
        - `delete`: `group:oidc:payments-devs`, `sa:payments-jobs/worker`"#]],
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 20 item 6: inside `quota`, `budget` completes to `tenant`, `share` and
/// `namespace` to the tenant's namespaces, `namespace NS` to the quota keys; hovering
/// `budget` shows the schema's documentation.
#[test]
fn quota_budget_completion_and_hover() {
    let dir = example("quota-budget");
    let (mut c, _) = Client::start(&dir);
    let text = std::fs::read_to_string(dir.join("tenants/payments.khc")).unwrap();
    let with = |body: &str| text.replacen("  quota {\n", &format!("  quota {{\n    {body}\n"), 1);
    let l = labels(&c.at("tenants/payments.khc", &with("budget $0"), "textDocument/completion", json!({})));
    assert_eq!(l, ["tenant"], "{l:?}");
    let l = labels(&c.at("tenants/payments.khc", &with("share $0"), "textDocument/completion", json!({})));
    assert_eq!(l, ["payments", "payments-jobs"], "{l:?}");
    let l = labels(&c.at("tenants/payments.khc", &with("namespace payments-jobs cpu 1 $0"), "textDocument/completion", json!({})));
    assert!(l.contains(&"memory".to_string()) && l.contains(&"pods".to_string()) && !l.contains(&"budget".to_string()), "{l:?}");
    let h = c.at("tenants/payments.khc", &with("bud$0get tenant"), "textDocument/hover", json!({}));
    let v = h["result"]["contents"]["value"].as_str().unwrap();
    assert!(v.contains("the tenant's total, split across its namespaces"), "{v}");
}

/// `images { … }` (SPEC section 5, "Images"): its statements, the keywords of
/// `signed-by` and `scanned-by`, severities; hover shows what the block
/// compiles to, joined with the cluster's.
#[test]
fn images_completion_and_hover() {
    let dir = example("images");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/images/keys");
    std::fs::copy(keys.join("tenant-a.pub"), dir.join("keys/payments.pub")).unwrap();
    std::fs::copy(keys.join("scanner.pub"), dir.join("keys/scanner.pub")).unwrap();
    let (mut c, _) = Client::start(&dir);
    let c = &mut c;
    let p = "tenants/payments.khc";
    let block = |body: &str| format!("isolation strict\n  images {{\n{body}\n  }}");
    check_completion(
        c,
        p,
        "isolation strict",
        &block("    $0"),
        expect![[r#"
            registries  (14) "PREFIX"…
            pinned  (14) 
            signed-by  (14) key "PATH" | keyless issuer "URL" subject|subject-regex "TEXT"
            scanned-by  (14) key "PATH" max-age DURATION deny-at SEVERITY [{ allow "ID" because "TEXT" … }]
            volume-images  (14) "REF@sha256:DIGEST"…
        "#]],
    );
    check_completion(
        c,
        p,
        "isolation strict",
        &block("    signed-by $0"),
        expect![[r#"
        key  (14) keyword
        keyless  (14) keyword
    "#]],
    );
    check_completion(
        c,
        p,
        "isolation strict",
        &block("    signed-by keyless issuer \"https://x\" $0"),
        expect![[r#"
        subject  (14) keyword
        subject-regex  (14) keyword
    "#]],
    );
    check_completion(
        c,
        p,
        "isolation strict",
        &block("    scanned-by key \"../keys/scanner.pub\" max-age 7d deny-at $0"),
        expect![[r#"
        critical  (20) severity
        high  (20) severity
        medium  (20) severity
        low  (20) severity
    "#]],
    );
    check_completion(
        c,
        p,
        "isolation strict",
        &block("    scanned-by key \"../keys/scanner.pub\" max-age 7d deny-at high {\n      allow \"CVE-2024-1\" $0\n    }"),
        expect![[r#"
        because  (14) keyword
    "#]],
    );
    // The key files are read when the edited program is loaded (after the
    // edit's first request): ask once, then snapshot.
    let with_keys = block("    pinned\n    signed-by key \"../keys/payments.pub\"\n    scanned-by key \"../keys/scanner.pub\" max-age 7d deny-at high {\n      allow \"CVE-2024-1\" because \"never called\"\n    }").replace("  images {", "  ima$0ges {");
    at_edit(c, p, "isolation strict", &with_keys, "textDocument/hover");
    check_hover(
        c,
        p,
        "isolation strict",
        &block("    pinned\n    signed-by key \"../keys/payments.pub\"\n    scanned-by key \"../keys/scanner.pub\" max-age 7d deny-at high {\n      allow \"CVE-2024-1\" because \"never called\"\n    }").replace("  images {", "  ima$0ges {"),
        expect![[r#"
            ```khc
            images { … }
            ```
            What images the tenant's pods may run: registries, pinned by digest, signed by a key or keyless identity, scanned with no finding at or above a severity (checked at admission by sigstore policy-controller).

            **With the cluster's `images`:**
            * rule `require-digest` in the tenant's admission policy (judged by `khc eval`)
            * rule `allowed-image-volumes` in the tenant's admission policy (judged by `khc eval`)
            * signed by key "../keys/payments.pub"
            * scan attested by key "../keys/scanner.pub": nothing at or above `high`, at most 168h old, accepting CVE-2024-1 (never called)

            Signatures and scans are checked at admission by sigstore policy-controller: ClusterImagePolicy `khc-payments`, namespaces labelled `policy.sigstore.dev/include: "true"`."#]],
    );
    check_hover(
        c,
        p,
        "isolation strict",
        &block("    scanned-by key \"../keys/scanner.pub\" max-age 7d deny-at hi$0gh"),
        expect!["`high` — severity: Deny high and critical findings."],
    );
}
