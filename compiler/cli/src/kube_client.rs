//! Reading the live objects the evaluators need straight from an API server
//! (`--kubeconfig PATH [--context C]`): the kubeconfig's cluster CA, client
//! certificate and key, or bearer token (inline `*-data`, files relative to the
//! kubeconfig, `tokenFile`), then one paginated GET of each list endpoint.
//! Kinds the server does not serve (404) are skipped; a forbidden list (403) is
//! an error, since the answers would silently miss what it holds.

use base64::Engine as _;
use khc_analysis::manifest::Manifest;
use serde_json::Value;
use std::path::{Path, PathBuf};
use ureq::tls::{parse_pem, Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// The list endpoints read: every kind the evaluators and `audit-live` look at.
pub const LIST_ENDPOINTS: &[(&str, &str)] = &[
    ("/api/v1/namespaces", "v1"),
    ("/api/v1/serviceaccounts", "v1"),
    ("/apis/rbac.authorization.k8s.io/v1/roles", "rbac.authorization.k8s.io/v1"),
    ("/apis/rbac.authorization.k8s.io/v1/clusterroles", "rbac.authorization.k8s.io/v1"),
    ("/apis/rbac.authorization.k8s.io/v1/rolebindings", "rbac.authorization.k8s.io/v1"),
    ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "rbac.authorization.k8s.io/v1"),
    ("/apis/networking.k8s.io/v1/networkpolicies", "networking.k8s.io/v1"),
    ("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies", "admissionregistration.k8s.io/v1"),
    ("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings", "admissionregistration.k8s.io/v1"),
    ("/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", "admissionregistration.k8s.io/v1"),
    ("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", "admissionregistration.k8s.io/v1"),
];

/// Where and how to connect.
struct Target {
    server: String,
    tls: TlsConfig,
    token: Option<String>,
}

fn named<'a>(list: &'a Value, name: &str, what: &str) -> Result<&'a Value, String> {
    list.as_array().into_iter().flatten().find(|x| x["name"] == name).map(|x| &x[what]).ok_or_else(|| format!("the kubeconfig has no {what} named `{name}`"))
}

/// Inline `KEY-data` (base64) or the file `KEY` (relative to the kubeconfig's folder).
fn bytes(obj: &Value, key: &str, dir: &Path) -> Result<Option<Vec<u8>>, String> {
    if let Some(d) = obj[format!("{key}-data")].as_str() {
        return base64::engine::general_purpose::STANDARD.decode(d.trim()).map(Some).map_err(|e| format!("{key}-data is not base64: {e}"));
    }
    match obj[key].as_str() {
        Some(f) => {
            let p = if Path::new(f).is_absolute() { PathBuf::from(f) } else { dir.join(f) };
            std::fs::read(&p).map(Some).map_err(|e| format!("cannot read {key} {}: {e}", p.display()))
        }
        None => Ok(None),
    }
}

fn target(kubeconfig: &Path, context: Option<&str>) -> Result<Target, String> {
    let text = std::fs::read_to_string(kubeconfig).map_err(|e| format!("cannot read {}: {e}", kubeconfig.display()))?;
    let kc: Value = serde_yaml_ng::from_str(&text).map_err(|e| format!("{} is not a kubeconfig: {e}", kubeconfig.display()))?;
    let dir = kubeconfig.parent().unwrap_or(Path::new("."));
    let ctx_name = context
        .map(str::to_string)
        .or_else(|| kc["current-context"].as_str().map(str::to_string))
        .ok_or("the kubeconfig has no current-context; pass --context")?;
    let ctx = named(&kc["contexts"], &ctx_name, "context")?;
    let cluster = named(&kc["clusters"], ctx["cluster"].as_str().unwrap_or(""), "cluster")?;
    let user = match ctx["user"].as_str() {
        Some(u) if !u.is_empty() => named(&kc["users"], u, "user")?.clone(),
        _ => Value::Null,
    };
    let server = cluster["server"].as_str().ok_or("the cluster has no server")?.trim_end_matches('/').to_string();
    let mut tls = TlsConfig::builder();
    if let Some(ca) = bytes(cluster, "certificate-authority", dir)? {
        let certs: Vec<Certificate<'static>> = parse_pem(&ca)
            .filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err("certificate-authority holds no PEM certificate".into());
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    if cluster["insecure-skip-tls-verify"] == true {
        tls = tls.disable_verification(true);
    }
    if let (Some(cert), Some(key)) = (bytes(&user, "client-certificate", dir)?, bytes(&user, "client-key", dir)?) {
        let chain: Vec<Certificate<'static>> = parse_pem(&cert)
            .filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        let key = PrivateKey::from_pem(&key).map_err(|e| format!("client-key: {e}"))?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    let token = match (user["token"].as_str(), user["tokenFile"].as_str()) {
        (Some(t), _) => Some(t.to_string()),
        (None, Some(f)) => Some(std::fs::read_to_string(dir.join(f)).map_err(|e| format!("cannot read tokenFile {f}: {e}"))?.trim().to_string()),
        _ => None,
    };
    if user["exec"].is_object() || user["auth-provider"].is_object() {
        return Err("the kubeconfig's user authenticates with an exec or auth-provider plugin, which khc does not run; use a dump: kubectl get … -A -o yaml | khc … --live -".into());
    }
    Ok(Target { server, tls: tls.build(), token })
}

/// Every object of the [`LIST_ENDPOINTS`] the server serves, as manifests whose
/// location is the list URL.
pub fn fetch(kubeconfig: &Path, context: Option<&str>) -> Result<Vec<Manifest>, String> {
    let t = target(kubeconfig, context)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(t.tls.clone())
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into();
    let mut out = Vec::new();
    let mut document = 0;
    for (path, api_version) in LIST_ENDPOINTS {
        let mut cont: Option<String> = None;
        loop {
            let mut url = format!("{}{path}?limit=500", t.server);
            if let Some(c) = &cont {
                let enc: String =
                    c.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
                url.push_str(&format!("&continue={enc}"));
            }
            let mut req = agent.get(&url).header("Accept", "application/json");
            if let Some(tok) = &t.token {
                req = req.header("Authorization", format!("Bearer {tok}"));
            }
            let mut resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
            let status = resp.status().as_u16();
            let body = resp.body_mut().with_config().limit(1 << 30).read_to_string().map_err(|e| format!("GET {url}: {e}"))?;
            if status == 404 {
                break;
            }
            if status != 200 {
                let msg: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                return Err(format!("GET {url}: {status} {}", msg["message"].as_str().unwrap_or(body.trim())));
            }
            let list: Value = serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON: {e}"))?;
            let kind = list["kind"].as_str().unwrap_or("").trim_end_matches("List").to_string();
            document += 1;
            for (i, item) in list["items"].as_array().into_iter().flatten().enumerate() {
                let mut v = item.clone();
                v["kind"] = Value::String(kind.clone());
                v["apiVersion"] = Value::String(api_version.to_string());
                out.push(Manifest { file: format!("{}{path}", t.server), line: 1, value: v, document, item: Some(i as u32 + 1), text: None, end_line: None });
            }
            cont = list["metadata"]["continue"].as_str().filter(|c| !c.is_empty()).map(str::to_string);
            if cont.is_none() {
                break;
            }
        }
    }
    Ok(out)
}
