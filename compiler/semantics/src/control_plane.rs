//! The control-plane statements of `cluster`: `audit`, `pod-security`,
//! `authentication`, `managed-by`, and the end-of-life check of `kubernetes`
//! (SPEC.md sections 4 and 7). Every setting has a safe default, so every cluster
//! gets its control-plane files (see `khc_emit::control_plane`).

use crate::context::{At, Ctx};
use crate::model::*;
use crate::rbac::{subjects, GrantScope};
use crate::schema::{AuditStatement, AuthenticationStatement, BlockKind, ClusterPodSecurityStatement, OidcStatement};
use crate::tenant::pod_security;
use crate::values;
use khc_syntax::{Span, ValueKind};

/// Characters that end a username or groups prefix cleanly (`oidc:`, `corp/`, `corp-`).
const PREFIX_SEPARATORS: [char; 6] = [':', '/', '-', '_', '.', '#'];

/// The newest Kubernetes minor version this build of khc knows (1.37). Together
/// with [`EOL`] it decides the end-of-life warning without reading the clock, so
/// the same sources always give the same diagnostics.
pub const NEWEST_MINOR: u32 = 37;

/// End of maintenance of each minor version, from the Kubernetes release pages
/// (<https://kubernetes.io/releases/> and the patch-release calendar). Upstream
/// maintains the three newest minors, so a minor is treated as past its end of life
/// when it is at least three behind [`NEWEST_MINOR`]; the date is only shown.
pub const EOL: &[(u32, &str)] =
    &[(30, "2025-06-28"), (31, "2025-10-28"), (32, "2026-02-28"), (33, "2026-06-28"), (34, "2026-10-27"), (35, "2027-02-28"), (36, "2027-06-28")];

/// The first minor whose AuthenticationConfiguration may configure anonymous
/// access (`AnonymousAuthConfigurableEndpoints`: alpha 1.31, beta and on by default
/// 1.32, GA 1.34; KEP-4633).
pub const ANONYMOUS_CONFIG_MINOR: u32 = 32;

/// True when `minor` is past its end of life as this build of khc sees it.
pub fn is_end_of_life(minor: u32) -> bool {
    minor + 3 <= NEWEST_MINOR
}

/// Warns when `kubernetes` targets a release past its end of life.
pub(crate) fn check_end_of_life(cx: &mut Ctx, at: &At<'_>, minor: u32, span: Span) {
    if !is_end_of_life(minor) {
        return;
    }
    let since = EOL.iter().find(|(m, _)| *m == minor).map(|(_, d)| format!(" (since {d})")).unwrap_or_default();
    cx.warning(at, span, "risky", format!("Kubernetes 1.{minor} is past its end of life{since}: it gets no security fixes"))
        .notes
        .push(format!("help: upgrade to a maintained release (1.{} to 1.{NEWEST_MINOR}) and raise `kubernetes`", NEWEST_MINOR - 2));
}

/// The defaults of a cluster without control-plane statements.
pub(crate) fn defaults(origin: &Origin, minor: u32, exempt_namespaces: &[String]) -> ControlPlane {
    ControlPlane {
        minor_version: minor,
        audit: Audit { origin: origin.clone(), log_path: "/var/log/kubernetes/audit/audit.log".into(), max_age: 30, max_backups: 10, max_size: 100 },
        pod_security: ClusterPodSecurity {
            origin: origin.clone(),
            enforce: Level::Baseline,
            audit: Level::Restricted,
            warn: Level::Restricted,
            version: format!("v1.{minor}"),
            exempt_usernames: Vec::new(),
            exempt_runtime_classes: Vec::new(),
            exempt_namespaces: exempt_namespaces.to_vec(),
        },
        authentication: Authentication {
            origin: origin.clone(),
            anonymous: if minor >= ANONYMOUS_CONFIG_MINOR { Anonymous::HealthOnly } else { Anonymous::Unchanged },
            oidc: Vec::new(),
        },
        kubelet_ca: None,
    }
}

/// `managed-by SUBJECT…`.
pub(crate) fn check_managed_by(cx: &mut Ctx, at: &At<'_>, tenants: &dyn crate::env::Tenants) -> Vec<Subject> {
    cx.no_block(at);
    let args = at.s.flat_args();
    if args.is_empty() {
        cx.error(
            at,
            at.s.name.span,
            "bad-argument",
            "`managed-by` needs the GitOps applier, e.g. `managed-by serviceaccount \"argocd/argocd-application-controller\"`",
        );
        return Vec::new();
    }
    subjects(cx, at, &args, &GrantScope::Cluster { cluster_roles: &[], oidc: None, tenants })
}

/// Warns when a cluster names no applier.
pub(crate) fn missing_managed_by(cx: &mut Ctx, at: &At<'_>) {
    let d = cx.warning(at, at.s.name.span, "risky", "no `managed-by`: anyone with RBAC rights can change or delete what khc manages");
    d.notes.push("help: name the GitOps applier, e.g. `managed-by serviceaccount \"argocd/argocd-application-controller\"`".into());
    d.notes.push("note: with it, an admission policy lets only the applier (and `system:masters`) change khc's namespaces and objects".into());
}

fn number(cx: &mut Ctx, at: &At<'_>, what: &str) -> Option<u32> {
    cx.no_block(at);
    match at.s.flat_args().as_slice() {
        [v] => match &v.kind {
            ValueKind::Number { digits, unit } if unit.is_empty() && !digits.contains('.') => match digits.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    cx.error(at, v.span, "invalid-value", format!("expected a whole number of {what} (1 or more)"));
                    None
                }
            },
            _ => {
                cx.error(at, v.span, "invalid-value", format!("expected a whole number of {what}"));
                None
            }
        },
        _ => {
            cx.error(at, at.s.span, "bad-argument", format!("`{}` takes one number of {what}", at.name()));
            None
        }
    }
}

fn string(cx: &mut Ctx, at: &At<'_>, what: &str) -> Option<(String, Span)> {
    cx.no_block(at);
    match at.s.flat_args().as_slice() {
        [v] => match &v.kind {
            ValueKind::Str(s) if !s.chars().any(|c| c.is_control()) => Some((s.clone(), v.span)),
            ValueKind::Str(_) => {
                cx.error(at, v.span, "invalid-value", format!("{what} must not hold control characters"));
                None
            }
            _ => {
                cx.error(at, v.span, "bad-argument", format!("expected {what} as a string, found {}", v.describe()));
                None
            }
        },
        _ => {
            cx.error(at, at.s.span, "bad-argument", format!("`{}` takes one string: {what}", at.name()));
            None
        }
    }
}

fn strings(cx: &mut Ctx, at: &At<'_>, what: &str) -> Vec<String> {
    cx.no_block(at);
    let args = at.s.flat_args();
    if args.is_empty() {
        cx.error(at, at.s.name.span, "bad-argument", format!("`{}` needs {what}", at.name()));
    }
    let mut out: Vec<String> = Vec::new();
    for v in args {
        match &v.kind {
            ValueKind::Str(s) if !s.is_empty() && !s.chars().any(|c| c.is_control()) => {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
            _ => {
                cx.error(at, v.span, "invalid-value", format!("expected {what} as non-empty strings"));
            }
        }
    }
    out
}

/// True for an absolute file path of letters, digits, `.`, `_`, `-` and `/`
/// without `..`: safe unquoted in a flag and in the install script.
fn plain_absolute_path(p: &str) -> bool {
    let plain = p.chars().all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
    p.starts_with('/') && !p.ends_with('/') && plain && !p.split('/').any(|seg| seg == "..")
}

/// A statement naming one file on the control-plane nodes
/// (`kubelet-certificate-authority "PATH"`).
pub(crate) fn check_file_setting(cx: &mut Ctx, at: &At<'_>, what: &str) -> Option<FileSetting> {
    let (p, span) = string(cx, at, &format!("the absolute path of {what}"))?;
    if plain_absolute_path(&p) {
        Some(FileSetting { origin: at.origin(), path: p })
    } else {
        cx.error(at, span, "invalid-value", format!("the path of {what} must be an absolute file path of letters, digits, `.`, `_`, `-` and `/`"));
        None
    }
}

/// `audit { log-path …; max-age …; max-backups …; max-size … }`.
pub(crate) fn check_audit(cx: &mut Ctx, at: &At<'_>, audit: &mut Audit) {
    cx.no_args(at);
    audit.origin = at.origin();
    let mut seen = Vec::new();
    for c in at.children() {
        let Some(stmt) = AuditStatement::of(c.name()).filter(|_| !c.s.name.quoted) else {
            cx.unknown_statement(&c, BlockKind::Audit);
            continue;
        };
        if !cx.once(&mut seen, c) {
            continue;
        }
        match stmt {
            AuditStatement::LogPath => {
                if let Some((p, span)) = string(cx, &c, "an absolute path on the control-plane node") {
                    if plain_absolute_path(&p) {
                        audit.log_path = p;
                    } else {
                        cx.error(&c, span, "invalid-value", "the audit log path must be an absolute file path of letters, digits, `.`, `_`, `-` and `/`");
                    }
                }
            }
            AuditStatement::MaxAge => audit.max_age = number(cx, &c, "days").unwrap_or(audit.max_age),
            AuditStatement::MaxBackups => audit.max_backups = number(cx, &c, "files").unwrap_or(audit.max_backups),
            AuditStatement::MaxSize => audit.max_size = number(cx, &c, "megabytes").unwrap_or(audit.max_size),
        }
    }
}

fn level(cx: &mut Ctx, at: &At<'_>) -> Option<Level> {
    cx.no_block(at);
    let (v, span) = cx.one_word(at, "a level (`privileged`, `baseline` or `restricted`)")?;
    pod_security::level(cx, at, &v, span)
}

/// `pod-security { enforce …; audit …; warn …; version …; exempt-… }` in `cluster`.
pub(crate) fn check_pod_security(cx: &mut Ctx, at: &At<'_>, ps: &mut ClusterPodSecurity) {
    cx.no_args(at);
    ps.origin = at.origin();
    let mut seen = Vec::new();
    let mut enforce_span = at.s.name.span;
    for c in at.children() {
        let Some(stmt) = ClusterPodSecurityStatement::of(c.name()).filter(|_| !c.s.name.quoted) else {
            cx.unknown_statement(&c, BlockKind::ClusterPodSecurity);
            continue;
        };
        if !cx.once(&mut seen, c) {
            continue;
        }
        match stmt {
            ClusterPodSecurityStatement::Enforce => {
                if let Some(l) = level(cx, &c) {
                    ps.enforce = l;
                    enforce_span = c.s.span;
                }
            }
            ClusterPodSecurityStatement::Audit => ps.audit = level(cx, &c).unwrap_or(ps.audit),
            ClusterPodSecurityStatement::Warn => ps.warn = level(cx, &c).unwrap_or(ps.warn),
            ClusterPodSecurityStatement::Version => {
                cx.no_block(&c);
                ps.version = pod_security::version(cx, &c).unwrap_or(std::mem::take(&mut ps.version));
            }
            ClusterPodSecurityStatement::ExemptUsernames => ps.exempt_usernames = strings(cx, &c, "user names"),
            ClusterPodSecurityStatement::ExemptRuntimeClasses => {
                cx.no_block(&c);
                let mut list = Vec::new();
                for (n, span) in cx.words(&c, "RuntimeClass names") {
                    if values::is_dns_subdomain(&n) {
                        if !list.contains(&n) {
                            list.push(n);
                        }
                    } else {
                        cx.error(&c, span, "invalid-name", format!("`{n}` is not a RuntimeClass name (a DNS subdomain)"));
                    }
                }
                list.sort();
                ps.exempt_runtime_classes = list;
            }
            ClusterPodSecurityStatement::ExemptNamespaces => {
                cx.no_block(&c);
                let mut list = Vec::new();
                for (n, span) in cx.words(&c, "namespace names") {
                    if cx.check_label(&c, &n, span, "namespace") && !list.contains(&n) {
                        list.push(n);
                    }
                }
                list.sort();
                ps.exempt_namespaces = list;
            }
        }
    }
    ps.exempt_usernames.sort();
    if ps.enforce == Level::Privileged {
        cx.warning(at, enforce_span, "risky", "enforcing `privileged` by default lets every unlabelled namespace run host-level pods")
            .notes
            .push("help: enforce `baseline` at least, and exempt the namespaces that need more".into());
    }
    pod_security::warn_weaker_modes(cx, at, ps.enforce, ps.audit, ps.warn);
}

/// `authentication { anonymous …; oidc "URL" { … } }`.
pub(crate) fn check_authentication(cx: &mut Ctx, at: &At<'_>, minor: u32, auth: &mut Authentication) {
    cx.no_args(at);
    auth.origin = at.origin();
    let mut seen = Vec::new();
    for c in at.children() {
        let Some(stmt) = AuthenticationStatement::of(c.name()).filter(|_| !c.s.name.quoted) else {
            cx.unknown_statement(&c, BlockKind::Authentication);
            continue;
        };
        match stmt {
            AuthenticationStatement::Anonymous => {
                if !cx.once(&mut seen, c) {
                    continue;
                }
                cx.no_block(&c);
                let Some((mode, span)) = cx.one_word(&c, "`health-only` or `off`") else { continue };
                match mode.as_str() {
                    "off" => auth.anonymous = Anonymous::Off,
                    "health-only" if minor >= ANONYMOUS_CONFIG_MINOR => auth.anonymous = Anonymous::HealthOnly,
                    "health-only" => {
                        auth.anonymous = Anonymous::Off;
                        let d = cx.warning(
                            &c,
                            span,
                            "conflict",
                            format!(
                                "Kubernetes 1.{minor} cannot limit anonymous requests to the health endpoints: khc turns them off (`--anonymous-auth=false`)"
                            ),
                        );
                        d.notes.push(format!(
                            "note: anonymous access per endpoint (AuthenticationConfiguration `anonymous`) needs 1.{ANONYMOUS_CONFIG_MINOR} or later"
                        ));
                        d.notes.push("note: health probes of the API server (e.g. kubeadm's liveness probe) must then authenticate; write `anonymous off` to silence this".into());
                    }
                    _ => {
                        cx.error(&c, span, "invalid-value", format!("unknown anonymous mode `{mode}`")).notes.push("help: write `health-only` or `off`".into());
                    }
                }
            }
            AuthenticationStatement::Oidc => {
                if let Some(o) = check_oidc(cx, &c) {
                    if auth.oidc.iter().any(|x| x.issuer == o.issuer) {
                        cx.error(&c, c.s.span, "duplicate", format!("issuer `{}` is declared twice", o.issuer));
                    } else {
                        auth.oidc.push(o);
                    }
                }
            }
        }
    }
}

/// An issuer URL as the API server validates it: https, no user, query or fragment.
fn valid_issuer(url: &str) -> Result<(), &'static str> {
    let Some(rest) = url.strip_prefix("https://") else { return Err("the issuer URL must start with `https://`") };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("the issuer URL needs a host");
    }
    if host.contains('@') {
        return Err("the issuer URL must not hold a user name or password");
    }
    if url.contains('?') || url.contains('#') {
        return Err("the issuer URL must not hold a query or a fragment");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the issuer URL must not hold spaces");
    }
    Ok(())
}

fn check_oidc(cx: &mut Ctx, at: &At<'_>) -> Option<Oidc> {
    let args = at.s.flat_args();
    let issuer = match args.as_slice() {
        [v] => match &v.kind {
            ValueKind::Str(s) => match valid_issuer(s) {
                Ok(()) => Some(s.clone()),
                Err(why) => {
                    cx.error(at, v.span, "invalid-value", why);
                    None
                }
            },
            _ => {
                cx.error(at, v.span, "bad-argument", "the issuer URL is a string, e.g. `oidc \"https://login.example.com\" { … }`");
                None
            }
        },
        _ => {
            cx.error(at, at.s.span, "bad-argument", "`oidc` takes the issuer URL, e.g. `oidc \"https://login.example.com\" { audience \"kubernetes\" }`");
            None
        }
    };
    let mut o = Oidc {
        origin: at.origin(),
        issuer: issuer.clone().unwrap_or_default(),
        audiences: Vec::new(),
        username_claim: "sub".into(),
        username_prefix: "oidc:".into(),
        groups_claim: None,
        groups_prefix: "oidc:".into(),
    };
    let mut seen = Vec::new();
    for c in at.children() {
        let Some(stmt) = OidcStatement::of(c.name()).filter(|_| !c.s.name.quoted) else {
            cx.unknown_statement(&c, BlockKind::Oidc);
            continue;
        };
        if !cx.once(&mut seen, c) {
            continue;
        }
        match stmt {
            OidcStatement::Audience => o.audiences = strings(cx, &c, "audiences"),
            OidcStatement::UsernameClaim | OidcStatement::GroupsClaim => {
                let Some((claim, span)) = string(cx, &c, "a claim name") else { continue };
                if claim.is_empty() || claim.contains(char::is_whitespace) {
                    cx.error(&c, span, "invalid-value", "a claim name is non-empty and without spaces");
                } else if stmt == OidcStatement::UsernameClaim {
                    o.username_claim = claim;
                } else {
                    o.groups_claim = Some(claim);
                }
            }
            OidcStatement::UsernamePrefix | OidcStatement::GroupsPrefix => {
                let Some((prefix, span)) = string(cx, &c, "a prefix") else { continue };
                if prefix.starts_with("system:") {
                    cx.error(&c, span, "invalid-value", "a prefix starting with `system:` would let the issuer mint Kubernetes' own identities");
                } else {
                    if prefix.is_empty() {
                        cx.warning(&c, span, "risky", "an empty prefix lets the issuer mint any user or group name, `system:masters` included")
                            .notes
                            .push("help: keep a prefix such as `oidc:`".into());
                    } else if "system:".starts_with(prefix.as_str()) {
                        // `system` + a claim `:masters` is `system:masters`.
                        cx.warning(
                            &c,
                            span,
                            "risky",
                            format!(
                                "the prefix `{prefix}` lets a claim complete it into `system:` (a claim `{}masters` becomes `system:masters`)",
                                &"system:"[prefix.len()..]
                            ),
                        )
                        .notes
                        .push("help: use a prefix that ends in a separator and is not the start of `system:`, such as `oidc:`".into());
                    } else if !prefix.ends_with(PREFIX_SEPARATORS) {
                        cx.warning(
                            &c,
                            span,
                            "risky",
                            format!("the prefix `{prefix}` does not end in a separator: a claim value runs into it (`{prefix}admins`)"),
                        )
                        .notes
                        .push(format!("help: end it with `:`, e.g. `{prefix}:`"));
                    }
                    if stmt == OidcStatement::UsernamePrefix {
                        o.username_prefix = prefix;
                    } else {
                        o.groups_prefix = prefix;
                    }
                }
            }
        }
    }
    if o.audiences.is_empty() {
        if !seen.iter().any(|s| s.name() == "audience") && !at.s.block_recovered() {
            cx.error(at, at.s.name.span, "bad-argument", "`oidc` needs an `audience` (the client ID tokens are issued for)")
                .notes
                .push("help: e.g. `oidc \"https://login.example.com\" { audience \"kubernetes\" }`".into());
        }
        return None;
    }
    issuer.map(|_| o)
}
