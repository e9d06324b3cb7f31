//! The file runner behind `khc fmt [PATH…] [--check]`: directories, `-`, atomic
//! rewrites and exit codes.

use khc_fmt::files::{run, EXIT_CHANGES, EXIT_IO, EXIT_OK};
use std::fs;
use std::path::{Path, PathBuf};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("khc-fmt-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run_with(paths: &[PathBuf], check: bool, stdin: &str) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run(paths, check, &mut stdin.as_bytes(), &mut out, &mut err);
    (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const UGLY: &str = "tenant a {\n    isolation   strict\n}\n";
const PRETTY: &str = "tenant a {\n  isolation strict\n}\n";

#[test]
fn check_lists_files_that_would_change_and_writes_nothing() {
    let dir = TempDir::new("check");
    let ugly = dir.0.join("tenants/a.khc");
    let pretty = dir.0.join("b.khc");
    let hidden = dir.0.join(".git/c.khc");
    let other = dir.0.join("notes.txt");
    write(&ugly, UGLY);
    write(&pretty, PRETTY);
    write(&hidden, UGLY);
    write(&other, UGLY);
    let (code, out, err) = run_with(std::slice::from_ref(&dir.0), true, "");
    assert_eq!(code, EXIT_CHANGES, "{err}");
    assert_eq!(out, format!("{}\n", ugly.display()));
    assert_eq!(fs::read_to_string(&ugly).unwrap(), UGLY);

    let (code, out, _) = run_with(std::slice::from_ref(&pretty), true, "");
    assert_eq!((code, out.as_str()), (EXIT_OK, ""));
}

#[test]
fn rewrites_files_in_place() {
    let dir = TempDir::new("write");
    let ugly = dir.0.join("a.khc");
    let pretty = dir.0.join("sub/b.khc");
    write(&ugly, UGLY);
    write(&pretty, PRETTY);
    let (code, out, err) = run_with(std::slice::from_ref(&dir.0), false, "");
    assert_eq!((code, out.as_str(), err.as_str()), (EXIT_OK, "", ""));
    assert_eq!(fs::read_to_string(&ugly).unwrap(), PRETTY);
    assert_eq!(fs::read_to_string(&pretty).unwrap(), PRETTY);
    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let (code, _, _) = run_with(std::slice::from_ref(&dir.0), true, "");
    assert_eq!(code, EXIT_OK);
}

#[test]
fn stdin_to_stdout() {
    let (code, out, _) = run_with(&[PathBuf::from("-")], false, UGLY);
    assert_eq!((code, out.as_str()), (EXIT_OK, PRETTY));
    let (code, out, _) = run_with(&[PathBuf::from("-")], true, UGLY);
    assert_eq!((code, out.as_str()), (EXIT_CHANGES, "<stdin>\n"));
    let (code, out, _) = run_with(&[PathBuf::from("-")], true, PRETTY);
    assert_eq!((code, out.as_str()), (EXIT_OK, ""));
}

#[test]
fn io_errors_exit_2_and_other_files_are_still_formatted() {
    let dir = TempDir::new("io");
    let ugly = dir.0.join("a.khc");
    let binary = dir.0.join("b.khc");
    write(&ugly, UGLY);
    fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    let missing = dir.0.join("missing.khc");
    let (code, _, err) = run_with(&[missing.clone(), dir.0.clone()], false, "");
    assert_eq!(code, EXIT_IO);
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");
    assert_eq!(fs::read_to_string(&ugly).unwrap(), PRETTY);
}
