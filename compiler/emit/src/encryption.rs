//! The EncryptionConfiguration (apiserver.config.k8s.io/v1) for encryption at
//! rest, with placeholders instead of key material, and the install script that
//! fills them in on a control-plane node.

use khc_semantics::model::{Encryption, Key, KeySource, Provider};
use serde::{Deserialize, Serialize};

/// `apiserver.config.k8s.io/v1` EncryptionConfiguration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionConfiguration {
    /// Always `apiserver.config.k8s.io/v1`.
    pub api_version: String,
    /// Always `EncryptionConfiguration`.
    pub kind: String,
    /// One entry: the resources and their providers.
    pub resources: Vec<ResourceConfiguration>,
}

/// Resources and the providers that encrypt them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceConfiguration {
    /// Resources (`secrets`, `*.apps`).
    pub resources: Vec<String>,
    /// Providers in order: the first encrypts.
    pub providers: Vec<ProviderConfiguration>,
}

/// Exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderConfiguration {
    /// AES-GCM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aesgcm: Option<KeysConfiguration>,
    /// AES-CBC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aescbc: Option<KeysConfiguration>,
    /// Secretbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secretbox: Option<KeysConfiguration>,
    /// KMS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsConfiguration>,
    /// No encryption.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Empty>,
}

/// `{}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A list of keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfiguration {
    /// Keys: the first encrypts.
    pub keys: Vec<KeyConfiguration>,
}

/// A key; `secret` is a `${…}` placeholder in the generated file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfiguration {
    /// Key name.
    pub name: String,
    /// Base64 key material (a placeholder until installed).
    pub secret: String,
}

/// A KMS v2 plugin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KmsConfiguration {
    /// Always `v2`.
    pub api_version: String,
    /// Plugin name.
    pub name: String,
    /// `unix://` socket.
    pub endpoint: String,
    /// Call timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// The placeholder written instead of a key's material.
pub fn placeholder(index: usize) -> String {
    format!("${{KHC_KEY_{index}}}")
}

/// Every key with its provider name, in order.
pub fn keys(e: &Encryption) -> Vec<(&'static str, &Key)> {
    e.providers.iter().flat_map(|p| p.keys().iter().map(move |k| (p.kind(), k))).collect()
}

/// Builds the configuration with placeholders for key material.
pub fn configuration(e: &Encryption) -> EncryptionConfiguration {
    let mut index = 0;
    let mut keys = |ks: &[Key]| {
        let list = ks
            .iter()
            .map(|k| {
                index += 1;
                KeyConfiguration { name: k.name.clone(), secret: placeholder(index) }
            })
            .collect();
        Some(KeysConfiguration { keys: list })
    };
    let providers = e
        .providers
        .iter()
        .map(|p| match p {
            Provider::AesGcm(k) => ProviderConfiguration { aesgcm: keys(k), ..Default::default() },
            Provider::AesCbc(k) => ProviderConfiguration { aescbc: keys(k), ..Default::default() },
            Provider::Secretbox(k) => ProviderConfiguration { secretbox: keys(k), ..Default::default() },
            Provider::Kms { name, endpoint, timeout } => ProviderConfiguration {
                kms: Some(KmsConfiguration { api_version: "v2".into(), name: name.clone(), endpoint: endpoint.clone(), timeout: timeout.clone() }),
                ..Default::default()
            },
            Provider::Identity => ProviderConfiguration { identity: Some(Empty {}), ..Default::default() },
        })
        .collect();
    EncryptionConfiguration {
        api_version: "apiserver.config.k8s.io/v1".into(),
        kind: "EncryptionConfiguration".into(),
        resources: vec![ResourceConfiguration { resources: e.resources.clone(), providers }],
    }
}

/// Quotes a string for POSIX sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The install script: reads each key from its env var or file, checks it is base64
/// of an allowed length, substitutes the placeholders and writes the file 0600.
pub fn install_script(e: &Encryption, source: &str) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    s.push_str(&format!("# Generated by khc from {}. Do not edit.\n", crate::safe_comment(source)));
    s.push_str("# Renders encryption-config.yaml with key material and installs it (mode 0600).\n");
    // The same place `install-control-plane.sh` installs it and `kube-apiserver-flags` names.
    let default = format!("{}/encryption-config.yaml", crate::control_plane::INSTALL_DIR);
    s.push_str(&format!("# Usage: sh install-encryption-config.sh [DEST]   (default {default})\n"));
    s.push_str("set -eu\n");
    s.push_str("src=\"$(dirname \"$0\")/encryption-config.yaml\"\n");
    s.push_str(&format!("dest=\"${{1:-{default}}}\"\n"));
    s.push_str("fail() { echo \"khc: $*\" >&2; exit 1; }\n");
    s.push_str("check_key() {\n");
    s.push_str("  case \"$2\" in *[!A-Za-z0-9+/=]*|'') fail \"key $1 is not base64\";; esac\n");
    // Exactly what kube-apiserver accepts (Go's `base64.StdEncoding`): padded to a
    // multiple of 4 characters, `=` only at the end and at most two of them. GNU
    // `base64 -d` decodes unpadded input (and only complains on stderr).
    s.push_str("  case \"$2\" in *=*=*=*|*=[!=]*) fail \"key $1 is not padded base64: '=' may only end it, at most twice\";; esac\n");
    s.push_str("  [ $(( ${#2} % 4 )) -eq 0 ] || fail \"key $1 is not padded base64: its length (${#2}) is not a multiple of 4\"\n");
    s.push_str("  n=$(printf '%s' \"$2\" | base64 -d 2>/dev/null | wc -c) || fail \"key $1 is not valid base64\"\n");
    s.push_str("  case \" $3 \" in *\" $n \"*) ;; *) fail \"key $1 decodes to $n bytes; expected one of: $3\";; esac\n");
    s.push_str("}\n");
    let mut sed = Vec::new();
    for (i, (provider, key)) in keys(e).into_iter().enumerate() {
        let index = i + 1;
        let lengths = if provider == "secretbox" { "32" } else { "16 24 32" };
        let var = format!("key_{index}");
        match &key.source {
            KeySource::Env(name) => {
                s.push_str(&format!("{var}=$(printenv {name}) || fail {}\n", sh_quote(&format!("environment variable {name} (key {}) is not set", key.name))))
            }
            KeySource::File(path) => {
                s.push_str(&format!("{var}=$(tr -d ' \\n\\r' < {}) || fail {}\n", sh_quote(path), sh_quote(&format!("cannot read {path} (key {})", key.name))))
            }
        }
        s.push_str(&format!("check_key {} \"${var}\" '{lengths}'\n", sh_quote(&key.name)));
        sed.push(format!("-e \"s|\\${{KHC_KEY_{index}}}|${var}|\""));
    }
    s.push_str("umask 077\n");
    s.push_str("[ -L \"$dest\" ] && fail \"$dest is a symbolic link\"\n");
    s.push_str("mkdir -p \"$(dirname \"$dest\")\"\n");
    s.push_str("tmp=$(mktemp \"$(dirname \"$dest\")/.encryption-config.XXXXXX\") || fail 'cannot create a temporary file'\n");
    if sed.is_empty() {
        s.push_str("cp \"$src\" \"$tmp\"\n");
    } else {
        s.push_str(&format!("sed {} \"$src\" > \"$tmp\"\n", sed.join(" ")));
    }
    s.push_str("grep -q 'KHC_KEY_' \"$tmp\" && { rm -f \"$tmp\"; fail 'a key placeholder was left unfilled'; }\n");
    s.push_str("chmod 600 \"$tmp\"\n");
    s.push_str("mv -f \"$tmp\" \"$dest\"\n");
    s.push_str("echo \"khc: wrote $dest\"\n");
    s
}
