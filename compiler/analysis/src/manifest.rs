//! Application manifests: multi-document YAML with the line each object starts
//! on, and the pod template of each workload kind.

use serde_json::Value;

/// One object of a manifest file.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The file (as given; `-` for stdin).
    pub file: String,
    /// 1-based line of the object's first line.
    pub line: u32,
    /// The object.
    pub value: Value,
}

impl Manifest {
    /// `FILE:LINE`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
    /// `Kind/name`.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.value["kind"].as_str().unwrap_or("?"), self.value["metadata"]["name"].as_str().unwrap_or("?"))
    }
}

/// Splits multi-document YAML at `---` lines and parses each non-empty document;
/// a `List` is expanded into its items (at the list's line). `Err` names the
/// document that is not YAML.
pub fn parse(file: &str, text: &str) -> Result<Vec<Manifest>, String> {
    let mut docs: Vec<(u32, String)> = vec![(1, String::new())];
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            docs.push((i as u32 + 2, String::new()));
            continue;
        }
        let doc = docs.last_mut().expect("one document");
        doc.1.push_str(line);
        doc.1.push('\n');
    }
    let mut out = Vec::new();
    for (start, doc) in docs {
        let skip = doc.lines().take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#')).count() as u32;
        let value: Value = serde_yaml_ng::from_str(&doc).map_err(|e| format!("{file}:{start}: not YAML: {e}"))?;
        match value {
            Value::Null => {}
            Value::Object(_) if value["kind"] == "List" => {
                for item in value["items"].as_array().into_iter().flatten() {
                    out.push(Manifest { file: file.into(), line: start + skip, value: item.clone() });
                }
            }
            Value::Object(_) => out.push(Manifest { file: file.into(), line: start + skip, value }),
            _ => return Err(format!("{file}:{start}: not a Kubernetes object")),
        }
    }
    Ok(out)
}

/// The pod `(metadata, spec)` of a Pod or of a controller's pod template.
/// The kinds are `khc_rules::facts::POD_KINDS`.
pub fn pod_template(obj: &Value) -> Option<(&Value, &Value)> {
    let kind = khc_rules::facts::pod_kind_of(obj["kind"].as_str()?)?;
    Some(khc_rules::facts::pod_of(kind, obj, |v, f| &v[f]))
}
