//! A small CEL builder: the pieces every rule's expression is made of, so a rule
//! file reads as the condition it states rather than as one long string.
//!
//! Expressions are read against the policy's variables (see
//! `khc_emit::cel::variables`): `variables.podSpec`, `variables.containers`
//! (containers, init and ephemeral containers), `variables.resourcedContainers`
//! (containers and init containers) and `variables.podAnnotations`. `c` is the
//! container, `v` the volume in the bodies below.

/// The pod spec variable.
pub const POD: &str = "variables.podSpec";

/// Quotes a string as a CEL single-quoted literal (quotes, backslashes and
/// control characters escaped; the value is unchanged).
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A CEL list of string literals.
pub fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| lit(s)).collect::<Vec<_>>().join(", "))
}

/// A CEL list of string literals, from `&str`s.
pub fn strs(items: &[&str]) -> String {
    list(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

/// The annotation Kubernetes reads before `storageClassName` (the PersistentVolume
/// controller's `GetPersistentVolumeClaimClass`).
pub const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// The storage class of the claim (or claim template) `c` is in the CEL list `l`:
/// the beta annotation when present, else `spec.storageClassName` (unset is
/// denied). `template`: the claim's `metadata` may be absent.
pub fn claim_class_in(c: &str, template: bool, l: &str) -> String {
    let meta = if template { format!("has({c}.metadata) && has({c}.metadata.annotations)") } else { format!("has({c}.metadata.annotations)") };
    format!(
        "(({meta} && '{BETA_STORAGE_CLASS}' in {c}.metadata.annotations) ? {c}.metadata.annotations['{BETA_STORAGE_CLASS}'] in {l} : (has({c}.spec.storageClassName) && {c}.spec.storageClassName in {l}))"
    )
}

/// Every image volume (`volumes[].image.reference`, Kubernetes 1.31+) satisfies
/// `test` (written against `@REF@`, the reference); read through `dyn` so that the
/// expression type-checks on servers whose schema has no image volumes.
pub fn image_volumes(test: &str) -> String {
    let test = test.replace("@REF@", "dyn(v).image.reference");
    format!("(!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(dyn(v).image) || !has(dyn(v).image.reference) || ({test})))")
}

/// `variables.containers.all(c, BODY)`: every container that runs satisfies BODY.
pub fn containers_all(body: &str) -> String {
    format!("variables.containers.all(c, {body})")
}

/// `variables.resourcedContainers.all(c, BODY)`: containers and init containers.
pub fn resourced_containers_all(body: &str) -> String {
    format!("variables.resourcedContainers.all(c, {body})")
}

/// No volumes, or every volume `v` satisfies BODY.
pub fn volumes_all(body: &str) -> String {
    format!("!has({POD}.volumes) || {POD}.volumes.all(v, {body})")
}

/// `has(c.securityContext) && has(c.securityContext.FIELD)` — the container sets FIELD.
pub fn sets(field: &str) -> String {
    format!("has(c.securityContext) && has(c.securityContext.{field})")
}

/// The pod-level security context sets FIELD.
pub fn pod_sets(field: &str) -> String {
    format!("has({POD}.securityContext) && has({POD}.securityContext.{field})")
}

/// The effective value of a security-context field (container overrides pod)
/// satisfies `test` (written against `X`), for every container.
pub fn effective(field: &str, test: &str) -> String {
    let container = test.replace('X', &format!("c.securityContext.{field}"));
    let pod = test.replace('X', &format!("{POD}.securityContext.{field}"));
    containers_all(&format!("({}) ? {container} : ({} && {pod})", sets(field), pod_sets(field)))
}

/// `X` (a security context) sets `FIELD` to something other than `""`.
pub fn set_nonempty(x: &str, field: &str) -> String {
    format!("has({x}.{field}) && {x}.{field} != ''")
}

/// The pod-level security context and every container's satisfy `test`
/// (written against `X`, the security context); unset contexts pass.
pub fn pod_and_containers(test: &str) -> String {
    let pod = test.replace('X', &format!("{POD}.securityContext"));
    let container = test.replace('X', "c.securityContext");
    format!("(!has({POD}.securityContext) || ({pod})) && {}", containers_all(&format!("!has(c.securityContext) || ({container})")))
}

/// A probe or lifecycle handler at `h` names no host.
pub fn no_host(h: &str) -> String {
    format!("(!has({h}.httpGet) || !has({h}.httpGet.host) || {h}.httpGet.host == '') && (!has({h}.tcpSocket) || !has({h}.tcpSocket.host) || {h}.tcpSocket.host == '')")
}

/// The hostPath `v`'s path, normalised: `//` collapsed, `.` segments and the
/// trailing `/` removed (`/` stays `/`). A `..` segment is rejected separately.
pub const NORMALISED_PATH: &str = "('/' + v.hostPath.path.split('/').filter(s, s != '' && s != '.').join('/'))";

/// The hostPath `v`'s path has no `..` segment (the API server rejects one too).
pub const NO_BACKSTEPS: &str = "!v.hostPath.path.split('/').exists(s, s == '..')";

/// Parses a CEL expression (a custom rule's, `rule NAME { cel "…" }`): `Err` with
/// the parser's message when it is not CEL. Types are not checked here: the API
/// server type-checks a policy's expressions against the kinds it matches and
/// reports what it finds in the policy's `status.typeChecking`.
pub fn parse_check(expression: &str) -> Result<(), String> {
    if expression.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    ::cel::Program::compile(expression).map(|_| ()).map_err(|e| e.to_string().lines().next().unwrap_or("not CEL").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(lit("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(lit("a\nb\u{1}"), "'a\\nb\\u0001'");
    }

    #[test]
    fn effective_prefers_container_then_pod() {
        let e = effective("runAsUser", "X >= 1000");
        assert!(e.contains("c.securityContext.runAsUser >= 1000"));
        assert!(e.contains("variables.podSpec.securityContext.runAsUser >= 1000"));
    }
}
