//! Golden tests: every `tests/golden/NAME.in.khc` formats to `NAME.out.khc`, and
//! the expected output is a fixed point. `UPDATE_GOLDEN=1` rewrites the outputs.

use std::fs;
use std::path::Path;

#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut inputs: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(".in.khc")).collect();
    inputs.sort();
    assert!(inputs.len() >= 5, "golden inputs missing in {}", dir.display());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for input in &inputs {
        let text = fs::read_to_string(input).unwrap();
        let expected_path = input.with_file_name(input.file_name().unwrap().to_string_lossy().replace(".in.khc", ".out.khc"));
        let formatted = khc_fmt::format(&text).text;
        if update {
            fs::write(&expected_path, &formatted).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if formatted != expected {
            failures.push(format!("{}:\n--- expected\n{expected}\n--- got\n{formatted}", input.display()));
        }
        assert!(khc_fmt::check(&expected), "{} is not a fixed point", expected_path.display());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The repository's own sources (examples, stdlib) and SPEC.md's code blocks:
/// formatting them is idempotent and keeps their syntax errors (SPEC uses `…`
/// placeholders) exactly as they were.
#[test]
fn repository_sources_format_stably() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut texts = Vec::new();
    let mut dirs = vec![root.join("examples"), root.join("stdlib")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "khc") {
                texts.push((path.display().to_string(), fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let spec = fs::read_to_string(root.join("SPEC.md")).unwrap();
    for (n, block) in spec.split("```").skip(1).step_by(2).enumerate() {
        let code = block.split_once('\n').map_or("", |(_, code)| code);
        texts.push((format!("SPEC.md code block {n}"), code.to_string()));
    }
    assert!(texts.len() > 10, "{}", texts.len());
    let key = khc_syntax::FileKey::from("t.khc");
    for (name, text) in texts {
        let once = khc_fmt::format(&text).text;
        assert_eq!(khc_fmt::format(&once).text, once, "{name}: not idempotent");
        let messages = |t: &str| khc_syntax::parse(&key, t).errors.into_iter().map(|d| d.message).collect::<Vec<_>>();
        assert_eq!(messages(&text), messages(&once), "{name}");
    }
}
