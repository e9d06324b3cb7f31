//! Kubernetes label selectors (`matchLabels` and `matchExpressions`).

use serde_json::Value;
use std::collections::BTreeMap;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// A parsed `LabelSelector`. The empty selector selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// `matchLabels`.
    pub labels: Labels,
    /// `matchExpressions`: key, operator, values.
    pub expressions: Vec<(String, String, Vec<String>)>,
}

/// Labels from a JSON map of strings.
pub fn labels(v: &Value) -> Labels {
    v.as_object().map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

impl Selector {
    /// Parses a selector; `null` is the empty selector.
    pub fn parse(v: &Value) -> Selector {
        let expressions = v["matchExpressions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| (e["key"].as_str().unwrap_or("").to_string(), e["operator"].as_str().unwrap_or("").to_string(), strings(&e["values"])))
                    .collect()
            })
            .unwrap_or_default();
        Selector { labels: labels(&v["matchLabels"]), expressions }
    }

    /// A typed selector (khc's own objects), as [`Selector::parse`] reads its
    /// JSON form.
    pub fn of_label_selector(s: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector) -> Selector {
        let expressions = s.match_expressions.iter().flatten().map(|e| (e.key.clone(), e.operator.clone(), e.values.clone().unwrap_or_default())).collect();
        Selector { labels: s.match_labels.clone().unwrap_or_default(), expressions }
    }

    /// Whether the selector selects an object with `l`.
    pub fn matches(&self, l: &Labels) -> bool {
        self.labels.iter().all(|(k, v)| l.get(k) == Some(v))
            && self.expressions.iter().all(|(key, op, values)| match op.as_str() {
                "In" => l.get(key).is_some_and(|v| values.contains(v)),
                "NotIn" => !l.get(key).is_some_and(|v| values.contains(v)),
                "Exists" => l.contains_key(key),
                "DoesNotExist" => !l.contains_key(key),
                _ => false,
            })
    }

    /// Whether this is the empty selector.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.expressions.is_empty()
    }

    /// `k=v,k2 in (a,b)` for messages; `{}` when empty.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "{} (every pod)".into();
        }
        let mut parts: Vec<String> = self.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.extend(self.expressions.iter().map(|(k, op, v)| format!("{k} {op} ({})", v.join(","))));
        parts.join(",")
    }
}
