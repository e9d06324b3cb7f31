//! Positions: byte offsets ↔ LSP (line, UTF-16 column), incremental edits, URIs.

use lsp_types::{Position, Range, Uri};
use std::str::FromStr;

/// The LSP position (line, UTF-16 column) of a byte offset.
pub fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = before[line_start..].encode_utf16().count() as u32;
    Position { line, character }
}

/// Positions of many offsets in one text, with precomputed line starts.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The position of a byte offset.
    pub fn position(&self, offset: usize) -> Position {
        let offset = self.text.floor_char_boundary(offset.min(self.text.len()));
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let character = self.text[self.starts[line]..offset].encode_utf16().count() as u32;
        Position { line: line as u32, character }
    }

    /// The range of a span.
    pub fn range(&self, span: khc_syntax::Span) -> Range {
        Range { start: self.position(span.start as usize), end: self.position(span.end as usize) }
    }

    /// The byte offset of a position (clamped to the line and the text).
    pub fn offset(&self, pos: Position) -> usize {
        offset(self.text, &self.starts, pos)
    }
}

fn offset(text: &str, starts: &[usize], pos: Position) -> usize {
    let Some(&start) = starts.get(pos.line as usize) else { return text.len() };
    let end = starts.get(pos.line as usize + 1).map_or(text.len(), |e| e - 1);
    let mut units = 0u32;
    for (i, c) in text[start..end].char_indices() {
        if units >= pos.character {
            return start + i;
        }
        units += c.len_utf16() as u32;
    }
    end
}

/// The byte offset of a position in `text`.
pub fn offset_of(text: &str, pos: Position) -> usize {
    LineIndex::new(text).offset(pos)
}

/// Applies one `contentChanges` entry (ranged or full) to `text`.
pub fn apply_change(text: &mut String, range: Option<Range>, new: &str) {
    match range {
        None => *text = new.to_string(),
        Some(r) => {
            let ix = LineIndex::new(text);
            let (a, b) = (ix.offset(r.start), ix.offset(r.end));
            let (a, b) = (a.min(b), a.max(b));
            text.replace_range(a..b, new);
        }
    }
}

/// `file:///a/b%20c.khc` → `/a/b c.khc`.
pub fn uri_to_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.find('/').map(|i| &rest[i..])?; // drop an authority (`localhost`)
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let path = String::from_utf8(out).ok()?;
    Some(normalize(&path))
}

/// Removes `.` and `..` components and doubled slashes.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Percent-encodes a path for a `file://` URI.
pub fn encode_path(path: &str) -> String {
    let mut s = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// `/a/b c.khc` → `file:///a/b%20c.khc`.
pub fn path_to_uri(path: &str) -> Option<Uri> {
    Uri::from_str(&format!("file://{}", encode_path(path))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trip() {
        let p = "/tmp/my dir/a.khc";
        let uri = path_to_uri(p).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/my%20dir/a.khc");
        assert_eq!(uri_to_path(uri.as_str()).unwrap(), p);
        assert_eq!(uri_to_path("file:///a/./b/../c.khc").unwrap(), "/a/c.khc");
    }

    #[test]
    fn positions_are_utf16() {
        let text = "a\n€b";
        assert_eq!(position(text, 2 + 3), Position { line: 1, character: 1 });
        let ix = LineIndex::new(text);
        assert_eq!(ix.position(5), Position { line: 1, character: 1 });
        assert_eq!(ix.offset(Position { line: 1, character: 1 }), 5);
        assert_eq!(ix.offset(Position { line: 9, character: 0 }), text.len());
    }

    #[test]
    fn incremental_edits() {
        let mut t = String::from("ab\n€cd\n");
        apply_change(&mut t, Some(Range { start: Position { line: 1, character: 1 }, end: Position { line: 1, character: 2 } }), "X");
        assert_eq!(t, "ab\n€Xd\n");
        apply_change(&mut t, None, "new");
        assert_eq!(t, "new");
    }
}
