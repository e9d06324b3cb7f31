//! NetworkPolicies → `isolation` and `allow`.
//!
//! A namespace without NetworkPolicies is `isolation none`. One with a policy
//! denying all ingress and egress of every pod is `isolation strict`, its other
//! policies `allow` statements (khc's `allow-dns` stands for a policy allowing
//! DNS to kube-system); named ports stay names (`ports http`). Anything else —
//! selectors khc cannot name — leaves the namespace's policies out (reported),
//! and the tenant `isolation none`, so that nothing imported means more or less
//! than the objects did.

use crate::{label_of, q, Ctx, Obj};
use serde_json::Value;
use std::collections::BTreeMap;

type Sel = BTreeMap<String, String>;

/// A `matchLabels`-only selector (`None`: expressions, which khc cannot name).
fn match_labels(v: &Value) -> Option<Sel> {
    if v.is_null() {
        return Some(Sel::new());
    }
    if v["matchExpressions"].as_array().is_some_and(|a| !a.is_empty()) {
        return None;
    }
    Some(v["matchLabels"].as_object().map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default())
}

/// The workload of `tenant` in `ns` with this selector, made if needed.
fn workload(cx: &mut Ctx<'_>, tenant: &str, ns: &str, sel: &Sel) -> Option<String> {
    let t = cx.tenants.get_mut(tenant)?;
    if let Some((n, _)) = t.workloads.iter().find(|(_, (wns, s))| wns == ns && s == sel) {
        return Some(n.clone());
    }
    // A workload made from a ServiceAccount of the same name takes the selector
    // the policies use for it.
    let base = label_of(&sel.values().cloned().collect::<Vec<_>>().join("-"));
    if let Some((wns, s)) = t.workloads.get_mut(&base) {
        if wns == ns && s.len() == 1 && s.get("app.kubernetes.io/name") == Some(&base) && !sel.is_empty() {
            *s = sel.clone();
            return Some(base);
        }
    }
    let mut name = base.clone();
    let mut i = 2;
    while t.workloads.contains_key(&name) || name == "default" {
        name = format!("{base}-{i}");
        i += 1;
    }
    t.workloads.insert(name.clone(), (ns.to_string(), sel.clone()));
    Some(name)
}

/// A policy's `policyTypes`, defaulted as the API server does (Ingress, and
/// Egress when it has egress rules).
fn types(v: &Value) -> Vec<&str> {
    match v["spec"]["policyTypes"].as_array() {
        Some(a) => a.iter().filter_map(Value::as_str).collect(),
        None if v["spec"]["egress"].is_null() => vec!["Ingress"],
        None => vec!["Ingress", "Egress"],
    }
}

/// A policy isolating every pod for ingress only, allowing nothing.
fn is_deny_ingress(v: &Value) -> bool {
    match_labels(&v["spec"]["podSelector"]).is_some_and(|s| s.is_empty())
        && types(v) == ["Ingress"]
        && v["spec"]["ingress"].as_array().is_none_or(|a| a.is_empty())
}

fn is_deny_all(v: &Value) -> bool {
    let types = types(v);
    match_labels(&v["spec"]["podSelector"]).is_some_and(|s| s.is_empty())
        && types.contains(&"Ingress")
        && types.contains(&"Egress")
        && v["spec"]["ingress"].as_array().is_none_or(|a| a.is_empty())
        && v["spec"]["egress"].as_array().is_none_or(|a| a.is_empty())
}

/// Whether a policy only allows DNS egress to kube-system (khc's `allow-dns`).
fn is_dns(v: &Value) -> bool {
    let eg = v["spec"]["egress"].as_array().cloned().unwrap_or_default();
    v["spec"]["ingress"].is_null()
        && eg.len() == 1
        && eg[0]["to"].as_array().is_some_and(|to| {
            to.iter().all(|p| p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "kube-system" && p["ipBlock"].is_null())
        })
        && eg[0]["ports"].as_array().is_some_and(|ps| ps.iter().all(|p| p["port"] == 53))
}

/// One peer of a rule as khc writes it.
fn peer(cx: &mut Ctx<'_>, tenant: &str, ns: &str, p: &Value) -> Result<String, String> {
    if let Some(b) = p.get("ipBlock").filter(|b| !b.is_null()) {
        let cidr = b["cidr"].as_str().unwrap_or_default();
        let except: Vec<&str> = b["except"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        if cidr.contains(':') {
            return Err("IPv6 blocks are not in khc's `cidr`".into());
        }
        return Ok(if except.is_empty() { format!("cidr {cidr}") } else { format!("cidr {cidr} except {}", except.join(" ")) });
    }
    let pods = match_labels(&p["podSelector"]).ok_or("a podSelector with matchExpressions")?;
    if p["namespaceSelector"].is_null() {
        // Pods of the policy's own namespace.
        if pods.is_empty() {
            if cx.tenants[tenant].namespaces.len() != 1 {
                return Err("every pod of one namespace of a multi-namespace tenant".into());
            }
            return Ok(format!("tenant {tenant}"));
        }
        let w = workload(cx, tenant, ns, &pods).ok_or("no workload")?;
        return Ok(format!("workload {w}"));
    }
    let nss = match_labels(&p["namespaceSelector"]).ok_or("a namespaceSelector with matchExpressions")?;
    let Some(other) = nss.get("kubernetes.io/metadata.name").filter(|_| nss.len() == 1).cloned() else {
        return Err("a namespaceSelector other than `kubernetes.io/metadata.name` (khc selects namespaces by name)".into());
    };
    match cx.tenant(&other).map(str::to_string) {
        Some(t) => {
            if cx.tenants[&t].namespaces.len() != 1 {
                return Err(format!("one namespace of the multi-namespace tenant `{t}`"));
            }
            if pods.is_empty() {
                Ok(format!("tenant {t}"))
            } else {
                let w = workload(cx, &t, &other, &pods).ok_or("no workload")?;
                Ok(format!("tenant {t} workload {w}"))
            }
        }
        None if pods.is_empty() => Ok(format!("namespace {other}")),
        None => Err(format!("pods of namespace `{other}` that khc does not manage (khc's `namespace` peer is every pod of it)")),
    }
}

/// Whether `s` is a container port name (IANA_SVC_NAME) khc accepts.
fn is_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// The `ports … protocol …` suffixes of a rule, one per protocol.
fn ports(p: &Value) -> Result<Vec<String>, String> {
    let Some(list) = p.as_array().filter(|a| !a.is_empty()) else { return Ok(vec![String::new()]) };
    let mut by_proto: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for port in list {
        let proto = port["protocol"].as_str().unwrap_or("TCP").to_string();
        let text = match (&port["port"], port["endPort"].as_u64()) {
            (Value::Number(n), None) => n.to_string(),
            (Value::Number(n), Some(e)) => format!("{n}-{e}"),
            // A named port stays a name: `ports http` emits `port: http`, which the
            // CNI resolves against the destination pod's container ports as before.
            (Value::String(s), None) if is_port_name(s) => s.clone(),
            (Value::String(s), _) => return Err(format!("`{s}` is not a port name khc can write")),
            (Value::Null, _) => return Err(format!("every {proto} port (khc's `protocol` without ports)")),
            _ => return Err("an unreadable port".into()),
        };
        by_proto.entry(proto).or_default().push(text);
    }
    // Protocols with the same ports share one `allow` (`protocol TCP UDP`).
    let mut by_ports: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (proto, ps) in by_proto {
        by_ports.entry(ps).or_default().push(proto);
    }
    Ok(by_ports
        .into_iter()
        .map(|(ps, protos)| format!(" ports {}{}", ps.join(" "), if protos == ["TCP"] { String::new() } else { format!(" protocol {}", protos.join(" ")) }))
        .collect())
}

/// The `allow` statements of one policy.
fn allows(cx: &mut Ctx<'_>, tenant: &str, ns: &str, v: &Value) -> Result<Vec<String>, (String, String)> {
    let target = match_labels(&v["spec"]["podSelector"]).ok_or(("spec.podSelector".to_string(), "matchExpressions".to_string()))?;
    let local = if target.is_empty() {
        if cx.tenants[tenant].namespaces.len() != 1 {
            return Err(("spec.podSelector".into(), "every pod of one namespace of a multi-namespace tenant".into()));
        }
        None
    } else {
        workload(cx, tenant, ns, &target)
    };
    let mut out = Vec::new();
    let types = types(v);
    for (dir, key, peers_key) in [("ingress", "ingress", "from"), ("egress", "egress", "to")] {
        if !types.iter().any(|t| t.eq_ignore_ascii_case(dir)) {
            continue;
        }
        for (i, rule) in v["spec"][key].as_array().cloned().unwrap_or_default().iter().enumerate() {
            let field = format!("spec.{key}[{i}]");
            let Some(peers) = rule[peers_key].as_array().filter(|a| !a.is_empty()) else {
                return Err((field, format!("no `{peers_key}`: every peer, in and out of the cluster (khc names its peers)")));
            };
            let suffixes = ports(&rule["ports"]).map_err(|e| (format!("{field}.ports"), e))?;
            for (j, p) in peers.iter().enumerate() {
                let peer = peer(cx, tenant, ns, p).map_err(|e| (format!("{field}.{peers_key}[{j}]"), e))?;
                for s in &suffixes {
                    out.push(match (dir, &local) {
                        ("ingress", Some(w)) => format!("allow ingress from {peer} to workload {w}{s}"),
                        ("ingress", None) => format!("allow ingress from {peer}{s}"),
                        (_, Some(w)) => format!("allow egress from workload {w} to {peer}{s}"),
                        (_, None) => format!("allow egress to {peer}{s}"),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// NetworkPolicies, per namespace (tenants of one namespace; a multi-namespace
/// tenant's policies are imported when its namespaces' are alike).
pub(crate) fn import(cx: &mut Ctx<'_>, objs: &[Obj<'_>]) {
    let mut by_tenant: BTreeMap<String, Vec<&Obj<'_>>> = BTreeMap::new();
    for o in objs.iter().filter(|o| o.kind() == "NetworkPolicy") {
        let ns = o.namespace().unwrap_or_default();
        if let Some(t) = cx.tenant(ns) {
            by_tenant.entry(t.to_string()).or_default().push(o);
        }
    }
    for (tenant, pols) in by_tenant {
        let nss = cx.tenants[&tenant].namespaces.clone();
        let fail = |cx: &mut Ctx<'_>, reason: &str| {
            for o in &pols {
                cx.leave(o, None, format!("not imported: {reason}"));
            }
            cx.tenants.get_mut(&tenant).expect("tenant").isolation = "unimported";
        };
        if nss.len() != 1 {
            fail(cx, &format!("tenant `{tenant}` has several namespaces; khc's isolation is the same in all of them (import NetworkPolicies per namespace with one tenant each)"));
            continue;
        }
        let ns = &nss[0];
        let staged =
            !pols.iter().any(|o| is_deny_all(o.v())) && pols.iter().any(|o| is_deny_ingress(o.v())) && pols.iter().all(|o| !types(o.v()).contains(&"Egress"));
        if !staged && !pols.iter().any(|o| is_deny_all(o.v())) {
            fail(cx, &format!("namespace `{ns}` has no policy isolating every pod for ingress and egress (`isolation strict`) or for ingress alone with no egress policy (`isolation ingress`): partial isolation is not in khc; the tenant is imported with `isolation none`"));
            continue;
        }
        let mut stmts = Vec::new();
        let mut failed = None;
        let before = cx.tenants[&tenant].workloads.clone();
        for o in &pols {
            if is_deny_all(o.v()) || (staged && is_deny_ingress(o.v())) {
                continue;
            }
            if is_dns(o.v()) {
                cx.change(o, None, "imported as khc's `allow-dns` (egress to kube-dns in kube-system, port 53 UDP and TCP)");
                continue;
            }
            match allows(cx, &tenant, ns, o.v()) {
                Ok(a) => stmts.extend(a),
                Err((field, reason)) => {
                    failed = Some((o, field, reason));
                    break;
                }
            }
        }
        if let Some((bad, field, reason)) = failed {
            cx.tenants.get_mut(&tenant).expect("tenant").workloads = before;
            cx.leave(bad, Some(field), reason);
            for o in pols.iter().filter(|o| o.name() != bad.name()) {
                cx.leave(
                    o,
                    None,
                    format!("not imported: NetworkPolicy {ns}/{} cannot be expressed, and a part of a namespace's policies would allow less", bad.name()),
                );
            }
            cx.tenants.get_mut(&tenant).expect("tenant").isolation = "unimported";
            continue;
        }
        let t = cx.tenants.get_mut(&tenant).expect("tenant");
        t.isolation = if staged { "ingress" } else { "strict" };
        for s in stmts {
            if !t.allows.contains(&s) {
                t.allows.push(s);
            }
        }
    }
    let _ = q;
}
