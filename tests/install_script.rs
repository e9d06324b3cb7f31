//! End to end: the generated install script fills the EncryptionConfiguration
//! with key material from the environment and files, validates the keys, and
//! writes the file with mode 0600 — or refuses.

use khc_tests::*;
use std::path::Path;
use std::process::Command;

fn setup(dir: &Path) -> std::path::PathBuf {
    let keyfile = dir.join("old.key");
    std::fs::write(&keyfile, "MDEyMzQ1Njc4OWFiY2RlZg==\n").unwrap(); // 16 bytes
    let src = format!(
        "cluster c {{\n  kubernetes 1.35\n  managed-by group \"khc-appliers\"\n  encryption {{\n    provider aesgcm {{\n      key new env \"KHC_TEST_NEW_KEY\"\n      key old file \"{}\"\n    }}\n    provider secretbox {{ key sb env \"KHC_TEST_SB_KEY\" }}\n    provider identity\n  }}\n}}\n",
        keyfile.display()
    );
    let (out, diags, rendered) = compile_sources(&[("c.khc", &src)]);
    let out = out.unwrap_or_else(|| panic!("{diags:?}\n{rendered}"));
    let cp = dir.join("control-plane");
    std::fs::create_dir_all(&cp).unwrap();
    for f in out.files.iter().filter(|f| f.path.contains("/control-plane/")) {
        std::fs::write(cp.join(f.path.rsplit('/').next().unwrap()), &f.contents).unwrap();
    }
    cp
}

fn run(cp: &Path, dest: &Path, new_key: &str) -> std::process::Output {
    Command::new("sh")
        .arg(cp.join("install-encryption-config.sh"))
        .arg(dest)
        .env("KHC_TEST_NEW_KEY", new_key)
        .env("KHC_TEST_SB_KEY", "YWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=") // 32 bytes
        .output()
        .expect("run sh")
}

#[test]
fn install_script_fills_keys_and_validates_them() {
    let dir = std::env::temp_dir().join(format!("khc-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cp = setup(&dir);
    let dest = dir.join("etc/enc/config.yaml");

    let good = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes
    let out = run(&cp, &dest, good);
    assert!(out.status.success(), "script failed: {}", String::from_utf8_lossy(&out.stderr));
    let written = std::fs::read_to_string(&dest).unwrap();
    let v: serde_json::Value = serde_yaml_ng::from_str(&written).unwrap();
    let keys = &v["resources"][0]["providers"][0]["aesgcm"]["keys"];
    assert_eq!(keys[0]["secret"], good);
    assert_eq!(keys[1]["secret"], "MDEyMzQ1Njc4OWFiY2RlZg==");
    assert!(!written.contains("KHC_KEY_"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // A key of the wrong length is refused and nothing is written.
    std::fs::remove_file(&dest).unwrap();
    let out = run(&cp, &dest, "c2hvcnQ="); // 5 bytes
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("decodes to 5 bytes"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dest.exists());

    // So is a missing variable.
    let out = Command::new("sh").arg(cp.join("install-encryption-config.sh")).arg(&dest).env_remove("KHC_TEST_NEW_KEY").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KHC_TEST_NEW_KEY"));
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 item 14: an unpadded key (GNU `base64 -d` decodes it, kube-apiserver's
/// `base64.StdEncoding` refuses it) and misplaced padding are refused.
#[test]
fn install_script_validates_base64_as_the_api_server_does() {
    let dir = std::env::temp_dir().join(format!("khc-install-b64-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cp = setup(&dir);
    let dest = dir.join("etc/enc/config.yaml");
    // 32 bytes each; only the first is what Go's StdEncoding decodes.
    for (key, ok) in [
        ("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", true),
        ("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", false),
        ("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY==", false),
        ("MDEyMzQ1Njc4OWFiY2RlZjAx=MjM0NTY3ODlhYmNkZWY", false),
        ("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY===", false),
    ] {
        let _ = std::fs::remove_file(&dest);
        let out = run(&cp, &dest, key);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{key}: {stderr}");
        if !ok {
            assert!(stderr.contains("not padded base64") || stderr.contains("not base64"), "{key}: {stderr}");
            assert!(!dest.exists());
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// #25 items 1 and 16: a key or KMS plugin name is never a place for key material:
/// `${KHC_KEY_N}` (the install script substitutes the secret into it, and the API
/// server stores names in clear), `$`, `{`, `}` and `KHC_KEY_` are refused.
#[test]
fn key_and_kms_names_cannot_hold_placeholders() {
    for name in ["rotation-2026-${KHC_KEY_1}", "a$b", "a{b", "a}b", "KHC_KEY_1", "xKHC_KEY_y"] {
        let key = format!(
            "cluster c {{\n  kubernetes 1.35\n  encryption {{\n    provider aesgcm {{ key \"{name}\" env \"ETCD_KEY\" }}\n    provider identity\n  }}\n}}\n"
        );
        let kms = format!(
            "cluster c {{\n  kubernetes 1.35\n  encryption {{\n    provider kms {{\n      name \"{name}\"\n      endpoint \"unix:///run/kms.sock\"\n    }}\n    provider identity\n  }}\n}}\n"
        );
        for src in [key, kms] {
            let (out, diags, rendered) = compile_sources(&[("c.khc", &src)]);
            assert!(out.is_none(), "{name}: compiled:\n{src}");
            assert!(diags.iter().any(|d| d.is_error() && d.message.contains(name)), "{name}: {rendered}");
        }
    }
}
