//! The per-rule data fixtures (`tests/rules/NAME.yaml`), read by
//! `tests/rule_fixtures.rs` (in process) and `tests/kube_server.rs` (on the real
//! API servers).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the rule does to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The object complies.
    Admit,
    /// The rule rejects it.
    Deny,
}

/// One object and its verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// The expected verdict.
    pub verdict: Verdict,
    /// The oldest API server minor version that judges the object as stated
    /// (an older one drops a field before admission); `None`: every version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_minor_at_least: Option<u32>,
    /// The API server rejects the object as invalid before admission (a `..`
    /// path, say): khc still judges it as stated in process, and the replay
    /// checks that the server answers 422.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server_rejects_as_invalid: bool,
    /// The Kubernetes object.
    pub object: serde_json::Value,
}

/// A source snippet and the objects it judges.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Group {
    /// Statements of a tenant's `admission { … }` block; the first is the rule.
    pub source: String,
    /// The cluster's `kubernetes` version (`1.37`).
    pub kubernetes: String,
    /// The objects.
    pub objects: Vec<Case>,
}

impl Group {
    /// The minor version of `kubernetes`.
    pub fn minor(&self) -> u32 {
        self.kubernetes.trim_start_matches("1.").parse().unwrap_or_else(|_| panic!("bad kubernetes version {}", self.kubernetes))
    }
}

/// The fixture folder.
pub fn dir() -> std::path::PathBuf {
    crate::repo_root().join("tests/rules")
}

/// Every fixture file, by rule name.
pub fn load_all() -> BTreeMap<String, Vec<Group>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir()).expect("tests/rules") {
        let path = e.expect("entry").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".yaml")) else { continue };
        let text = std::fs::read_to_string(&path).expect("read fixture");
        let groups: Vec<Group> = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.insert(name.to_string(), groups);
    }
    out
}
