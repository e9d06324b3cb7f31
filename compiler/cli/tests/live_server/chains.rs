//! Escalation chains executed on the real API server (issue 18): for each
//! question, `khc can … --kubeconfig --format json` gives the paths; the first
//! followable path is executed step by step **as the subject** — with the
//! subject's own client certificate (signed by the test CA), the tokens and
//! certificates the chain obtains, and the `Impersonate-*` headers of its
//! impersonation steps — and the final permission is checked by a
//! SelfSubjectAccessReview made with the identity reached. Each pruned path is
//! executed up to the step khc's admission refuses, which must be refused by
//! the server (403, with the policy's or Pod Security's message). SPEC section
//! 10 ("Escalation chains on a real API server") says what each act does here.

use base64::Engine;
use khc_analysis::rbac::Subject;
use khc_tests::kube::{Cluster, Credential, Response};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Who the chain acts as now.
#[derive(Clone, Debug)]
struct Me {
    subject: Subject,
    cred: Credential,
    headers: Vec<(String, String)>,
    /// For a group reached by impersonation: the user impersonated with it.
    user: Option<String>,
}

/// What executing a path showed.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// Every step succeeded and the final SelfSubjectAccessReview allowed the request.
    Allowed,
    /// Every step succeeded; the last one is a power the test does not carry
    /// further (a webhook configuration written).
    PowerTaken,
    /// A step was refused: its index, the HTTP status and the message.
    Refused(usize, u16, String),
}

fn rbac_subject(s: &Subject) -> Value {
    match s {
        Subject::User { name } => json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}),
        Subject::Group { name } => json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}),
        Subject::ServiceAccount { namespace, name } => json!({"kind": "ServiceAccount", "namespace": namespace, "name": name}),
    }
}

fn ok(r: &Response) -> bool {
    (200..300).contains(&r.status)
}

fn message(r: &Response) -> String {
    r.body["message"].as_str().unwrap_or_default().to_string()
}

static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
}

/// The API path of a collection of `resource` (`deployments.apps`) in `ns`.
fn collection(resource: &str, ns: Option<&str>) -> String {
    let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
    let base = match group {
        "" => "/api/v1".to_string(),
        "apps" => "/apis/apps/v1".to_string(),
        "batch" => "/apis/batch/v1".to_string(),
        g => format!("/apis/{g}/v1"),
    };
    match ns {
        Some(ns) => format!("{base}/namespaces/{ns}/{plural}"),
        None => format!("{base}/{plural}"),
    }
}

/// A pod-making object of `resource` whose pods run as ServiceAccount `sa`,
/// with the pod khc's search asks its admission about.
fn pod_maker(resource: &str, ns: &str, sa: &str, name: &str) -> Value {
    let mut pod = khc_analysis::escalation::plain_pod(ns, sa);
    pod["metadata"]["name"] = json!(name);
    let labels = json!({"app": name});
    let template = json!({"metadata": {"labels": labels}, "spec": pod["spec"]});
    let meta = json!({"name": name, "namespace": ns});
    match resource {
        "pods" => pod,
        "deployments.apps" | "replicasets.apps" | "daemonsets.apps" => {
            let kind = match resource {
                "deployments.apps" => "Deployment",
                "replicasets.apps" => "ReplicaSet",
                _ => "DaemonSet",
            };
            json!({"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": {"selector": {"matchLabels": labels}, "template": template}})
        }
        "statefulsets.apps" => {
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta, "spec": {"serviceName": name, "selector": {"matchLabels": labels}, "template": template}})
        }
        "jobs.batch" => {
            let mut t = template.clone();
            t["spec"]["restartPolicy"] = json!("Never");
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"template": t}})
        }
        "cronjobs.batch" => {
            let mut t = template.clone();
            t["spec"]["restartPolicy"] = json!("Never");
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta, "spec": {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": t}}}})
        }
        "replicationcontrollers" => {
            json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta, "spec": {"selector": labels, "template": template}})
        }
        other => panic!("not a pod maker: {other}"),
    }
}

struct Exec<'a> {
    c: &'a Cluster,
    /// Every act executed (its `act` tag), and the refused ones.
    acts: BTreeSet<String>,
    refused: BTreeSet<String>,
}

impl<'a> Exec<'a> {
    fn send(&self, me: &Me, method: &str, path: &str, body: &Value) -> Response {
        self.c.request_as(&me.cred, &me.headers, method, path, body)
    }

    /// A ServiceAccount token made by the admin (what a kubelet mounts into a
    /// pod, bound to it when `pod` names one).
    fn admin_token(&self, ns: &str, name: &str, pod: Option<&Value>) -> String {
        let mut spec = json!({"expirationSeconds": 3600});
        if let Some(p) = pod {
            spec["boundObjectRef"] = json!({"apiVersion": "v1", "kind": "Pod", "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]});
        }
        let r = self.c.request(
            "POST",
            &format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}/token"),
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}),
        );
        assert_eq!(r.status, 201, "admin TokenRequest for {ns}/{name}: {}", r.body);
        r.body["status"]["token"].as_str().unwrap().to_string()
    }

    /// The subject's own credential (a client certificate; a token for a ServiceAccount).
    fn own(&self, s: &Subject, user: Option<&str>) -> Me {
        let cred = match s {
            Subject::User { name } => self.c.client_cert(name, &[]),
            Subject::Group { name } => self.c.client_cert(user.unwrap_or("khc-chain-member"), &[name]),
            Subject::ServiceAccount { namespace, name } => {
                // The ServiceAccount must exist for a TokenRequest.
                self.c.request(
                    "POST",
                    &format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
                    &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}),
                );
                Credential::Token(self.admin_token(namespace, name, None))
            }
        };
        Me { subject: s.clone(), cred, headers: Vec::new(), user: user.map(str::to_string) }
    }

    /// Whether `me` may make `req` (a SelfSubjectAccessReview; RBAC changes reach
    /// the authorizer's cache within a few seconds).
    fn allowed(&self, me: &Me, req: &Value) -> bool {
        self.review(me, req, true)
    }

    /// A SelfSubjectAccessReview; when `wait`, a "no" is asked again for up to 10 s.
    fn review(&self, me: &Me, req: &Value, wait: bool) -> bool {
        let (resource, sub) = req["resource"].as_str().unwrap().split_once('/').map_or((req["resource"].as_str().unwrap(), ""), |(r, s)| (r, s));
        let mut attrs = json!({"verb": req["verb"], "group": req["group"], "resource": resource, "subresource": sub});
        if let Some(ns) = req["namespace"].as_str() {
            attrs["namespace"] = json!(ns);
        }
        if let Some(n) = req["name"].as_str() {
            attrs["name"] = json!(n);
        }
        let body = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {"resourceAttributes": attrs}});
        let t0 = Instant::now();
        loop {
            let r = self.send(me, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", &body);
            assert_eq!(r.status, 201, "SelfSubjectAccessReview as {:?}: {}", me.subject, r.body);
            if r.body["status"]["allowed"] == json!(true) {
                return true;
            }
            if !wait || t0.elapsed() > Duration::from_secs(10) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Who the API server says `me` is (a SelfSubjectReview): user name and groups.
    fn whoami(&self, me: &Me) -> Result<(String, Vec<String>), (u16, String)> {
        let r = self.send(
            me,
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        );
        if !ok(&r) {
            return Err((r.status, message(&r)));
        }
        let u = &r.body["status"]["userInfo"];
        Ok((
            u["username"].as_str().unwrap_or_default().to_string(),
            u["groups"].as_array().into_iter().flatten().filter_map(|g| g.as_str().map(str::to_string)).collect(),
        ))
    }

    /// Executes one step as `me`: the identity after it, or the refusal (both recorded).
    fn step(&mut self, me: Me, step: &Value, req: &Value) -> Result<Me, (u16, String)> {
        let out = self.take(me, step, req);
        let kind = describe_act(&step["act"]);
        match &out {
            Ok(_) => self.acts.insert(kind),
            Err(_) => self.refused.insert(kind),
        };
        out
    }

    fn take(&mut self, me: Me, step: &Value, req: &Value) -> Result<Me, (u16, String)> {
        let act = &step["act"];
        let tag = act["act"].as_str().unwrap().to_string();
        let fail = |r: &Response| Err((r.status, message(r)));
        let out = match tag.as_str() {
            "impersonate" => {
                let target: Subject = serde_json::from_value(act["subject"].clone()).unwrap();
                // Impersonation does not nest: an identity reached by impersonation
                // impersonates further with its own credential.
                let base = if me.headers.is_empty() { me.clone() } else { self.own(&me.subject, me.user.as_deref()) };
                let mut headers = Vec::new();
                let (user, group) = match &target {
                    Subject::User { name } => (name.clone(), None),
                    Subject::ServiceAccount { namespace, name } => (format!("system:serviceaccount:{namespace}:{name}"), None),
                    Subject::Group { name } => (act["user"].as_str().expect("a group is impersonated with a user").to_string(), Some(name.clone())),
                };
                headers.push(("Impersonate-User".to_string(), user.clone()));
                if let Some(g) = &group {
                    headers.push(("Impersonate-Group".to_string(), g.clone()));
                }
                let next = Me { subject: target.clone(), cred: base.cred, headers, user: Some(user.clone()) };
                let (name, groups) = self.whoami(&next)?;
                assert_eq!(name, user, "{step}");
                if let Some(g) = group {
                    assert!(groups.contains(&g), "impersonated {g}: {groups:?}");
                }
                Ok(next)
            }
            "token" => {
                let (ns, name) = (act["namespace"].as_str().unwrap(), act["name"].as_str().unwrap());
                let r = self.send(
                    &me,
                    "POST",
                    &format!("/api/v1/namespaces/{ns}/serviceaccounts/{name}/token"),
                    &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}}),
                );
                if r.status != 201 {
                    return fail(&r);
                }
                let token = r.body["status"]["token"].as_str().unwrap().to_string();
                Ok(Me { subject: Subject::sa(ns, name), cred: Credential::Token(token), headers: Vec::new(), user: None })
            }
            "run-as" => {
                let (res, ns, sa) = (act["resource"].as_str().unwrap(), act["namespace"].as_str().unwrap(), act["name"].as_str().unwrap());
                let obj = pod_maker(res, ns, sa, &unique("khc-chain"));
                let r = self.send(&me, "POST", &collection(res, Some(ns)), &obj);
                if r.status != 201 {
                    return fail(&r);
                }
                // No kubelet runs here: the token a kubelet would mount into the pod
                // (bound to it: the server checks the pod runs as that
                // ServiceAccount), or for a controller the token its pod would get.
                let token = self.admin_token(ns, sa, (res == "pods").then_some(&r.body));
                Ok(Me { subject: Subject::sa(ns, sa), cred: Credential::Token(token), headers: Vec::new(), user: None })
            }
            "read-token-secret" => {
                let (ns, sa) = (act["namespace"].as_str().unwrap(), act["name"].as_str().unwrap());
                // "Where one exists": a legacy token Secret, filled by the
                // controller manager's token controller.
                let name = unique(&format!("{sa}-legacy-token"));
                let r = self.c.request(
                    "POST",
                    &format!("/api/v1/namespaces/{ns}/secrets"),
                    &json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                            "metadata": {"name": name, "annotations": {"kubernetes.io/service-account.name": sa}}}),
                );
                assert_eq!(r.status, 201, "{}", r.body);
                let t0 = Instant::now();
                let token = loop {
                    let r = self.send(&me, "GET", &format!("/api/v1/namespaces/{ns}/secrets/{name}"), &Value::Null);
                    if !ok(&r) {
                        return fail(&r);
                    }
                    if let Some(t) = r.body["data"]["token"].as_str() {
                        break String::from_utf8(base64::engine::general_purpose::STANDARD.decode(t).unwrap()).unwrap();
                    }
                    assert!(t0.elapsed() < Duration::from_secs(60), "the token controller did not fill {ns}/{name}");
                    std::thread::sleep(Duration::from_millis(300));
                };
                Ok(Me { subject: Subject::sa(ns, sa), cred: Credential::Token(token), headers: Vec::new(), user: None })
            }
            "approve-csr" => {
                let whom: Subject = serde_json::from_value(act["subject"].clone()).expect("a path's certificate names its subject");
                let (cn, subj) = match &whom {
                    Subject::User { name } => (name.clone(), format!("/CN={name}")),
                    Subject::Group { name } => ("khc-chain-member".to_string(), format!("/CN=khc-chain-member/O={name}")),
                    Subject::ServiceAccount { namespace, name } => {
                        let cn = format!("system:serviceaccount:{namespace}:{name}");
                        (cn.clone(), format!("/CN={cn}/O=system:serviceaccounts/O=system:serviceaccounts:{namespace}"))
                    }
                };
                let (key, pem) = self.c.key_and_csr(&subj);
                let name = unique("khc-chain-csr");
                let csr = json!({"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
                    "spec": {"request": base64::engine::general_purpose::STANDARD.encode(pem), "signerName": "kubernetes.io/kube-apiserver-client",
                             "usages": ["client auth"], "expirationSeconds": 3600}});
                let path = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}");
                let r = self.send(&me, "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", &csr);
                if r.status != 201 {
                    return fail(&r);
                }
                let mut approved = r.body.clone();
                approved["status"]["conditions"] =
                    json!([{"type": "Approved", "status": "True", "reason": "KhcChain", "message": "approved by the chain's subject"}]);
                let r = self.send(&me, "PUT", &format!("{path}/approval"), &approved);
                if !ok(&r) {
                    return fail(&r);
                }
                let t0 = Instant::now();
                let cert = loop {
                    let r = self.c.request("GET", &path, &Value::Null);
                    if let Some(c) = r.body["status"]["certificate"].as_str() {
                        break base64::engine::general_purpose::STANDARD.decode(c).unwrap();
                    }
                    assert!(t0.elapsed() < Duration::from_secs(60), "the signer did not sign {name}: {}", r.body);
                    std::thread::sleep(Duration::from_millis(300));
                };
                let crt = key.with_extension("crt");
                std::fs::write(&crt, cert).unwrap();
                let next = Me { subject: whom, cred: Credential::Cert(crt, key), headers: Vec::new(), user: Some(cn.clone()) };
                let (name, _) = self.whoami(&next).expect("the signed certificate authenticates");
                assert_eq!(name, cn);
                Ok(next)
            }
            "webhook" => {
                let mutating = act["mutating"] == json!(true);
                let kind = if mutating { "MutatingWebhookConfiguration" } else { "ValidatingWebhookConfiguration" };
                let plural = if mutating { "mutatingwebhookconfigurations" } else { "validatingwebhookconfigurations" };
                // It matches a group no server serves: written, never called.
                let obj = json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": unique("khc-chain-webhook")},
                    "webhooks": [{"name": "chain.khc.test", "clientConfig": {"url": "https://127.0.0.1:9/"},
                        "rules": [{"apiGroups": ["khc.test"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["nothings"]}],
                        "failurePolicy": "Ignore", "sideEffects": "None", "admissionReviewVersions": ["v1"]}]});
                let r = self.send(&me, "POST", &format!("/apis/admissionregistration.k8s.io/v1/{plural}"), &obj);
                if r.status != 201 {
                    return fail(&r);
                }
                Ok(me)
            }
            "nodes-proxy" => {
                // No kubelet: the step is the permission itself.
                let verb = act["verb"].as_str().unwrap();
                if !self.allowed(&me, &json!({"verb": verb, "group": "", "resource": "nodes/proxy"})) {
                    return Err((403, format!("{verb} nodes/proxy not allowed")));
                }
                Ok(me)
            }
            "host-path-volume" => {
                let ns = act["namespace"].as_str().unwrap();
                let pv = unique("khc-chain-root");
                let r = self.send(
                    &me,
                    "POST",
                    "/api/v1/persistentvolumes",
                    &json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv},
                            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "khc-chain", "hostPath": {"path": "/"}}}),
                );
                if r.status != 201 {
                    return fail(&r);
                }
                let r = self.send(
                    &me,
                    "POST",
                    &format!("/api/v1/namespaces/{ns}/persistentvolumeclaims"),
                    &json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": pv},
                            "spec": {"volumeName": pv, "storageClassName": "khc-chain", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
                );
                if r.status != 201 {
                    return fail(&r);
                }
                let mut pod = pod_maker("pods", ns, "default", &pv);
                pod["spec"]["volumes"] = json!([{"name": "root", "persistentVolumeClaim": {"claimName": pv}}]);
                pod["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "root", "mountPath": "/host"}]);
                let r = self.send(&me, "POST", &format!("/api/v1/namespaces/{ns}/pods"), &pod);
                if r.status != 201 {
                    return fail(&r);
                }
                Ok(me)
            }
            "host-path-pod" => {
                let ns = act["namespace"].as_str().unwrap();
                let mut pod = pod_maker("pods", ns, "default", &unique("khc-chain-host"));
                pod["spec"]["volumes"] = json!([{"name": "root", "hostPath": {"path": "/"}}]);
                pod["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "root", "mountPath": "/host"}]);
                let r = self.send(&me, "POST", &format!("/api/v1/namespaces/{ns}/pods"), &pod);
                if r.status != 201 {
                    return fail(&r);
                }
                Ok(me)
            }
            "bind" => {
                let ns = act["namespace"].as_str();
                let kind = if ns.is_some() { "RoleBinding" } else { "ClusterRoleBinding" };
                let b = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": unique("khc-chain-bind")},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": act["role_kind"], "name": act["role"]}, "subjects": [rbac_subject(&me.subject)]});
                let r = self.send(&me, "POST", &collection(&format!("{}.rbac.authorization.k8s.io", plural_of(kind)), ns), &b);
                if r.status != 201 {
                    return fail(&r);
                }
                Ok(me)
            }
            "escalate" => {
                let ns = act["namespace"].as_str();
                let (role_kind, binding_kind) = if ns.is_some() { ("Role", "RoleBinding") } else { ("ClusterRole", "ClusterRoleBinding") };
                let name = unique("khc-chain-escalated");
                let rule = rule_for(req);
                let r = self.send(
                    &me,
                    "POST",
                    &collection(&format!("{}.rbac.authorization.k8s.io", plural_of(role_kind)), ns),
                    &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind, "metadata": {"name": name}, "rules": [rule]}),
                );
                if r.status != 201 {
                    return fail(&r);
                }
                let b = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding_kind, "metadata": {"name": name},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name}, "subjects": [rbac_subject(&me.subject)]});
                let r = self.send(&me, "POST", &collection(&format!("{}.rbac.authorization.k8s.io", plural_of(binding_kind)), ns), &b);
                if r.status != 201 {
                    return fail(&r);
                }
                Ok(me)
            }
            "add-rule" => {
                let kind = act["role_kind"].as_str().unwrap();
                let path = format!(
                    "{}/{}",
                    collection(&format!("{}.rbac.authorization.k8s.io", plural_of(kind)), act["role_namespace"].as_str()),
                    act["role"].as_str().unwrap()
                );
                let mut role = self.send(&me, "GET", &path, &Value::Null);
                if !ok(&role) {
                    role = self.c.request("GET", &path, &Value::Null);
                }
                let mut obj = role.body.clone();
                obj["rules"].as_array_mut().unwrap().push(rule_for(req));
                let r = self.send(&me, "PUT", &path, &obj);
                if !ok(&r) {
                    return fail(&r);
                }
                Ok(me)
            }
            "request" => Ok(me),
            "as-service-account" => {
                let (ns, sa) = (act["namespace"].as_str().unwrap(), act["name"].as_str().unwrap());
                // The token a node's root reads from that ServiceAccount's pod (the
                // ServiceAccount is created when missing: the controllers' accounts
                // the live bindings name do not exist on this test server).
                Ok(self.own(&Subject::sa(ns, sa), None))
            }
            other => panic!("an act the test does not know: {other}"),
        };
        out
    }

    /// Executes `path` (from `khc can --format json`) from `who` for `req`.
    fn path(&mut self, who: &Subject, path: &Value, req: &Value) -> Outcome {
        let mut me = self.own(who, None);
        let steps = path["steps"].as_array().unwrap();
        for (i, s) in steps.iter().enumerate() {
            match self.step(me, s, req) {
                Ok(next) => me = next,
                Err((status, msg)) => return Outcome::Refused(i, status, msg),
            }
        }
        let last = steps.last().unwrap()["act"]["act"].as_str().unwrap();
        if last == "webhook" {
            return Outcome::PowerTaken;
        }
        assert!(self.allowed(&me, req), "the chain {} did not give {req}", path_text(path));
        Outcome::Allowed
    }
}

fn plural_of(kind: &str) -> &'static str {
    match kind {
        "Role" => "roles",
        "ClusterRole" => "clusterroles",
        "RoleBinding" => "rolebindings",
        "ClusterRoleBinding" => "clusterrolebindings",
        other => panic!("{other}"),
    }
}

/// A policy rule allowing exactly `req`.
fn rule_for(req: &Value) -> Value {
    let mut rule = json!({"apiGroups": [req["group"]], "resources": [req["resource"]], "verbs": [req["verb"]]});
    if let Some(n) = req["name"].as_str() {
        rule["resourceNames"] = json!([n]);
    }
    rule
}

/// `impersonate user`, `impersonate group`, `run-as pods`, … (the kinds of chain step).
fn describe_act(act: &Value) -> String {
    let tag = act["act"].as_str().unwrap();
    match tag {
        "impersonate" => {
            let s = &act["subject"];
            if s["name"] == json!("system:masters") {
                "impersonate system:masters".into()
            } else {
                format!("impersonate {}", s["kind"].as_str().unwrap())
            }
        }
        "run-as" => format!("run-as {}", act["resource"].as_str().unwrap()),
        "webhook" => format!("webhook mutating={}", act["mutating"]),
        _ => tag.to_string(),
    }
}

fn path_text(p: &Value) -> String {
    p["steps"].as_array().unwrap().iter().map(|s| s["how"].as_str().unwrap()).collect::<Vec<_>>().join(" → ")
}

const RBAC: &str = "rbac.authorization.k8s.io";

fn cluster_role(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name}, "rules": rules})
}

fn binding(kind: &str, ns: Option<&str>, name: &str, role_kind: &str, role: &str, subject: Value) -> Value {
    let mut b = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
        "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role}, "subjects": [subject]});
    if let Some(ns) = ns {
        b["metadata"]["namespace"] = json!(ns);
    }
    b
}

fn user(name: &str) -> Value {
    json!({"apiGroup": RBAC, "kind": "User", "name": name})
}

/// The chain material: one subject per kind of chain (applied by the admin, as
/// a cluster's operators would have).
fn material() -> Vec<Value> {
    let rule = |groups: &[&str], resources: &[&str], verbs: &[&str]| json!({"apiGroups": groups, "resources": resources, "verbs": verbs});
    let named = |groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]| json!({"apiGroups": groups, "resources": resources, "verbs": verbs, "resourceNames": names});
    let mut out = Vec::new();
    let mut give = |tag: &str, rules: Value, ns: Option<&str>| {
        // `petra-ns` is petra's Role in a namespace.
        let who = tag.split_once('-').map_or(tag, |(w, _)| w);
        let name = format!("chain-{tag}");
        match ns {
            None => {
                out.push(cluster_role(&name, rules));
                out.push(binding("ClusterRoleBinding", None, &name, "ClusterRole", &name, user(who)));
            }
            Some(ns) => {
                out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns}, "rules": rules}));
                out.push(binding("RoleBinding", Some(ns), &name, "Role", &name, user(who)));
            }
        }
    };
    // carol may view legacy-billing; ivy may impersonate carol.
    give("ivy", json!([named(&[""], &["users"], &["impersonate"], &["carol"])]), None);
    // gus may impersonate any user and the group oidc:payments-devs; hank only the group.
    give("gus", json!([rule(&[""], &["users"], &["impersonate"]), named(&[""], &["groups"], &["impersonate"], &["oidc:payments-devs"])]), None);
    give("hank", json!([named(&[""], &["groups"], &["impersonate"], &["oidc:payments-devs"])]), None);
    // uma may impersonate uids only.
    give("uma", json!([rule(&["authentication.k8s.io"], &["uids"], &["impersonate"])]), None);
    // mia may impersonate users and system:masters.
    give("mia", json!([rule(&[""], &["users"], &["impersonate"]), named(&[""], &["groups"], &["impersonate"], &["system:masters"])]), None);
    // sam may impersonate ServiceAccounts of monitoring.
    give("sam", json!([rule(&[""], &["serviceaccounts"], &["impersonate"])]), Some("monitoring"));
    // pat may create pods in monitoring; quinn Jobs in payments; pam pods in payments.
    give("pat", json!([rule(&[""], &["pods"], &["create"])]), Some("monitoring"));
    give("quinn", json!([rule(&["batch"], &["jobs"], &["create"])]), Some("payments"));
    give("pam", json!([rule(&[""], &["pods"], &["create"])]), Some("payments"));
    // rex may read Secrets in legacy-billing.
    give("rex", json!([rule(&[""], &["secrets"], &["get"])]), Some("legacy-billing"));
    // cora may create and approve client certificates.
    give(
        "cora",
        json!([
            rule(&["certificates.k8s.io"], &["certificatesigningrequests"], &["create", "get"]),
            rule(&["certificates.k8s.io"], &["certificatesigningrequests/approval"], &["update"]),
            named(&["certificates.k8s.io"], &["signers"], &["approve"], &["kubernetes.io/kube-apiserver-client"])
        ]),
        None,
    );
    // wendy may write mutating webhook configurations.
    give("wendy", json!([rule(&["admissionregistration.k8s.io"], &["mutatingwebhookconfigurations"], &["create"])]), None);
    // petra may create PersistentVolumes, and claims and pods in legacy-billing.
    give("petra", json!([rule(&[""], &["persistentvolumes"], &["create"])]), None);
    give("petra-ns", json!([rule(&[""], &["pods", "persistentvolumeclaims"], &["create"])]), Some("legacy-billing"));
    // nora may use nodes/proxy.
    give("nora", json!([rule(&[""], &["nodes/proxy"], &["get"])]), None);
    // eli may write Roles with any permission and bind them in legacy-billing.
    give("eli", json!([rule(&[RBAC], &["roles"], &["create", "escalate", "bind"]), rule(&[RBAC], &["rolebindings"], &["create"])]), Some("legacy-billing"));
    // fay may add rules to her own Role.
    give("fay", json!([named(&[RBAC], &["roles"], &["get", "update", "escalate"], &["chain-fay"])]), Some("legacy-billing"));
    // bea may bind any ClusterRole and create RoleBindings; dan may mint tokens in monitoring.
    give("bea", json!([rule(&[RBAC], &["clusterroles"], &["bind"]), rule(&[RBAC], &["rolebindings"], &["create"])]), None);
    give("dan", json!([rule(&[""], &["serviceaccounts/token"], &["create"])]), Some("monitoring"));
    // The grants the chains reach.
    out.push(binding("RoleBinding", Some("legacy-billing"), "chain-carol", "ClusterRole", "view", user("carol")));
    out.push(binding(
        "RoleBinding",
        Some("legacy-billing"),
        "chain-billing",
        "ClusterRole",
        "view",
        json!({"kind": "ServiceAccount", "namespace": "legacy-billing", "name": "billing"}),
    ));
    out.push(binding(
        "RoleBinding",
        Some("payments"),
        "chain-default",
        "ClusterRole",
        "edit",
        json!({"kind": "ServiceAccount", "namespace": "payments", "name": "default"}),
    ));
    out.push(binding(
        "RoleBinding",
        Some("payments"),
        "chain-api",
        "ClusterRole",
        "view",
        json!({"kind": "ServiceAccount", "namespace": "payments", "name": "api"}),
    ));
    out
}

/// One question: the subject, `khc can`'s arguments, the act its first path
/// must contain (`None`: khc answers no), and when khc prunes paths, the words
/// one of which the server's refusal of each must contain.
struct Question {
    who: &'static str,
    args: &'static [&'static str],
    act: Option<&'static str>,
    refusal: &'static [&'static str],
}

/// Executes, for each question, `khc can`'s first followable path (it must give
/// the permission) and every pruned path (the server must refuse the step
/// khc's admission refuses); a "no" with no path must fail on the server too.
pub fn every_kind_of_chain(c: &Cluster, project: &str, kubeconfig: &str) {
    for obj in material() {
        let o = c.kubectl_stdin(&["--as", "ops", "--as-group", "system:masters", "apply", "-f", "-"], &obj.to_string());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    const NONE: &[&str] = &[];
    const NO_DEFAULT: &[&str] = &["no-default-service-account"];
    const HOST_PATH: &[&str] = &["hostpath"];
    const EITHER: &[&str] = &["no-default-service-account", "hostpath"];
    let q = |who, args, act, refusal| Question { who, args, act, refusal };
    let questions = [
        q("user:bea", &["get", "secrets", "-n", "legacy-billing"][..], Some("bind"), NONE),
        q("user:dan", &["list", "pods", "-n", "monitoring"], Some("token"), NONE),
        q("user:ivy", &["list", "pods", "-n", "legacy-billing"], Some("impersonate User"), NONE),
        q("user:gus", &["create", "deployments.apps", "-n", "payments"], Some("impersonate Group"), NONE),
        q("user:mia", &["delete", "namespaces"], Some("impersonate system:masters"), NONE),
        q("user:sam", &["list", "pods", "-n", "monitoring"], Some("impersonate ServiceAccount"), NONE),
        q("user:pat", &["list", "pods", "-n", "monitoring"], Some("run-as pods"), NONE),
        q("user:quinn", &["list", "configmaps", "-n", "payments"], Some("run-as jobs.batch"), NO_DEFAULT),
        q("user:rex", &["list", "pods", "-n", "legacy-billing"], Some("read-token-secret"), NONE),
        q("user:cora", &["list", "pods", "-n", "legacy-billing"], Some("approve-csr"), NONE),
        q("user:wendy", &["get", "secrets", "-n", "payments"], Some("webhook mutating=true"), NONE),
        q("user:petra", &["list", "pods", "-n", "monitoring"], Some("host-path-volume"), HOST_PATH),
        q("user:nora", &["list", "pods", "-n", "monitoring"], Some("nodes-proxy"), NONE),
        q("user:eli", &["get", "secrets", "-n", "legacy-billing"], Some("escalate"), NONE),
        q("user:fay", &["get", "secrets", "-n", "legacy-billing"], Some("add-rule"), NONE),
        // "no" answers: each chain fails on the server.
        q("user:hank", &["create", "deployments.apps", "-n", "payments"], None, NONE),
        q("user:uma", &["delete", "namespaces"], None, NONE),
        q("user:pam", &["create", "configmaps", "-n", "payments"], None, EITHER),
    ];
    let mut exec = Exec { c, acts: BTreeSet::new(), refused: BTreeSet::new() };
    for q in &questions {
        let mut args = vec!["can", q.who];
        args.extend_from_slice(q.args);
        args.extend(["-p", project, "--kubeconfig", kubeconfig, "--format", "json"]);
        let (code, text, err) = super::khc(&args, None);
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}{err}"));
        let who = Subject::parse(q.who).unwrap();
        let req = &v["request"];
        let paths = v["paths"].as_array().unwrap();
        let followable: Vec<&Value> = paths.iter().filter(|p| p["pruned"].is_null()).collect();
        eprintln!("{} {}: exit {code}, {} path(s), {} pruned", q.who, q.args.join(" "), paths.len(), paths.len() - followable.len());
        match q.act {
            Some(act) => {
                assert_eq!(code, 0, "{}: khc says no:\n{text}", q.who);
                assert!(v["allowed"] == json!(false), "{}: a direct grant, not a chain", q.who);
                // The shortest followable path with the kind of step this question is
                // about (a subject may have several kinds: gus may also impersonate a
                // user who binds).
                let first = followable
                    .iter()
                    .find(|p| p["steps"].as_array().unwrap().iter().any(|s| describe_act(&s["act"]) == act))
                    .unwrap_or_else(|| panic!("{}: no followable {act} path:\n{text}", q.who));
                let outcome = exec.path(&who, first, req);
                assert!(matches!(outcome, Outcome::Allowed | Outcome::PowerTaken), "{}: {} → {outcome:?}", q.who, path_text(first));
                eprintln!("  executed: {} → {outcome:?}", path_text(first));
            }
            None => {
                assert_eq!(code, 1, "{}: khc says yes:\n{text}", q.who);
                assert!(followable.is_empty(), "{text}");
                // No followable chain: the subject's own request is refused too.
                let me = exec.own(&who, None);
                assert!(!exec.review(&me, req, false), "{}: the server allows {req}", q.who);
            }
        }
        let pruned: Vec<&Value> = paths.iter().filter(|p| !p["pruned"].is_null()).collect();
        if !q.refusal.is_empty() {
            assert!(!pruned.is_empty(), "{}: khc prunes no path:\n{text}", q.who);
            for p in pruned {
                let outcome = exec.path(&who, p, req);
                eprintln!("  pruned: {} ({}) → {outcome:?}", path_text(p), p["pruned"]);
                match outcome {
                    Outcome::Refused(_, status, msg) => {
                        assert_eq!(status, 403, "{msg}");
                        assert!(q.refusal.iter().any(|w| msg.to_lowercase().contains(w)), "{}: refused with {msg:?}, not {:?}", q.who, q.refusal);
                    }
                    other => panic!("{}: khc prunes {} ({}), the server allows it: {other:?}", q.who, path_text(p), p["pruned"]),
                }
            }
        }
    }
    // The "no" answers khc gives by the API server's own rules, refused there too:
    // a group impersonated without a user, a uid alone ("requested … without
    // impersonating a user": 400 on 1.37.2, a BadRequest; 500 on 1.30.14, where the
    // filter returns a plain error).
    let hank = exec.own(&Subject::user("hank"), None);
    let r = c.request_as(&hank.cred, &[("Impersonate-Group".into(), "oidc:payments-devs".into())], "GET", "/api/v1/namespaces/payments/pods", &Value::Null);
    assert!(matches!(r.status, 400 | 500), "a group without a user: {} {}", r.status, r.body);
    let uma = exec.own(&Subject::user("uma"), None);
    let r = c.request_as(&uma.cred, &[("Impersonate-Uid".into(), "1234".into())], "GET", "/api/v1/namespaces", &Value::Null);
    assert!(matches!(r.status, 400 | 500), "a uid without a user: {} {}", r.status, r.body);
    let want: BTreeSet<String> = [
        "impersonate User",
        "impersonate Group",
        "impersonate ServiceAccount",
        "impersonate system:masters",
        "token",
        "run-as pods",
        "run-as jobs.batch",
        "read-token-secret",
        "approve-csr",
        "webhook mutating=true",
        "nodes-proxy",
        "host-path-volume",
        "bind",
        "escalate",
        "add-rule",
        "request",
        "as-service-account",
    ]
    .map(String::from)
    .into_iter()
    .collect();
    let missing: Vec<&String> = want.difference(&exec.acts).collect();
    eprintln!("acts executed: {:?}; refused: {:?}", exec.acts, exec.refused);
    assert!(missing.is_empty(), "kinds of chain never executed: {missing:?}");
    for r in ["run-as pods", "run-as jobs.batch", "host-path-pod"] {
        assert!(exec.refused.contains(r), "no pruned {r} step was refused by the server: {:?}", exec.refused);
    }
}

/// The escalation grants a generated program may get (cluster roles; `{k}` is
/// the program's number), and their user.
const ESCALATION_GRANTS: &[(&str, &str)] = &[
    ("bind", "  role esc-bind-{k} {\n    can bind on clusterroles.rbac.authorization.k8s.io\n    can create on rolebindings.rbac.authorization.k8s.io\n  }\n"),
    ("imp", "  role esc-imp-{k} { can impersonate on users names \"oncall-1@example.com\" }\n"),
    ("token", "  role esc-token-{k} { can create on \"serviceaccounts/token\" }\n"),
    ("pods", "  role esc-pods-{k} { can create on pods }\n"),
    (
        "csr",
        "  role esc-csr-{k} {\n    can create on certificatesigningrequests.certificates.k8s.io\n    can update on \"certificatesigningrequests.certificates.k8s.io/approval\"\n    can approve on signers.certificates.k8s.io names \"kubernetes.io/kube-apiserver-client\"\n  }\n",
    ),
    ("hook", "  role esc-hook-{k} { can create on mutatingwebhookconfigurations.admissionregistration.k8s.io }\n"),
    ("pv", "  role esc-pv-{k} { can create on persistentvolumes persistentvolumeclaims pods }\n"),
    ("group", "  role esc-group-{k} { can impersonate on users groups }\n"),
];

/// Generated program `k` (`tests/workspace_gen.rs`, `2 + k` tenants) with five
/// of [`ESCALATION_GRANTS`] picked by a fixed seed, each granted to user
/// `u{k}-NAME`: its source files and the users.
fn generated_with_escalations(k: usize, minor: u32) -> (Vec<(String, String)>, Vec<String>) {
    let ws = khc_tests::workspace_gen::Workspace::new(2 + k);
    let mut seed: u64 = 0x5EED_0018 ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut pool: Vec<usize> = (0..ESCALATION_GRANTS.len()).collect();
    let mut picked = Vec::new();
    for _ in 0..5 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        picked.push(pool.remove((seed >> 33) as usize % pool.len()));
    }
    picked.sort();
    let mut extra = String::new();
    let mut users = Vec::new();
    for i in picked {
        let (name, role) = ESCALATION_GRANTS[i];
        extra += &role.replace("{k}", &k.to_string());
        extra += &format!("  grant esc-{name}-{k} to user \"u{k}-{name}\"\n");
        users.push(format!("user:u{k}-{name}"));
    }
    let anchor = "  grant platform-reader to group \"platform-oncall\"\n";
    let files = ws
        .files()
        .into_iter()
        .map(|(path, text)| {
            if text.contains(anchor) {
                let text = text.replace(anchor, &format!("{anchor}{extra}")).replace("kubernetes 1.35", &format!("kubernetes 1.{}", minor.min(35)));
                (path, text)
            } else {
                (path, text)
            }
        })
        .collect();
    (files, users)
}

/// Item 3: the same chain execution on generated programs (fixed seeds, two
/// programs, about a minute a server): each is built and applied; for a few
/// requests, every subject `who-can` reports without a direct grant, and every
/// escalation user the seed gave, is asked with `khc can`: a "yes" is executed
/// (its first followable path gives the permission), a "no" is refused by the
/// server (SelfSubjectAccessReview, and each pruned path's refused step).
pub fn on_generated_programs(c: &Cluster, dir: &std::path::Path, minor: u32) {
    let mut exec = Exec { c, acts: BTreeSet::new(), refused: BTreeSet::new() };
    let (mut yes, mut no) = (0, 0);
    // The namespace the programs' `allow … from namespace ingress-nginx` names
    // exists, as in a cluster with that ingress controller (with its `default`
    // ServiceAccount: no ServiceAccount controller runs here).
    c.kubectl_ok(&["create", "namespace", "ingress-nginx"]);
    c.kubectl_ok(&["create", "serviceaccount", "default", "-n", "ingress-nginx"]);
    for k in 0..2 {
        let t0 = Instant::now();
        let (files, users) = generated_with_escalations(k, minor);
        let src = dir.join(format!("gen{k}"));
        for (path, text) in &files {
            let p = src.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let out = dir.join(format!("gen{k}-out"));
        let (code, _, err) = super::khc(&["build", src.to_str().unwrap(), "-o", out.to_str().unwrap()], None);
        assert_eq!(code, 0, "generated program {k}: {err}");
        let tree = out.join("clusters/bench");
        let o = c.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=khc",
            "-R",
            "-f",
            tree.join("cluster").to_str().unwrap(),
            "-R",
            "-f",
            tree.join("tenants").to_str().unwrap(),
        ]);
        assert!(o.status.success(), "generated program {k}: {}", String::from_utf8_lossy(&o.stderr));
        let p = src.to_str().unwrap();
        let requests: [&[&str]; 4] = [
            &["get", "secrets", "-n", "t000", "--name", "t000-db-credentials"],
            &["list", "pods", "-n", "t001"],
            &["create", "deployments.apps", "-n", "t001-jobs"],
            &["delete", "namespaces"],
        ];
        for r in requests {
            let mut args = vec!["who-can"];
            args.extend_from_slice(r);
            args.extend(["-p", p, "--format", "json"]);
            let (code, text, err) = super::khc(&args, None);
            assert_eq!(code, 0, "{text}{err}");
            let v: Value = serde_json::from_str(&text).unwrap();
            let mut asked: Vec<String> = v[0]["answers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["grants"].as_array().is_none_or(|g| g.is_empty()))
                .map(|a| serde_json::from_value::<Subject>(a["subject"].clone()).unwrap().to_string())
                .collect();
            let reported = asked.len();
            for u in &users {
                if !asked.contains(u) {
                    asked.push(u.clone());
                }
            }
            for (i, who) in asked.iter().enumerate() {
                let mut args = vec!["can", who.as_str()];
                args.extend_from_slice(r);
                args.extend(["-p", p, "--format", "json"]);
                let (code, text, err) = super::khc(&args, None);
                let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}{err}"));
                let subject = Subject::parse(who).unwrap();
                let req = &v["request"];
                let paths = v["paths"].as_array().unwrap();
                if i < reported {
                    assert_eq!(code, 0, "who-can reports {who} for {r:?}, can says no:\n{text}");
                }
                if v["allowed"] == json!(true) {
                    continue;
                }
                if code == 0 {
                    yes += 1;
                    // A one-step escalation (a pod or token of an allowed
                    // ServiceAccount) is among the paths too.
                    let first = paths.iter().find(|p| p["pruned"].is_null()).unwrap_or_else(|| panic!("{who} {r:?}: yes without a path:\n{text}"));
                    let outcome = exec.path(&subject, first, req);
                    eprintln!("gen{k}: {who} {}: {} → {outcome:?}", r.join(" "), path_text(first));
                    assert!(matches!(outcome, Outcome::Allowed | Outcome::PowerTaken), "gen{k}: {who} {r:?}: {} → {outcome:?}", path_text(first));
                } else {
                    no += 1;
                    let me = exec.own(&subject, None);
                    assert!(!exec.review(&me, req, false), "gen{k}: khc says {who} may not {r:?}, the server allows it");
                    for p in paths {
                        let outcome = exec.path(&subject, p, req);
                        eprintln!("gen{k}: {who} {}: pruned {} → {outcome:?}", r.join(" "), path_text(p));
                        assert!(
                            matches!(outcome, Outcome::Refused(_, 403, _)),
                            "gen{k}: khc prunes {} ({}), the server: {outcome:?}",
                            path_text(p),
                            p["pruned"]
                        );
                    }
                }
            }
        }
        eprintln!("gen{k}: {} users with escalation grants, {:.1}s", users.len(), t0.elapsed().as_secs_f64());
    }
    eprintln!("generated programs: {yes} chains executed, {no} \"no\" answers refused; acts {:?}, refused {:?}", exec.acts, exec.refused);
    assert!(yes >= 4 && no >= 4, "too few questions answered: {yes} yes, {no} no");
}
