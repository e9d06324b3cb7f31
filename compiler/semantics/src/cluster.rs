//! `cluster NAME { … }`: version, exemptions, encryption at rest, cluster-wide
//! admission and cluster RBAC (SPEC.md sections 4 and 7).

use crate::admission::{check_admission, ProfileTable};
use crate::context::{word, At, Ctx};
use crate::control_plane;
use crate::env::{OidcPrefixes, Tenants};
use crate::model::*;
use crate::rbac::{add_role, check_grants, GrantScope, RoleScope};
use crate::schema::{self, BlockKind, ClusterStatement};
use crate::values;
use khc_syntax::{Diagnostic, ValueKind};
use std::collections::BTreeMap;

/// The oldest Kubernetes minor version khc targets (ValidatingAdmissionPolicy v1).
pub const MIN_MINOR: u32 = 30;

/// The prefixes of the names the cluster's OIDC issuers produce, `None` without an issuer.
pub(crate) fn oidc_prefixes(c: &Cluster) -> Option<OidcPrefixes> {
    let oidc = &c.control_plane.authentication.oidc;
    (!oidc.is_empty()).then(|| OidcPrefixes {
        users: oidc.iter().map(|o| o.username_prefix.clone()).collect(),
        groups: oidc.iter().filter(|o| o.groups_claim.is_some()).map(|o| o.groups_prefix.clone()).collect(),
    })
}

/// Checks the cluster statement.
/// `tenants` answers for the tenants its grants name (`tenant T workload W`).
pub(crate) fn check_cluster(cx: &mut Ctx, at: &At<'_>, profiles: &ProfileTable, tenants: &dyn Tenants) -> Cluster {
    let name = match cx.one_word(at, "a cluster name") {
        Some((n, span)) => {
            cx.check_label(at, &n, span, "cluster");
            n
        }
        None => "cluster".into(),
    };
    let mut cluster = Cluster {
        name,
        origin: at.origin(),
        minor_version: MIN_MINOR,
        exempt_namespaces: vec!["kube-node-lease".into(), "kube-public".into(), "kube-system".into()],
        api_server: Vec::new(),
        pod_cidr: Vec::new(),
        service_cidr: Vec::new(),
        cni: Cni::Generic,
        dns: DnsTarget::default(),
        all_tenants_allows: Vec::new(),
        encryption: None,
        admission: None,
        roles: Vec::new(),
        bindings: Vec::new(),
        quota_scale: None,
        admission_mode: None,
        control_plane: control_plane::defaults(&at.origin(), MIN_MINOR, &[]),
        managed_by: Vec::new(),
        exceptions: Vec::new(),
        images: None,
    };
    // Control-plane blocks are read after the loop: they depend on `kubernetes`
    // and `exempt-namespaces`, wherever those stand.
    let mut managed_by: Option<At<'_>> = None;
    let mut audit: Option<At<'_>> = None;
    let mut pod_security: Option<At<'_>> = None;
    let mut authentication: Option<At<'_>> = None;
    let mut kubelet_ca: Option<At<'_>> = None;
    let mut version_span = None;
    let mut cni_span = None;
    let mut seen = Vec::new();
    let mut grants = Vec::new();
    let mut exceptions = Vec::new();
    let mut roles = Vec::new();
    let mut role_firsts = BTreeMap::new();
    let mut has_encryption = false;
    for c in at.children() {
        let Some(stmt) = ClusterStatement::of(c.name()).filter(|_| !c.s.name.quoted) else {
            cx.unknown_statement(&c, BlockKind::Cluster);
            continue;
        };
        let singleton = schema::statement(BlockKind::Cluster, c.name()).is_some_and(|s| s.once);
        if singleton && !cx.once(&mut seen, c) {
            continue;
        }
        match stmt {
            ClusterStatement::Kubernetes => {
                cx.no_block(&c);
                if let Some(minor) = version(cx, &c) {
                    cluster.minor_version = minor;
                    version_span = c.s.flat_args().first().map(|v| v.span);
                }
            }
            ClusterStatement::ExemptNamespaces => {
                cx.no_block(&c);
                let mut list = Vec::new();
                for (n, span) in cx.words(&c, "namespace names") {
                    if cx.check_label(&c, &n, span, "namespace") && !list.contains(&n) {
                        list.push(n);
                    }
                }
                if !list.iter().any(|n| n == "kube-system") {
                    cx.warning(&c, c.s.span, "risky", "`kube-system` is not exempt: cluster-wide admission rules will also judge system pods")
                        .notes
                        .push("note: CNI, CSI and DNS pods usually need host access; add `kube-system` unless you mean it".into());
                }
                list.sort();
                cluster.exempt_namespaces = list;
            }
            ClusterStatement::ApiServer => cluster.api_server = cidr_list(cx, &c, "the CIDRs of the API server endpoints, e.g. `api-server 10.0.0.10/32`"),
            ClusterStatement::PodCidr => cluster.pod_cidr = cidr_list(cx, &c, "the cluster's pod address ranges, e.g. `pod-cidr 10.244.0.0/16`"),
            ClusterStatement::ServiceCidr => cluster.service_cidr = cidr_list(cx, &c, "the cluster's Service address ranges, e.g. `service-cidr 10.96.0.0/12`"),
            ClusterStatement::Cni => {
                if let Some(cni) = cni(cx, &c) {
                    cluster.cni = cni;
                    cni_span = Some(c.s.span);
                }
            }
            ClusterStatement::Dns => {
                if let Some(dns) = dns_target(cx, &c) {
                    cluster.dns = dns;
                }
            }
            ClusterStatement::Allow => {
                if let Some(a) = crate::tenant::network::cluster_allow(cx, &c) {
                    cluster.all_tenants_allows.push(a);
                }
            }
            ClusterStatement::Encryption => {
                has_encryption = true;
                cluster.encryption = check_encryption(cx, &c);
            }
            ClusterStatement::Admission => cluster.admission = Some(check_admission(cx, &c, profiles)),
            ClusterStatement::QuotaScale => cluster.quota_scale = crate::overrides::quota_scale(cx, &c),
            ClusterStatement::AdmissionMode => cluster.admission_mode = crate::overrides::admission_mode(cx, &c),
            // Read after the loop (each at most once, `once` above).
            ClusterStatement::ManagedBy => managed_by = Some(c),
            ClusterStatement::Audit => audit = Some(c),
            ClusterStatement::PodSecurity => pod_security = Some(c),
            ClusterStatement::Authentication => authentication = Some(c),
            ClusterStatement::KubeletCertificateAuthority => kubelet_ca = Some(c),
            ClusterStatement::Images => cluster.images = Some(crate::images::check_images(cx, &c, &crate::env::TenantsFiles(tenants), true)),
            // Read after `managed-by`, wherever it stands: grants that become the applier are diagnosed.
            ClusterStatement::Role => roles.push(c),
            ClusterStatement::Grant => grants.push(c),
            // Read after `admission`, wherever it stands.
            ClusterStatement::Exception => exceptions.push(c),
        }
    }
    if !has_encryption {
        cx.warning(at, at.s.name.span, "risky", "no `encryption` block: Secrets are stored unencrypted in etcd")
            .notes
            .push("help: add `encryption { provider secretbox { key k1 env \"KHC_ENCRYPTION_KEY\" } }` (or a `kms` provider, KMS v2)".into());
    }
    if let (Some(a), Some(mode)) = (&mut cluster.admission, &cluster.admission_mode) {
        a.actions.clone_from(mode);
    }
    if let Some(span) = cni_span.filter(|_| cluster.cni.cluster_network_policy() && !cluster.cni.tiers(cluster.minor_version)) {
        cx.warning(
            at,
            span,
            "cni",
            format!(
                "`cni {}` on Kubernetes 1.{}: khc emits no ClusterNetworkPolicy tiers, whose CRD needs 1.{CLUSTER_NETWORK_POLICY_MIN_MINOR} or later",
                cluster.cni.as_str(),
                cluster.minor_version
            ),
        )
        .notes
        .push("note: the CRD's validation rules (network-policy-api v0.2.0) call the CEL function `isCIDR`, which a 1.30 API server does not have; the NetworkPolicies are emitted as for `generic`".into());
    }
    if let Some(span) = version_span {
        control_plane::check_end_of_life(cx, at, cluster.minor_version, span);
    }
    cluster.control_plane = control_plane::defaults(&at.origin(), cluster.minor_version, &cluster.exempt_namespaces);
    let cp = &mut cluster.control_plane;
    if let Some(c) = &audit {
        control_plane::check_audit(cx, c, &mut cp.audit);
    }
    if let Some(c) = &pod_security {
        control_plane::check_pod_security(cx, c, &mut cp.pod_security);
    }
    if let Some(c) = &authentication {
        control_plane::check_authentication(cx, c, cluster.minor_version, &mut cp.authentication);
    }
    if let Some(c) = &kubelet_ca {
        cp.kubelet_ca = control_plane::check_file_setting(cx, c, "the kubelets' CA bundle");
    }
    match &managed_by {
        Some(c) => cluster.managed_by = control_plane::check_managed_by(cx, c, tenants),
        None => control_plane::missing_managed_by(cx, at),
    }
    let role_scope = RoleScope::cluster(&cluster.managed_by, cluster.minor_version);
    for c in roles {
        add_role(cx, c, "cluster role", &mut cluster.roles, &mut role_firsts, &role_scope);
    }
    let role_names: Vec<String> = cluster.roles.iter().map(|r| r.name.clone()).collect();
    let oidc = oidc_prefixes(&cluster);
    cluster.bindings = check_grants(cx, &grants, &GrantScope::Cluster { cluster_roles: &role_names, oidc: oidc.as_ref(), tenants });
    if let Some(a) = &mut cluster.admission {
        a.minor_version = cluster.minor_version;
        crate::admission::check_rule_scope(cx, a, cluster.minor_version, Some(&cluster.exempt_namespaces));
    }
    cluster.exceptions = crate::tenant::exception::check_cluster_exceptions(cx, &exceptions, cluster.admission.as_ref());
    // The cluster's own grants reach every namespace (a tenant's reach only its own,
    // where the cluster's check cannot see them).
    let makers = crate::rbac::pod_makers(&cluster.bindings, &[], &crate::rbac::pod_maker_roles(&cluster.roles));
    crate::tenant::exception::check_pod_makers(cx, &exceptions, &cluster.exceptions, &makers);
    cluster
}

/// Parses `cni generic|calico|antrea|cilium|kube-router`.
fn cni(cx: &mut Ctx, at: &At<'_>) -> Option<Cni> {
    cx.no_block(at);
    let (name, span) = cx.one_word(at, "a CNI: `generic`, `calico`, `antrea`, `cilium` or `kube-router`")?;
    match Cni::of(&name) {
        Some(c) => Some(c),
        None => {
            let s = values::suggest(&name, schema::CNIS.names().iter().copied());
            let d = cx.error(at, span, "invalid-value", format!("unknown CNI `{name}`"));
            match s {
                Some(s) => d.suggest(s),
                None => d.notes.push(format!("note: CNIs are {} (`generic` when yours is not listed)", schema::CNIS.names().join(", "))),
            }
            None
        }
    }
}

/// Parses `kubernetes 1.31`.
fn version(cx: &mut Ctx, at: &At<'_>) -> Option<u32> {
    let args = at.s.flat_args();
    let [v] = args.as_slice() else {
        cx.error(at, at.s.span, "bad-argument", "`kubernetes` takes one version, e.g. `kubernetes 1.31`");
        return None;
    };
    let text = match &v.kind {
        ValueKind::Number { digits, unit } if unit.is_empty() => digits.clone(),
        ValueKind::Str(s) | ValueKind::Name(s) => s.clone(),
        _ => String::new(),
    };
    match values::parse_version(&text) {
        Some(minor) if minor >= MIN_MINOR => Some(minor),
        Some(_) => {
            cx.error(at, v.span, "invalid-value", format!("khc targets Kubernetes 1.{MIN_MINOR} or later"))
                .notes
                .push("note: ValidatingAdmissionPolicy v1, which khc emits, is GA since 1.30".into());
            None
        }
        None => {
            cx.error(at, v.span, "invalid-value", format!("`{text}` is not a Kubernetes version"))
                .notes
                .push("help: write the minor version, e.g. `1.31`".into());
            None
        }
    }
}

/// Checks `encryption { … }`.
fn check_encryption(cx: &mut Ctx, at: &At<'_>) -> Option<Encryption> {
    cx.no_args(at);
    let mut resources: Vec<String> = Vec::new();
    let mut providers = Vec::new();
    let mut provider_ats = Vec::new();
    let mut key_names: Vec<String> = Vec::new();
    let mut provider_statements = 0;
    for c in at.children() {
        match (c.name(), c.s.name.quoted) {
            ("resources", false) => {
                cx.no_block(&c);
                for v in c.s.flat_args() {
                    let text = match &v.kind {
                        ValueKind::Star => "*.*".to_string(),
                        _ => word(v).unwrap_or("").to_string(),
                    };
                    let valid = text.split('.').all(|p| p == "*" || values::is_dns_label(p)) && !text.is_empty();
                    if !valid {
                        cx.error(&c, v.span, "invalid-value", format!("`{text}` is not a resource (`secrets`, `widgets.example.com`, `*.apps`)"));
                    } else if resources.contains(&text) {
                        cx.error(&c, v.span, "duplicate", format!("`{text}` is listed twice"));
                    } else {
                        resources.push(text);
                    }
                }
            }
            ("provider", false) => {
                provider_statements += 1;
                if let Some(p) = check_provider(cx, &c, &mut key_names) {
                    providers.push(p);
                    provider_ats.push(c);
                }
            }
            _ => cx.unknown_statement(&c, BlockKind::Encryption),
        }
    }
    if resources.is_empty() {
        resources.push("secrets".into());
    } else if !resources.iter().any(|r| r == "secrets" || r == "*.*" || r == "*.") {
        cx.warning(at, at.s.name.span, "risky", "`secrets` are not in the encrypted resources");
    }
    match providers.first() {
        None if provider_statements > 0 || at.s.block_recovered() => return None,
        None => {
            cx.error(at, at.s.name.span, "bad-argument", "`encryption` needs at least one `provider`")
                .notes
                .push("help: e.g. `provider aesgcm { key k1 env \"KHC_ENCRYPTION_KEY\" }`".into());
            return None;
        }
        Some(Provider::Identity) => {
            cx.warning(at, provider_ats[0].s.span, "risky", "`identity` is the first provider: new data is written unencrypted")
                .notes
                .push("note: list `identity` last, to read data written before encryption was enabled".into());
        }
        _ => {}
    }
    if let (Some(Provider::AesGcm(_)), Some(pat)) = (providers.first(), provider_ats.first()) {
        let d = cx.warning(pat, pat.s.span, "risky", "`aesgcm` writes new data with static keys: upstream advises against it without automated key rotation");
        d.notes.push("note: AES-GCM's random nonces make a key unsafe after about 2^32 writes; CIS 1.2.28 rates it WARN (kms, secretbox, aescbc pass)".into());
        d.notes.push("help: write with `secretbox` or `kms` (KMS v2) first; keep `aesgcm` after it to read older data".into());
    }
    for (p, pat) in providers.iter().zip(&provider_ats) {
        if matches!(p, Provider::AesCbc(_)) {
            cx.warning(pat, pat.s.span, "risky", "`aescbc` is not recommended (vulnerable to padding-oracle attacks)")
                .notes
                .push("help: prefer `kms` (KMS v2) or `secretbox`".into());
        }
    }
    let mut kms_names: Vec<&str> = Vec::new();
    for (p, pat) in providers.iter().zip(&provider_ats) {
        if let Provider::Kms { name, .. } = p {
            if kms_names.contains(&name.as_str()) {
                cx.error(pat, pat.s.span, "duplicate", format!("KMS provider `{name}` is declared twice"));
            }
            kms_names.push(name);
        }
    }
    Some(Encryption { origin: at.origin(), resources, providers })
}

fn check_provider(cx: &mut Ctx, at: &At<'_>, key_names: &mut Vec<String>) -> Option<Provider> {
    let (kind, span) = cx.one_word(at, "a provider kind")?;
    if !schema::PROVIDERS.contains(&kind) {
        let d = cx.error(at, span, "invalid-value", format!("unknown encryption provider `{kind}`"));
        d.notes.push(format!("note: providers are {}", schema::PROVIDERS.names().join(", ")));
        if kind == "kmsv2" || kind == "kms2" {
            d.notes.push("help: write `kms`; khc always uses KMS v2".into());
        }
        return None;
    }
    match kind.as_str() {
        "identity" => {
            cx.no_block(at);
            Some(Provider::Identity)
        }
        "kms" => check_kms(cx, at),
        _ => {
            let mut keys = Vec::new();
            let mut key_statements = 0;
            for c in at.children() {
                key_statements += 1;
                if c.name() != "key" || c.s.name.quoted {
                    cx.unknown_statement(&c, BlockKind::KeyProvider);
                    continue;
                }
                cx.no_block(&c);
                if let Some(k) = check_key(cx, &c) {
                    if key_names.contains(&k.name) {
                        cx.error(&c, c.s.span, "duplicate", format!("key `{}` is declared twice", k.name));
                    } else {
                        key_names.push(k.name.clone());
                        keys.push(k);
                    }
                }
            }
            if keys.is_empty() {
                if key_statements > 0 || at.s.block_recovered() {
                    return None;
                }
                cx.error(at, at.s.span, "bad-argument", format!("provider `{kind}` needs at least one key"))
                    .notes
                    .push("help: `key k1 env \"KHC_ENCRYPTION_KEY\"` or `key k1 file \"/etc/khc/keys/k1\"`".into());
                return None;
            }
            Some(match kind.as_str() {
                "aesgcm" => Provider::AesGcm(keys),
                "aescbc" => Provider::AesCbc(keys),
                _ => Provider::Secretbox(keys),
            })
        }
    }
}

/// Why a key or KMS plugin name could interact with the install script's key
/// placeholders (`${KHC_KEY_N}`, substituted by `install-encryption-config.sh`):
/// a name holding `$`, `{` or `}` could receive key material (which the API server
/// then stores in clear in every encrypted value's prefix), and one holding
/// `KHC_KEY_` makes the script's "placeholder left unfilled" check always fail.
fn placeholder_hazard(name: &str) -> Option<&'static str> {
    if name.contains(['$', '{', '}']) {
        Some("names may not contain `$`, `{` or `}` (the install script substitutes key material into `${…}` placeholders)")
    } else if name.contains("KHC_KEY_") {
        Some("names may not contain `KHC_KEY_` (the install script's key placeholders)")
    } else if name.chars().any(char::is_control) {
        Some("names may not contain control characters")
    } else {
        None
    }
}

/// `key NAME env "VAR"` / `key NAME file "PATH"`.
fn check_key(cx: &mut Ctx, at: &At<'_>) -> Option<Key> {
    let args = at.s.flat_args();
    let shape = "a key is written `key NAME env \"VAR\"` or `key NAME file \"PATH\"`";
    let [name, how, src] = args.as_slice() else {
        if args.len() == 2 && matches!(args[1].kind, ValueKind::Str(_)) {
            cx.error(at, args[1].span, "invalid-value", "literal keys are not allowed")
                .notes
                .push("help: keys are read at install time: `key NAME env \"VAR\"` or `key NAME file \"PATH\"`".into());
        } else {
            cx.error(at, at.s.span, "bad-argument", shape);
        }
        return None;
    };
    let (Some(name_text), Some(how_text), Some(src_text)) = (word(name), word(how), word(src)) else {
        cx.error(at, at.s.span, "bad-argument", shape);
        return None;
    };
    if name_text.is_empty() || name_text.contains(char::is_whitespace) {
        cx.error(at, name.span, "invalid-name", "key names must be non-empty and without spaces");
        return None;
    }
    if let Some(why) = placeholder_hazard(name_text) {
        cx.error(at, name.span, "invalid-name", format!("`{name_text}` is not a key name: {why}"))
            .notes
            .push("note: the API server stores key names in clear in the prefix of every encrypted value".into());
        return None;
    }
    let source = match how_text {
        "env" => {
            let ok =
                src_text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && src_text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                cx.error(at, src.span, "invalid-value", format!("`{src_text}` is not an environment variable name"));
                return None;
            }
            KeySource::Env(src_text.into())
        }
        "file" => {
            if !src_text.starts_with('/') {
                cx.error(at, src.span, "invalid-value", "key files are absolute paths on the control-plane node");
                return None;
            }
            KeySource::File(src_text.into())
        }
        _ => {
            cx.error(at, how.span, "bad-argument", format!("unknown key source `{how_text}`")).notes.push("help: key sources are `env` and `file`".into());
            return None;
        }
    };
    Some(Key { name: name_text.into(), source })
}

fn check_kms(cx: &mut Ctx, at: &At<'_>) -> Option<Provider> {
    let mut name = None;
    let mut endpoint = None;
    let mut timeout = None;
    for c in at.children() {
        cx.no_block(&c);
        match (c.name(), c.s.name.quoted) {
            ("name", false) => {
                name = cx.one_word(&c, "a KMS plugin name").and_then(|(n, span)| {
                    // The API server rejects empty names and names with `:` (they key its cache).
                    if let Some(why) = placeholder_hazard(&n) {
                        cx.error(&c, span, "invalid-value", format!("`{n}` is not a KMS plugin name: {why}"))
                            .notes
                            .push("note: the API server stores the plugin name in clear in the prefix of every encrypted value".into());
                        None
                    } else if n.is_empty() || n.contains(':') || n.chars().any(|c| c.is_control() || c.is_whitespace()) {
                        cx.error(
                            &c,
                            span,
                            "invalid-value",
                            format!("`{n}` is not a KMS plugin name: it must be non-empty, without `:`, spaces or control characters"),
                        );
                        None
                    } else {
                        Some(n)
                    }
                })
            }
            ("endpoint", false) => {
                if let Some((e, span)) = cx.one_word(&c, "a `unix://` socket") {
                    if e.strip_prefix("unix://").is_some_and(|p| p.starts_with('/') && !p.chars().any(|c| c.is_control() || c.is_whitespace())) {
                        endpoint = Some(e);
                    } else {
                        cx.error(&c, span, "invalid-value", "the KMS endpoint must be a `unix:///path/to.sock` socket");
                    }
                }
            }
            ("timeout", false) => match c.s.flat_args().as_slice() {
                [v] => match &v.kind {
                    ValueKind::Number { digits, unit } if values::is_duration(digits, unit) => timeout = Some(format!("{digits}{unit}")),
                    _ => {
                        cx.error(&c, v.span, "invalid-value", "expected a duration such as `3s` or `500ms`");
                    }
                },
                _ => {
                    cx.error(&c, c.s.span, "bad-argument", "`timeout` takes one duration");
                }
            },
            _ => cx.unknown_statement(&c, BlockKind::KmsProvider),
        }
    }
    match (name, endpoint) {
        (Some(name), Some(endpoint)) => Some(Provider::Kms { name, endpoint, timeout }),
        _ => {
            cx.push(
                Diagnostic::error("bad-argument", at.file(), at.s.span, "provider `kms` needs `name` and `endpoint`")
                    .with_help("e.g. `provider kms { name vault; endpoint \"unix:///var/run/kms/vault.sock\" }`"),
            );
            None
        }
    }
}

/// The CIDRs of `api-server`, `pod-cidr` or `service-cidr`, canonical and without
/// repeats; `needs` says what the statement takes when it has no value.
const DNS_SHAPE: &str = "`dns namespace NS [selector KEY \"VALUE\"…] [cidr ADDRESS…]` or `dns cidr ADDRESS…`";

/// The labels of NodeLocal DNSCache's DaemonSet (`k8s-app: node-local-dns`),
/// whose pods run with `hostNetwork: true`: no NetworkPolicy selects them.
const NODE_LOCAL_DNS_LABEL: &str = "node-local-dns";

/// Parses `dns namespace NS [selector KEY "VALUE"…] [cidr ADDRESS…]` (SPEC.md
/// section 6, "DNS"): where isolated tenants' `allow-dns` sends DNS.
fn dns_target(cx: &mut Ctx, c: &At<'_>) -> Option<DnsTarget> {
    cx.no_block(c);
    let args = c.s.flat_args();
    let fail = |cx: &mut Ctx, span: khc_syntax::Span, msg: String| {
        cx.error(c, span, "bad-argument", msg).notes.push(format!("help: write {DNS_SHAPE}"));
        None
    };
    if args.is_empty() {
        return fail(cx, c.s.name.span, "`dns` needs the DNS pods' namespace or an address".into());
    }
    let mut dns = DnsTarget { namespace: None, selector: Selector::new(), cidrs: Vec::new(), origin: Some(c.origin()) };
    let mut i = 0;
    if word(args[0]) == Some("namespace") {
        let Some(v) = args.get(1) else { return fail(cx, args[0].span, "`namespace` needs a namespace name".into()) };
        let ns = word(v).unwrap_or("");
        if !cx.check_label(c, ns, v.span, "namespace") {
            return None;
        }
        dns.namespace = Some(ns.to_string());
        i = 2;
        if args.get(i).and_then(|v| word(v)) == Some("selector") {
            i += 1;
            while i < args.len() && word(args[i]) != Some("cidr") {
                let key_v = args[i];
                let key = match &key_v.kind {
                    ValueKind::Name(k) | ValueKind::Str(k) => k.clone(),
                    _ => return fail(cx, key_v.span, format!("expected a label key, found {}", key_v.describe())),
                };
                if !values::is_label_key(&key) {
                    cx.error(c, key_v.span, "invalid-name", format!("`{key}` is not a valid label key"));
                    return None;
                }
                let Some(val_v) = args.get(i + 1) else { return fail(cx, key_v.span, format!("label `{key}` needs a value, e.g. `{key} \"kube-dns\"`")) };
                let value = match &val_v.kind {
                    ValueKind::Name(v) | ValueKind::Str(v) => v.clone(),
                    _ => return fail(cx, val_v.span, format!("expected a label value, found {}", val_v.describe())),
                };
                if !values::is_label_value(&value) {
                    cx.error(c, val_v.span, "invalid-value", format!("`{value}` is not a valid label value"));
                    return None;
                }
                if dns.selector.insert(key.clone(), value.clone()).is_some() {
                    cx.error(c, key_v.span, "duplicate", format!("label `{key}` is set twice"));
                }
                if value == NODE_LOCAL_DNS_LABEL {
                    cx.warning(c, val_v.span, "no-effect", "NodeLocal DNSCache's pods run with `hostNetwork: true`: no NetworkPolicy selects them by labels, so this allows no DNS traffic to them")
                        .notes
                        .push("help: name the cache's listen address instead, `dns cidr 169.254.20.10/32` (its default; the node-local-dns ConfigMap's `bind` line shows it)".into());
                }
                i += 2;
            }
            if dns.selector.is_empty() {
                return fail(cx, args[i - 1].span, "`selector` needs at least one label, e.g. `selector k8s-app \"kube-dns\"`".into());
            }
        }
    }
    if i < args.len() {
        if word(args[i]) != Some("cidr") {
            let text = args[i].as_text().unwrap_or_else(|| "[…]".into());
            return fail(cx, args[i].span, format!("unexpected `{text}` in `dns`"));
        }
        let cidr_span = args[i].span;
        for v in &args[i + 1..] {
            let text = match &v.kind {
                ValueKind::Address(a) | ValueKind::Str(a) => a.clone(),
                _ => return fail(cx, v.span, format!("expected a CIDR, found {}", v.describe())),
            };
            match values::parse_cidr(&text) {
                Ok(cidr) => {
                    let canonical = values::cidr_text(&cidr);
                    if dns.cidrs.contains(&canonical) {
                        cx.error(c, v.span, "duplicate", format!("`{canonical}` is written twice"));
                    } else {
                        dns.cidrs.push(canonical);
                    }
                }
                Err(why) => {
                    cx.error(c, v.span, "invalid-value", format!("`{text}` is not a valid CIDR: {why}"));
                    return None;
                }
            }
        }
        if dns.cidrs.is_empty() {
            return fail(cx, cidr_span, "`cidr` needs at least one address block, e.g. `cidr 169.254.20.10/32`".into());
        }
    }
    Some(dns)
}

fn cidr_list(cx: &mut Ctx, c: &At<'_>, needs: &str) -> Vec<String> {
    cx.no_block(c);
    let mut list: Vec<String> = Vec::new();
    if c.s.args.is_empty() {
        cx.error(c, c.s.name.span, "bad-argument", format!("`{}` needs {needs}", c.name()));
    }
    for v in c.s.flat_args() {
        let text = match &v.kind {
            ValueKind::Address(a) | ValueKind::Str(a) => a.clone(),
            _ => {
                cx.error(c, v.span, "bad-argument", format!("expected a CIDR, found {}", v.describe()));
                continue;
            }
        };
        match values::parse_cidr(&text) {
            Ok(cidr) => {
                let canonical = values::cidr_text(&cidr);
                if !list.contains(&canonical) {
                    list.push(canonical);
                }
            }
            Err(why) => {
                cx.error(c, v.span, "invalid-value", format!("`{text}` is not a valid CIDR: {why}"));
            }
        }
    }
    list
}
