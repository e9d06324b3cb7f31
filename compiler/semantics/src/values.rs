//! Validators for Kubernetes value formats: DNS-1123 names, label keys and values,
//! quantities, CIDRs, durations and versions.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// A DNS-1123 label: 1–63 lowercase alphanumerics or `-`, alphanumeric at both ends.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b.len() <= 63 && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-') && b[0] != b'-' && b[b.len() - 1] != b'-'
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Explains why `s` is not a DNS-1123 label.
pub fn dns_label_problem(s: &str) -> String {
    if s.is_empty() {
        "it is empty".into()
    } else if s.len() > 63 {
        format!("it is {} characters long; the limit is 63", s.len())
    } else if s.chars().any(|c| c.is_ascii_uppercase()) {
        "it contains uppercase letters".into()
    } else if s.starts_with('-') || s.ends_with('-') {
        "it starts or ends with `-`".into()
    } else {
        "only lowercase letters, digits and `-` are allowed".into()
    }
}

/// A label name segment: 1–63 alphanumerics, `-`, `_`, `.`, alphanumeric at both ends.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A label key: `[prefix/]name` with a DNS subdomain prefix.
pub fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(s),
    }
}

/// A label value: empty or a label name.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_label_name(s)
}

/// Parses a Kubernetes quantity into nano-units (`500m` → 500_000_000).
/// Returns `None` for malformed quantities and for ones too large to represent
/// (beyond about 10^29; no Kubernetes quantity comes near).
pub fn parse_quantity(digits: &str, unit: &str) -> Option<i128> {
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit()) || frac.len() > 9 || int.len() > 18 {
        return None;
    }
    let mut nanos: i128 = int.parse::<i128>().ok()? * 1_000_000_000;
    if !frac.is_empty() {
        let scale = 10i128.pow(9 - frac.len() as u32);
        nanos += frac.parse::<i128>().ok()? * scale;
    }
    let factor: (i128, i128) = match unit {
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1000),
        "" => (1, 1),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        _ => return None,
    };
    nanos.checked_mul(factor.0).map(|n| n / factor.1)
}

/// A parsed CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// Network address as a 128-bit number (IPv4 in the low 32 bits).
    pub addr: u128,
    /// Prefix length.
    pub prefix: u8,
    /// True for IPv6.
    pub v6: bool,
}

impl Cidr {
    fn bits(&self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }

    fn mask(&self) -> u128 {
        let bits = self.bits() as u32;
        if self.prefix == 0 {
            0
        } else {
            let all = if bits == 128 { u128::MAX } else { (1u128 << bits) - 1 };
            all & !((1u128 << (bits - self.prefix as u32)) - 1) & all
        }
    }

    /// True when `other` lies inside `self` (same family, longer or equal prefix).
    pub fn contains(&self, other: &Cidr) -> bool {
        self.v6 == other.v6 && other.prefix >= self.prefix && (other.addr & self.mask()) == self.addr
    }
}

/// Parses `addr/prefix` (a bare address is a host route). On failure explains why;
/// a CIDR with host bits set is rejected with the network address suggested.
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| format!("`{addr}` is not an IP address"))?;
    let (value, v6) = match ip {
        IpAddr::V4(v4) => (u32::from(v4) as u128, false),
        IpAddr::V6(v6) => (u128::from(v6), true),
    };
    let bits = if v6 { 128 } else { 32 };
    let prefix = match prefix {
        None => bits,
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(|| format!("prefix `/{p}` must be between 0 and {bits}"))?,
    };
    let cidr = Cidr { addr: value, prefix, v6 };
    let network = value & cidr.mask();
    if network != value {
        let net = if v6 { std::net::Ipv6Addr::from(network).to_string() } else { std::net::Ipv4Addr::from(network as u32).to_string() };
        return Err(format!("host bits are set; the network is `{net}/{prefix}`"));
    }
    Ok(cidr)
}

/// Canonical text of a CIDR (`10.0.0.0/8`; a bare address gets `/32` or `/128`).
pub fn cidr_text(c: &Cidr) -> String {
    if c.v6 {
        format!("{}/{}", std::net::Ipv6Addr::from(c.addr), c.prefix)
    } else {
        format!("{}/{}", std::net::Ipv4Addr::from(c.addr as u32), c.prefix)
    }
}

/// A Go-style duration with one unit: `500ms`, `3s`, `2m`, `1h`.
pub fn is_duration(digits: &str, unit: &str) -> bool {
    !digits.contains('.') && matches!(unit, "ms" | "s" | "m" | "h") && digits.parse::<u64>().is_ok_and(|n| n > 0)
}

/// Parses a Kubernetes version `1.31` (or `v1.31`) into its minor number.
pub fn parse_version(s: &str) -> Option<u32> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let (major, minor) = s.split_once('.')?;
    if major != "1" {
        return None;
    }
    minor.parse().ok()
}

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = if ca == *cb { 0 } else { 1 };
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate to `word`, if close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).max(1);
    candidates.into_iter().map(|c| (edit_distance(word, c), c)).filter(|(d, _)| *d <= limit).min().map(|(_, c)| c)
}

/// Names indexed once for "did you mean" suggestions: bucketed by length in
/// characters (an edit distance is at least the difference of the lengths), each
/// kept as characters, and compared with a banded edit distance that stops as
/// soon as the limit is exceeded. With one unknown reference per tenant, a full
/// edit distance to every tenant name per error made `check` quadratic (2,000
/// tenants: 255 s); this gives exactly what [`suggest`] gives over the same names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameIndex {
    by_len: BTreeMap<usize, Vec<(String, Vec<char>)>>,
}

/// The edit distance of `a` and `b` if it is at most `k` (rows computed only
/// within the band `|i - j| <= k`, stopping once a row exceeds `k`).
fn bounded_distance(a: &[char], b: &[char], k: usize, prev: &mut Vec<usize>, cur: &mut Vec<usize>) -> Option<usize> {
    const FAR: usize = usize::MAX / 2;
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > k {
        return None;
    }
    prev.clear();
    prev.extend((0..=m).map(|j| if j <= k { j } else { FAR }));
    for i in 1..=n {
        cur.clear();
        cur.resize(m + 1, FAR);
        if i <= k {
            cur[0] = i;
        }
        let mut row_min = cur[0];
        for j in i.saturating_sub(k).max(1)..=(i + k).min(m) {
            let v = (prev[j - 1] + usize::from(a[i - 1] != b[j - 1])).min(prev[j] + 1).min(cur[j - 1] + 1);
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > k {
            return None;
        }
        std::mem::swap(prev, cur);
    }
    (prev[m] <= k).then_some(prev[m])
}

impl NameIndex {
    /// Indexes `names`.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut by_len: BTreeMap<usize, Vec<(String, Vec<char>)>> = BTreeMap::new();
        for n in names {
            let chars: Vec<char> = n.chars().collect();
            by_len.entry(chars.len()).or_default().push((n.to_string(), chars));
        }
        for v in by_len.values_mut() {
            v.sort();
            v.dedup();
        }
        NameIndex { by_len }
    }

    /// The closest name to `word`, if close enough to be a likely typo (as [`suggest`]).
    pub fn suggest(&self, word: &str) -> Option<&str> {
        let limit = (word.len() / 3).max(1);
        let w: Vec<char> = word.chars().collect();
        let (mut prev, mut cur) = (Vec::new(), Vec::new());
        let mut best: Option<(usize, &str)> = None;
        for (_, names) in self.by_len.range(w.len().saturating_sub(limit)..=w.len() + limit) {
            for (name, chars) in names {
                if let Some(d) = bounded_distance(&w, chars, limit, &mut prev, &mut cur) {
                    if best.is_none_or(|b| (d, name.as_str()) < b) {
                        best = Some((d, name));
                    }
                }
            }
        }
        best.map(|(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_index_suggests_as_suggest_does() {
        let mut names: Vec<String> =
            ["payments", "payment", "monitoring", "legacy", "a", "ab", "tenant-1", "tenant-2", "ténant", "xyz", "abcdefghijkl"].map(String::from).to_vec();
        names.extend((0..300).map(|i| format!("t{i}")));
        let index = NameIndex::new(names.iter().map(String::as_str));
        let words = [
            "paymnts",
            "payments",
            "monitorin",
            "x",
            "tenant-3",
            "tenant",
            "b",
            "",
            "lgacy",
            "ténan",
            "xt12",
            "t1",
            "t1000",
            "abcdefghij",
            "bacdefghijkl",
            "zyx",
        ];
        for w in words {
            assert_eq!(index.suggest(w), suggest(w, names.iter().map(String::as_str)), "{w}");
        }
        // Every pair of short strings over a small alphabet: the banded distance is exact within its limit.
        let all: Vec<String> = (0..4usize)
            .flat_map(|len| (0..3usize.pow(len as u32)).map(move |n| (0..len).map(|i| ['a', 'b', 'é'][n / 3usize.pow(i as u32) % 3]).collect()))
            .collect();
        let (mut p, mut c) = (Vec::new(), Vec::new());
        for a in &all {
            for b in &all {
                let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
                for k in 0..4 {
                    let d = edit_distance(a, b);
                    assert_eq!(bounded_distance(&ac, &bc, k, &mut p, &mut c), (d <= k).then_some(d), "{a:?} {b:?} {k}");
                }
            }
        }
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("500", "m"), Some(500_000_000));
        assert_eq!(parse_quantity("1", "Gi"), Some((1i128 << 30) * 1_000_000_000));
        assert_eq!(parse_quantity("1.5", ""), Some(1_500_000_000));
        assert!(parse_quantity("2", "G").unwrap() < parse_quantity("2", "Gi").unwrap());
        assert_eq!(parse_quantity("1", "Gb"), None);
        assert_eq!(parse_quantity("200000000000", "Ei"), None, "overflow is not a quantity");
    }

    #[test]
    fn cidrs() {
        let a = parse_cidr("10.0.0.0/8").unwrap();
        let b = parse_cidr("10.1.0.0/16").unwrap();
        assert!(a.contains(&b) && !b.contains(&a));
        assert!(parse_cidr("10.0.0.1/8").unwrap_err().contains("10.0.0.0/8"));
        assert!(parse_cidr("300.0.0.0/8").is_err());
        assert!(parse_cidr("10.0.0.0/33").is_err());
        let v6 = parse_cidr("fd00::/8").unwrap();
        assert!(v6.contains(&parse_cidr("fd00:1::/32").unwrap()));
        assert!(!v6.contains(&a));
        assert_eq!(cidr_text(&parse_cidr("0.0.0.0/0").unwrap()), "0.0.0.0/0");
    }

    #[test]
    fn names() {
        assert!(is_dns_label("payments-1"));
        assert!(!is_dns_label("Payments") && !is_dns_label("-a") && !is_dns_label(&"a".repeat(64)));
        assert!(is_label_key("app.kubernetes.io/name") && !is_label_key("a/b/c"));
        assert!(is_label_value("") && !is_label_value("-x"));
        assert_eq!(suggest("tenat", ["tenant", "cluster"]), Some("tenant"));
        assert_eq!(parse_version("1.31"), Some(31));
        assert_eq!(parse_version("2.0"), None);
    }
}
