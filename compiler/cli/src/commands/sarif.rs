//! SARIF 2.1.0 logs (accepted by GitHub code scanning) for diagnostics and
//! findings.

use serde_json::{json, Value};

/// The SARIF schema URI written in every log.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// One result.
pub struct SarifResult {
    /// Rule id (a diagnostic code or a khc rule).
    pub rule_id: String,
    /// `error`, `warning` or `note`.
    pub level: &'static str,
    /// The message.
    pub message: String,
    /// File (relative path).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// Related locations: file, line, message.
    pub related: Vec<(String, u32, String)>,
    /// Acknowledged in source with this justification: the result carries an
    /// `inSource` suppression (SARIF 2.1.0 section 3.27.23).
    pub suppression: Option<String>,
}

/// Splits `FILE:LINE` (the line defaults to 1).
pub fn split_location(loc: &str) -> (String, u32) {
    match loc.rsplit_once(':') {
        Some((f, l)) if l.parse::<u32>().is_ok() => (f.to_string(), l.parse::<u32>().unwrap_or(1).max(1)),
        _ => (loc.to_string(), 1),
    }
}

fn location(file: &str, line: u32) -> Value {
    json!({"physicalLocation": {"artifactLocation": {"uri": file.replace('\\', "/")}, "region": {"startLine": line.max(1)}}})
}

/// The SARIF log of one run of khc.
pub fn log(results: &[SarifResult]) -> Value {
    let mut rules: Vec<String> = results.iter().map(|r| r.rule_id.clone()).collect();
    rules.sort();
    rules.dedup();
    let results: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut v = json!({
                "ruleId": r.rule_id,
                "ruleIndex": rules.iter().position(|x| *x == r.rule_id).unwrap_or(0),
                "level": r.level,
                "message": {"text": r.message},
                "locations": [location(&r.file, r.line)],
            });
            if let Some(why) = &r.suppression {
                v["suppressions"] = json!([{"kind": "inSource", "justification": why}]);
            }
            if !r.related.is_empty() {
                v["relatedLocations"] = r
                    .related
                    .iter()
                    .enumerate()
                    .map(|(i, (f, l, m))| {
                        let mut loc = location(f, *l);
                        loc["id"] = json!(i);
                        loc["message"] = json!({"text": m});
                        loc
                    })
                    .collect();
            }
            v
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "khc",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/khc-dev/khc",
                "rules": rules.iter().map(|id| json!({"id": id, "shortDescription": {"text": format!("khc {id}")}})).collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}
