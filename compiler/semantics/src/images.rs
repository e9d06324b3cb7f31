//! `images { … }` in a tenant or the cluster (SPEC.md section 5, "Images"):
//! registries, digest pinning, signatures, scan attestations and the image
//! volumes allowed. Key files are read through the [`AuxFiles`] view (the
//! database loads them like imports; no check reads the disk), and their PEM
//! text is validated here. [`join`] combines the cluster's block with a
//! tenant's (a tenant may only tighten); [`rules`] lists the admission rules the
//! policy adds to the tenant's `admission`.

use crate::context::{word, At, Ctx};
use crate::env::AuxFile;
use crate::model::*;
use crate::schema::{self, BlockKind, ImagesStatement};
use khc_syntax::{Diagnostic, Span, Value, ValueKind};

/// Reads the files a program names besides its sources (the public keys of
/// `signed-by key` and `scanned-by key`).
pub trait AuxFiles {
    /// The file at `key` (relative to the workspace root).
    fn aux_file(&self, key: &str) -> AuxFile;
}

/// The key files the `images` blocks of file `from` name (any depth), as file
/// keys resolved like imports: the database reads them like imports, but never
/// as sources.
pub fn key_files(from: &khc_syntax::FileKey, tree: &khc_syntax::SourceTree) -> Vec<khc_syntax::FileKey> {
    fn walk(from: &khc_syntax::FileKey, s: &khc_syntax::Statement, in_images: bool, out: &mut Vec<khc_syntax::FileKey>) {
        if in_images && (s.is("signed-by") || s.is("scanned-by")) {
            let args = s.args();
            if let [Value { kind: ValueKind::Name(k), .. }, Value { kind: ValueKind::Str(p), .. }, ..] = args.as_slice() {
                if k == "key" {
                    if let Ok(key) = resolve_key(from, p) {
                        if !out.contains(&key) {
                            out.push(key);
                        }
                    }
                }
            }
        }
        if let Some(b) = s.block() {
            for c in b.statements() {
                walk(from, &c, s.is("images"), out);
            }
        }
    }
    let mut out = Vec::new();
    for s in tree.statements() {
        walk(from, &s, false, &mut out);
    }
    out
}

/// Resolves a key path written in file `from` to a file key, relative to
/// `from`'s directory as an `import` is; an absolute path, or one that leaves
/// the workspace, is refused.
pub fn resolve_key(from: &khc_syntax::FileKey, raw: &str) -> Result<khc_syntax::FileKey, String> {
    if raw.is_empty() {
        return Err("the path is empty".into());
    }
    if raw.starts_with('/') || raw.contains('\\') {
        return Err("absolute paths are not allowed: write the path relative to this file, as for `import`".into());
    }
    if from.starts_with(crate::STD_PREFIX) {
        return Err("standard-library modules name no key files".into());
    }
    let joined = crate::join_relative(from, raw);
    if joined.leaves_workspace {
        return Err("the path leaves the workspace".into());
    }
    if joined.key.is_empty() {
        return Err("the path names no file".into());
    }
    Ok(joined.key.into())
}

/// Validates a PEM public key: one `PUBLIC KEY` block whose base64 body decodes
/// to a DER SEQUENCE (a SubjectPublicKeyInfo, what `cosign generate-key-pair`
/// writes to `cosign.pub`). Returns the normalised PEM text.
pub fn check_pem(text: &str) -> Result<String, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let t = text.trim();
    if t.contains("PRIVATE KEY-----") {
        return Err("it holds a private key: give the public key (`cosign.pub`), never the private one".into());
    }
    let Some(rest) = t.strip_prefix(BEGIN) else {
        return Err(format!("it does not start with `{BEGIN}`"));
    };
    let Some(body) = rest.strip_suffix(END) else {
        return Err(format!("it does not end with `{END}`"));
    };
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = decode_base64(&b64).ok_or("its body is not base64")?;
    if der.len() < 32 || der[0] != 0x30 {
        return Err("its body is not a DER-encoded public key (SubjectPublicKeyInfo)".into());
    }
    let lines: Vec<String> = b64.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    Ok(format!("{BEGIN}\n{}\n{END}\n", lines.join("\n")))
}

/// Standard base64 with padding.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let bytes = s.as_bytes();
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i == bytes.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    Some(out)
}

/// `images { … }`: the block's own requirements (not yet joined with the cluster's).
pub(crate) fn check_images(cx: &mut Ctx, at: &At<'_>, files: &dyn AuxFiles, from_cluster: bool) -> Images {
    cx.no_args(at);
    let mut policy = ImagePolicy::default();
    let mut seen = Vec::new();
    for c in at.children() {
        let Some(stmt) = ImagesStatement::of(c.name()).filter(|_| !c.s.name.quoted) else {
            cx.unknown_statement(&c, BlockKind::Images);
            continue;
        };
        if schema::statement(BlockKind::Images, c.name()).is_some_and(|s| s.once) && !cx.once(&mut seen, c) {
            continue;
        }
        if stmt != ImagesStatement::ScannedBy {
            cx.no_block(&c);
        }
        match stmt {
            ImagesStatement::Registries => policy.registries = crate::admission::registries(cx, &c).unwrap_or_default(),
            ImagesStatement::Pinned => {
                cx.no_args(&c);
                policy.pinned = true;
            }
            ImagesStatement::SignedBy => {
                if let Some(identity) = signed_by(cx, &c, files) {
                    let s = Signer { identity, from_cluster };
                    if policy.signers.contains(&s) {
                        cx.error(&c, c.s.span, "duplicate", "this signer is required twice");
                    } else {
                        policy.signers.push(s);
                    }
                }
            }
            ImagesStatement::ScannedBy => {
                if let Some(s) = scanned_by(cx, &c, files, from_cluster) {
                    policy.scans.push(s);
                }
            }
            ImagesStatement::VolumeImages => {
                if c.s.args.is_empty() {
                    cx.error(&c, c.s.name.span, "bad-argument", "`volume-images` needs one or more image references pinned by digest")
                        .notes
                        .push("help: leave the statement out to allow no image volume when signatures are required".into());
                } else if let Some(v) = crate::admission::image_digests(cx, &c) {
                    policy.volume_images = Some(v);
                }
            }
        }
    }
    Images { origin: at.origin(), policy }
}

/// The key at `path` (a string value), read and validated: its PEM text.
fn key(cx: &mut Ctx, at: &At<'_>, v: &Value, files: &dyn AuxFiles) -> Option<(String, String)> {
    let ValueKind::Str(path) = &v.kind else {
        cx.error(at, v.span, "bad-argument", format!("expected the key file as a string, e.g. \"keys/cosign.pub\", found {}", v.describe()));
        return None;
    };
    let file = match resolve_key(at.file(), path) {
        Ok(f) => f,
        Err(why) => {
            cx.error(at, v.span, "image-key", format!("cannot use key file `{path}`: {why}"))
                .notes
                .push("help: key files are read relative to the file that names them, like imports, e.g. \"keys/cosign.pub\"".into());
            return None;
        }
    };
    let pem = match files.aux_file(&file) {
        AuxFile::Text(t) => match check_pem(&t) {
            Ok(p) => p,
            Err(why) => {
                cx.error(at, v.span, "image-key", format!("`{file}` is not a PEM public key: {why}"))
                    .notes
                    .push("help: `cosign generate-key-pair` writes the public key to `cosign.pub`; `cosign public-key --key …` prints it".into());
                return None;
            }
        },
        AuxFile::Missing(why) => {
            cx.error(at, v.span, "image-key", format!("cannot read key file `{file}`: {why}"));
            return None;
        }
        AuxFile::NotLoaded => return None,
    };
    Some((path.clone(), pem))
}

/// `signed-by key "PATH"` | `signed-by keyless issuer "URL" subject|subject-regex "TEXT"`.
fn signed_by(cx: &mut Ctx, at: &At<'_>, files: &dyn AuxFiles) -> Option<SignerIdentity> {
    let args = at.s.flat_args();
    let shape = "`signed-by key \"PATH\"` or `signed-by keyless issuer \"URL\" subject \"TEXT\"` (or `subject-regex \"REGEX\"`)";
    match args.first().and_then(|v| word(v)) {
        Some("key") => {
            let [_, path] = args.as_slice() else {
                cx.error(at, at.s.span, "bad-argument", format!("expected {shape}"));
                return None;
            };
            let (path, pem) = key(cx, at, path, files)?;
            Some(SignerIdentity::Key { path, pem })
        }
        Some("keyless") => {
            let pairs = pairs(cx, at, &args[1..], &["issuer", "subject", "subject-regex"], shape)?;
            let get = |k: &str| pairs.iter().find(|(n, _, _)| n == k).map(|(_, v, s)| (v.clone(), *s));
            let Some((issuer, ispan)) = get("issuer") else {
                cx.error(at, at.s.span, "bad-argument", "`signed-by keyless` needs `issuer \"URL\"` (e.g. \"https://token.actions.githubusercontent.com\")");
                return None;
            };
            if !issuer.starts_with("https://") {
                cx.error(at, ispan, "invalid-value", format!("`{issuer}` is not an https URL: Fulcio's OIDC issuers are https URLs"));
                return None;
            }
            let (subject, regex) = match (get("subject"), get("subject-regex")) {
                (Some((s, _)), None) => (s, false),
                (None, Some((s, span))) => {
                    if let Err(why) = check_subject_regex(&s) {
                        cx.error(at, span, "invalid-value", format!("`{s}` is not a regular expression: {why}"))
                            .notes
                            .push("note: policy-controller matches it with Go's `regexp` (RE2 syntax: no look-around, no back-references)".into());
                        return None;
                    }
                    (s, true)
                }
                (Some(_), Some((_, span))) => {
                    cx.error(at, span, "conflict", "give `subject` or `subject-regex`, not both");
                    return None;
                }
                (None, None) => {
                    cx.error(
                        at,
                        at.s.span,
                        "bad-argument",
                        "`signed-by keyless` needs `subject \"TEXT\"` or `subject-regex \"REGEX\"`: any identity of an issuer would do otherwise",
                    )
                    .notes
                    .push("help: e.g. subject-regex \"^https://github.com/acme/\"".into());
                    return None;
                }
            };
            Some(SignerIdentity::Keyless { issuer, subject, regex })
        }
        _ => {
            let span = args.first().map_or(at.s.name.span, |v| v.span);
            cx.error(at, span, "bad-argument", format!("expected {shape}"));
            None
        }
    }
}

/// Checks a `subject-regex` parses as a regular expression in the syntax Go's
/// `regexp` (RE2) and Rust's `regex` share: look-around and back-references,
/// which RE2 lacks, are refused by both; the error is the parser's first line.
fn check_subject_regex(re: &str) -> Result<(), String> {
    regex_syntax::Parser::new().parse(re).map(drop).map_err(|e| {
        let text = e.to_string();
        text.lines().rev().find(|l| l.starts_with("error:")).map_or(text.clone(), |l| l.trim_start_matches("error:").trim().to_string())
    })
}

/// `NAME VALUE` pairs from `names`, each at most once; `None` after an error.
fn pairs(cx: &mut Ctx, at: &At<'_>, args: &[&Value], names: &[&str], shape: &str) -> Option<Vec<(String, String, Span)>> {
    let mut out: Vec<(String, String, Span)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let Some(name) = word(args[i]).filter(|w| names.contains(w) && matches!(args[i].kind, ValueKind::Name(_))) else {
            cx.error(at, args[i].span, "bad-argument", format!("expected one of {} here; the statement is {shape}", names.join(", ")));
            return None;
        };
        let Some(v) = args.get(i + 1) else {
            cx.error(at, args[i].span, "bad-argument", format!("`{name}` needs a value"));
            return None;
        };
        if out.iter().any(|(n, _, _)| n == name) {
            cx.error(at, args[i].span, "duplicate", format!("`{name}` is given twice"));
            return None;
        }
        let text = match &v.kind {
            ValueKind::Str(s) | ValueKind::Name(s) => s.clone(),
            ValueKind::Number { digits, unit } => format!("{digits}{unit}"),
            _ => {
                cx.error(at, v.span, "bad-argument", format!("unexpected {} after `{name}`", v.describe()));
                return None;
            }
        };
        out.push((name.to_string(), text, v.span));
        i += 2;
    }
    Some(out)
}

/// The most `max-age` accepts: a year.
pub const MAX_SCAN_AGE_HOURS: u32 = 24 * 366;

/// `scanned-by key "PATH" max-age DURATION deny-at SEVERITY [{ allow "ID" because "TEXT" … }]`.
fn scanned_by(cx: &mut Ctx, at: &At<'_>, files: &dyn AuxFiles, from_cluster: bool) -> Option<ScanRequirement> {
    let args = at.s.flat_args();
    let shape = "`scanned-by key \"PATH\" max-age 7d deny-at high`";
    let ok_shape = args.len() == 6 && args.iter().step_by(2).all(|v| matches!(v.kind, ValueKind::Name(_)));
    if !ok_shape {
        cx.error(at, at.s.span, "bad-argument", format!("expected {shape} (`key`, `max-age` and `deny-at`, each once)"));
        return None;
    }
    let key_at = args.iter().position(|v| word(v) == Some("key"));
    let pairs = pairs(cx, at, &args, &["key", "max-age", "deny-at"], shape)?;
    let (Some(ki), Some((_, age, age_span)), Some((_, sev, sev_span))) =
        (key_at, pairs.iter().find(|p| p.0 == "max-age"), pairs.iter().find(|p| p.0 == "deny-at"))
    else {
        cx.error(at, at.s.span, "bad-argument", format!("expected {shape} (`key`, `max-age` and `deny-at`, each once)"));
        return None;
    };
    let max_age_hours = match args[pairs.iter().position(|p| p.0 == "max-age").map_or(0, |i| i * 2 + 1)].kind {
        ValueKind::Number { ref digits, ref unit } => match (digits.parse::<u32>(), unit.as_str()) {
            (Ok(n), "d") if n > 0 => n.checked_mul(24),
            (Ok(n), "h") if n > 0 => Some(n),
            _ => None,
        },
        _ => None,
    }
    .filter(|h| *h <= MAX_SCAN_AGE_HOURS);
    let Some(max_age_hours) = max_age_hours else {
        cx.error(at, *age_span, "invalid-value", format!("`{age}` is not a scan age: a whole number of days or hours up to a year, e.g. `7d` or `36h`"));
        return None;
    };
    let Some(deny_at) = Severity::parse(sev) else {
        let mut d = Diagnostic::error("invalid-value", at.file(), *sev_span, format!("`{sev}` is not a severity: critical, high, medium or low"));
        if let Some(s) = crate::values::suggest(sev, Severity::ALL.iter().map(|s| s.as_str())) {
            d = d.with_suggestion(s);
        }
        cx.push(d);
        return None;
    };
    let key = key(cx, at, args[ki + 1], files);
    let mut allow: Vec<AllowedFinding> = Vec::new();
    for c in at.children() {
        if c.s.name.quoted || schema::statement(BlockKind::ScannedBy, c.name()).is_none() {
            cx.unknown_statement(&c, BlockKind::ScannedBy);
            continue;
        }
        cx.no_block(&c);
        let a = c.s.flat_args();
        let parsed = match a.as_slice() {
            [id, because, reason] if word(because) == Some("because") => match (word(id), &reason.kind) {
                (Some(id), ValueKind::Str(r)) => Some((id.to_string(), a[0].span, r.clone(), reason.span)),
                _ => None,
            },
            [id] => {
                cx.error(&c, id.span, "bad-argument", "an accepted finding needs its reason: `allow \"CVE-…\" because \"…\"`")
                    .notes
                    .push("note: the reason is shown by `khc report`, `diff` and hover, so that the next reviewer knows why".into());
                continue;
            }
            _ => None,
        };
        let Some((id, span, reason, rspan)) = parsed else {
            cx.error(&c, c.s.span, "bad-argument", "expected `allow \"CVE-YYYY-NNNN\" because \"REASON\"`");
            continue;
        };
        if !is_finding_id(&id) {
            cx.error(
                &c,
                span,
                "invalid-value",
                format!("`{id}` is not a vulnerability id (CVE-YYYY-NNNN, GHSA-xxxx-xxxx-xxxx, or another scanner id with letters, digits and `-`)"),
            );
            continue;
        }
        if reason.trim().is_empty() {
            cx.error(&c, rspan, "bad-argument", "the reason is empty");
            continue;
        }
        if allow.iter().any(|f| f.id == id) {
            cx.error(&c, span, "duplicate", format!("`{id}` is accepted twice"));
            continue;
        }
        allow.push(AllowedFinding { id, reason });
    }
    allow.sort_by(|a, b| a.id.cmp(&b.id));
    let (key_path, pem) = key?;
    Some(ScanRequirement { key_path, pem, max_age_hours, deny_at, allow, from_cluster })
}

/// A scanner's finding id: `CVE-2024-1234`, `GHSA-xxxx-xxxx-xxxx`, or another
/// upper-case prefix, a dash and letters, digits, dashes.
pub fn is_finding_id(id: &str) -> bool {
    let Some((prefix, rest)) = id.split_once('-') else { return false };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && id.len() <= 64
}

/// The intersection of two sets of registry prefixes: the images both allow.
/// Each pair where one prefix extends the other contributes the longer one.
pub fn intersect_registries(cluster: &[String], tenant: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for t in tenant {
        for c in cluster {
            let longer = if t.starts_with(c.as_str()) {
                t
            } else if c.starts_with(t.as_str()) {
                c
            } else {
                continue;
            };
            if !out.contains(longer) {
                out.push(longer.clone());
            }
        }
    }
    out.sort();
    out
}

/// Joins the cluster's image policy (every tenant's default) with a tenant's own
/// block: every requirement of both holds (a tenant may only tighten). Reports
/// at the tenant's block what would loosen the cluster's: a registry outside
/// the cluster's, a volume image the cluster does not list.
pub(crate) fn join(cx: &mut Ctx, at: Option<&At<'_>>, cluster: Option<&Images>, tenant: Option<Images>) -> Option<Images> {
    let Some(ci) = cluster else { return tenant };
    let Some(mut t) = tenant else {
        return Some(ci.clone());
    };
    let c = &ci.policy;
    let p = &mut t.policy;
    if !c.registries.is_empty() {
        if p.registries.is_empty() {
            p.registries = c.registries.clone();
        } else {
            let joined = intersect_registries(&c.registries, &p.registries);
            if let Some(at) = at {
                for r in &p.registries {
                    if !c.registries.iter().any(|x| r.starts_with(x.as_str()) || x.starts_with(r.as_str())) {
                        let span = registries_span(at).unwrap_or(at.s.name.span);
                        cx.error(
                            at,
                            span,
                            "conflict",
                            format!("registry `{r}` is outside the cluster's `images {{ registries … }}`: a tenant may only tighten"),
                        )
                        .notes
                        .push(format!("note: the cluster allows: {}", c.registries.join(", ")));
                    }
                }
            }
            p.registries = joined;
        }
    }
    p.pinned |= c.pinned;
    let mut signers = c.signers.clone();
    signers.extend(p.signers.drain(..).filter(|s| !c.signers.iter().any(|x| x.identity == s.identity)));
    p.signers = signers;
    let mut scans = c.scans.clone();
    scans.append(&mut p.scans);
    p.scans = scans;
    if let Some(cv) = &c.volume_images {
        match &p.volume_images {
            None => p.volume_images = Some(cv.clone()),
            Some(tv) => {
                if let Some(at) = at {
                    for r in tv.iter().filter(|r| !cv.contains(r)) {
                        let span = at.children().find(|s| s.name() == "volume-images").map_or(at.s.name.span, |s| s.s.span);
                        cx.error(at, span, "conflict", format!("volume image `{r}` is not in the cluster's `volume-images`: a tenant may only tighten"));
                    }
                }
                p.volume_images = Some(tv.iter().filter(|r| cv.contains(r)).cloned().collect());
            }
        }
    }
    Some(t)
}

fn registries_span(at: &At<'_>) -> Option<Span> {
    at.children().find(|s| s.name() == "registries").map(|s| s.s.span)
}

/// The admission rules an image policy adds to the tenant's `admission`:
/// `allowed-registries`, `require-digest` and `allowed-image-volumes`.
pub fn rules(p: &ImagePolicy) -> Vec<RuleKind> {
    let mut out = Vec::new();
    if !p.registries.is_empty() {
        out.push(RuleKind { id: RuleId::AllowedRegistries, args: RuleArgs::Names(p.registries.clone()) });
    }
    if p.pinned {
        out.push(RuleKind { id: RuleId::RequireDigest, args: RuleArgs::None });
    }
    if let Some(v) = p.allowed_volume_images() {
        out.push(RuleKind { id: RuleId::AllowedImageVolumes, args: RuleArgs::Names(v) });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_intersect_to_the_longer_prefix() {
        let c = vec!["registry.example.com/".to_string(), "ghcr.io/acme/".to_string()];
        let t = vec!["registry.example.com/payments/".to_string(), "docker.io/".to_string(), "ghcr.io/".to_string()];
        assert_eq!(intersect_registries(&c, &t), vec!["ghcr.io/acme/".to_string(), "registry.example.com/payments/".to_string()]);
    }

    #[test]
    fn key_paths_resolve_like_imports() {
        let from = khc_syntax::FileKey::from("tenants/a.khc");
        assert_eq!(resolve_key(&from, "./keys//a.pub").as_deref(), Ok("tenants/keys/a.pub"));
        assert_eq!(resolve_key(&from, "../keys/a.pub").as_deref(), Ok("keys/a.pub"));
        assert!(resolve_key(&from, "/etc/a.pub").is_err());
        assert!(resolve_key(&from, "../../a.pub").unwrap_err().contains("leaves the workspace"));
        let abs = khc_syntax::FileKey::from("/home/u/p/cluster.khc");
        assert_eq!(resolve_key(&abs, "keys/a.pub").as_deref(), Ok("/home/u/p/keys/a.pub"));
        // Wherever a key resolves, an import of the same path names the same place.
        for raw in ["k.pub", "./k.pub", "../k.pub", "x/../k.pub", "x/./y//k.pub", "../x/../k.pub"] {
            let key = resolve_key(&from, raw).expect(raw);
            let import = crate::resolve_import(&from, &format!("{raw}.khc")).expect(raw);
            assert_eq!(format!("{key}.khc"), import.to_string(), "{raw}");
        }
    }

    #[test]
    fn pem_public_keys_are_checked() {
        let good = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM\n5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==\n-----END PUBLIC KEY-----\n";
        assert_eq!(check_pem(good).as_deref(), Ok(good));
        assert!(check_pem("-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----").unwrap_err().contains("base64"));
        assert!(check_pem("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n").unwrap_err().contains("private"));
        assert!(check_pem("hello").unwrap_err().contains("BEGIN PUBLIC KEY"));
    }

    #[test]
    fn finding_ids() {
        assert!(is_finding_id("CVE-2024-1234"));
        assert!(is_finding_id("GHSA-abcd-1234-wxyz"));
        assert!(!is_finding_id("cve-2024-1"));
        assert!(!is_finding_id("CVE"));
    }
}
