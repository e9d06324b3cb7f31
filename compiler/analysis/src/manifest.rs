//! Application manifests: multi-document YAML with the line each object starts
//! on, and the pod template of each workload kind.

use serde_json::Value;

pub mod block_yaml;

/// One object of a manifest file.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The file (as given; `-` for stdin).
    pub file: String,
    /// 1-based line of the object's first line.
    pub line: u32,
    /// The object.
    pub value: Value,
    /// 1-based index of the YAML document in its file.
    pub document: u32,
    /// 1-based index of the item, for an object that is an item of a `kind: List`.
    pub item: Option<u32>,
    /// The whole text of the file, to find a field's line ([`Manifest::field_line`]).
    pub text: Option<std::sync::Arc<str>>,
    /// The line where the next object of the file starts, if any.
    pub end_line: Option<u32>,
}

impl Manifest {
    /// `FILE:LINE`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
    /// `document D` or `document D, item I` (for the items of a `kind: List`).
    pub fn position(&self) -> String {
        match self.item {
            Some(i) => format!("document {}, item {i}", self.document),
            None => format!("document {}", self.document),
        }
    }
    /// The 1-based line of the first occurrence of `key:` (a YAML mapping key,
    /// e.g. `hostNetwork`) within this object's text in `text` (the whole file),
    /// searched from the object's first line to `end` (exclusive; the next object's
    /// line), so a finding can point at the field that causes it.
    pub fn field_line(&self, text: &str, key: &str, end: Option<u32>) -> Option<u32> {
        self.field_line_from(text, &line_starts(text), key, end)
    }

    /// [`Manifest::field_line`] given the byte offset where each line of `text`
    /// starts ([`line_starts`], computed once per file): only the object's own
    /// lines are read, not the file's from its start (`khc eval` of a file of
    /// thousands of objects read it once per finding).
    pub fn field_line_from(&self, text: &str, starts: &[usize], key: &str, end: Option<u32>) -> Option<u32> {
        let first = (self.line as usize).saturating_sub(1);
        let from = *starts.get(first)?;
        let (pat, quoted) = (format!("{key}:"), format!("\"{key}\":"));
        text[from..].lines().enumerate().map(|(i, l)| (i + first, l)).take_while(|(i, _)| end.is_none_or(|e| (*i as u32 + 1) < e)).find_map(|(i, l)| {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            (t.starts_with(&pat) || t.starts_with(&quoted)).then_some(i as u32 + 1)
        })
    }
    /// The first line of the object of each key its lines start with (the
    /// key of `key: …` or `"key": …`, after indentation and list dashes):
    /// for a key without `:` or `"`, [`Manifest::field_line_from`] of it, the
    /// object's lines read once for all its keys (`khc eval` looks up about
    /// ten per object).
    pub fn key_lines<'t>(&self, text: &'t str, starts: &[usize], end: Option<u32>) -> std::collections::HashMap<&'t str, u32> {
        let mut out = std::collections::HashMap::new();
        let first = (self.line as usize).saturating_sub(1);
        let Some(&from) = starts.get(first) else { return out };
        for (i, l) in text[from..].lines().enumerate().map(|(i, l)| (i + first, l)).take_while(|(i, _)| end.is_none_or(|e| (*i as u32 + 1) < e)) {
            let t = l.trim_start().trim_start_matches("- ").trim_start();
            if let Some((key, _)) = t.split_once(':') {
                let key = key.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(key);
                out.entry(key).or_insert(i as u32 + 1);
            }
        }
        out
    }

    /// `Kind/name`.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.value["kind"].as_str().unwrap_or("?"), self.value["metadata"]["name"].as_str().unwrap_or("?"))
    }
}

/// The byte offset where each line of `text` starts: line 1 at 0, then one
/// past each newline.
pub fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect()
}

/// Splits multi-document YAML at `---` lines and parses each non-empty document;
/// a `List` is expanded into its items (at the list's line). `Err` names the
/// document that is not YAML. A document in the plain block style that
/// helm, kustomize and kubectl print is read by [`block_yaml`]; any other goes
/// to `serde_yaml_ng`, which gives the same values ([`parse_through_serde`], the
/// oracle, reads every document with it).
pub fn parse(file: &str, text: &str) -> Result<Vec<Manifest>, String> {
    parse_with(file, text, block_yaml::read)
}

/// [`parse`] with every document read by `serde_yaml_ng`: the oracle that
/// [`parse`]'s faster reader of the block style is held equal to (values,
/// lines, documents, items and errors).
pub fn parse_through_serde(file: &str, text: &str) -> Result<Vec<Manifest>, String> {
    parse_with(file, text, |_| None)
}

/// [`parse`] with `fast` trying each document first (its text; `None` hands
/// the document to `serde_yaml_ng`).
fn parse_with(file: &str, text: &str, fast: impl Fn(&str) -> Option<Value>) -> Result<Vec<Manifest>, String> {
    // Each document: its first line (1-based) and its text (its lines, the
    // `---` lines between documents left out).
    let mut docs: Vec<(u32, &str)> = Vec::new();
    let (mut from, mut first, mut at) = (0, 1, 0);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.starts_with("---") {
            docs.push((first, &text[from..at]));
            (from, first) = (at + line.len(), i as u32 + 2);
        }
        at += line.len();
    }
    docs.push((first, &text[from..]));
    let mut out = Vec::new();
    let mut document = 0;
    for (start, doc) in docs {
        let skip = doc.lines().take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#')).count() as u32;
        let value: Value = match fast(doc) {
            Some(value) => value,
            None => {
                let mut owned = String::with_capacity(doc.len() + 1);
                for l in doc.lines() {
                    owned.push_str(l);
                    owned.push('\n');
                }
                serde_yaml_ng::from_str(&owned).map_err(|e| format!("{file}:{start}: not YAML: {e}"))?
            }
        };
        if !value.is_null() {
            document += 1;
        }
        match value {
            Value::Null => {}
            Value::Object(_) if value["kind"].as_str().is_some_and(|k| k == "List" || k.ends_with("List")) && value["items"].is_array() => {
                let items = value["items"].as_array().expect("checked");
                let lines = item_lines(doc);
                let exact = lines.len() == items.len();
                for (i, item) in items.iter().enumerate() {
                    let line = if exact { start + lines[i] - 1 } else { start + skip };
                    out.push(Manifest { file: file.into(), line, value: item.clone(), document, item: Some(i as u32 + 1), text: None, end_line: None });
                }
            }
            Value::Object(_) => out.push(Manifest { file: file.into(), line: start + skip, value, document, item: None, text: None, end_line: None }),
            _ => return Err(format!("{file}:{start}: not a Kubernetes object")),
        }
    }
    let shared: std::sync::Arc<str> = text.into();
    for i in 0..out.len() {
        out[i].end_line = out.get(i + 1).map(|n| n.line).filter(|&l| l > out[i].line);
        out[i].text = Some(shared.clone());
    }
    Ok(out)
}

/// The 1-based lines (within `doc`, a document's text) where the entries of the top-level `items:`
/// sequence of a block-style YAML list start (`kubectl get -o yaml` prints
/// `items:` then `- apiVersion: …` at the same or a deeper indentation). Empty
/// when the list is written in flow style or cannot be followed line by line.
fn item_lines(doc: &str) -> Vec<u32> {
    // A document's last line may end in a `\r` that `str::lines` keeps (no
    // `\n` after it); read it as the document's text with its newline reads it.
    let mut lines = doc.lines().map(|l| l.strip_suffix('\r').unwrap_or(l)).enumerate();
    if !lines.any(|(_, l)| l.starts_with("items:")) {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut indent: Option<usize> = None;
    for (i, l) in lines {
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let n = l.len() - t.len();
        match indent {
            None if t.starts_with("- ") || t == "-" => indent = Some(n),
            None => return Vec::new(),
            Some(_) => {}
        }
        let ind = indent.expect("set");
        if n == ind && (t.starts_with("- ") || t == "-") {
            out.push(i as u32 + 1);
        } else if n == 0 {
            // A sibling key of `items:` (e.g. `kind: List`, `metadata:`) ends the sequence.
            break;
        }
    }
    out
}

/// The pod `(metadata, spec)` of a Pod or of a controller's pod template.
/// The kinds are `khc_rules::facts::POD_KINDS`.
pub fn pod_template(obj: &Value) -> Option<(&Value, &Value)> {
    let kind = khc_rules::facts::pod_kind_of(obj["kind"].as_str()?)?;
    Some(khc_rules::facts::pod_of(kind, obj, |v, f| &v[f]))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn list_items_get_their_own_lines_at_any_indentation() {
        // `kubectl get -o yaml` indents items at column 0; other tools at 2.
        for indent in ["", "  "] {
            let text = format!(
                "apiVersion: v1\nitems:\n{indent}- apiVersion: v1\n{indent}  kind: Pod\n{indent}  metadata: {{name: a}}\n{indent}  spec:\n{indent}    containers:\n{indent}    - name: c\n{indent}- apiVersion: v1\n{indent}  kind: Pod\n{indent}  metadata: {{name: b}}\nkind: List\n---\nkind: Pod\nmetadata: {{name: c}}\n"
            );
            let m = parse("f.yaml", &text).unwrap();
            let got: Vec<(u32, u32, Option<u32>, Option<u32>)> = m.iter().map(|x| (x.line, x.document, x.item, x.end_line)).collect();
            assert_eq!(got, [(3, 1, Some(1), Some(9)), (9, 1, Some(2), Some(14)), (14, 2, None, None)], "indent {indent:?}");
            assert_eq!(m[0].field_line(&text, "containers", m[0].end_line), Some(7));
            assert_eq!(m[1].field_line(&text, "containers", m[1].end_line), None, "not past the item's end");
            let starts = super::line_starts(&text);
            for x in &m {
                let lines = x.key_lines(&text, &starts, x.end_line);
                for key in ["containers", "kind", "metadata", "nothing", "name", "apiVersion", "items"] {
                    assert_eq!(x.field_line_from(&text, &starts, key, x.end_line), x.field_line(&text, key, x.end_line), "{key} from line {}", x.line);
                    assert_eq!(lines.get(key).copied(), x.field_line(&text, key, x.end_line), "{key} from line {} (each key's line)", x.line);
                }
            }
        }
        // Quoted keys, keys after dashes, a key in a value, a key that is a
        // prefix of another: each key's line is the scan's.
        let text = "kind: Pod\nspec:\n  \"hostNetwork\": true\n  containers:\n  - image: x:1\n    imagePullPolicy: Always\n    args: [\"runAsUser: 0\"]\n    securityContext: {runAsUser: 0}\n  - \"image\": y\n";
        let m = parse("f.yaml", text).unwrap();
        let starts = super::line_starts(text);
        let lines = m[0].key_lines(text, &starts, m[0].end_line);
        for key in ["hostNetwork", "image", "imagePullPolicy", "args", "securityContext", "runAsUser", "containers", "spec", "kind", "missing"] {
            assert_eq!(lines.get(key).copied(), m[0].field_line_from(text, &starts, key, m[0].end_line), "{key}");
        }
        // A flow-style list keeps the list's line for every item.
        let m = parse("f.yaml", "kind: List\nitems: [{kind: Pod, metadata: {name: a}}, {kind: Pod, metadata: {name: b}}]\n").unwrap();
        assert_eq!(m.iter().map(|x| (x.line, x.item)).collect::<Vec<_>>(), [(1, Some(1)), (1, Some(2))]);
    }
}
