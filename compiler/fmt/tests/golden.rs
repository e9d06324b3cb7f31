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
