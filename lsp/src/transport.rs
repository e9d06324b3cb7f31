//! JSON-RPC framing over a byte stream: `Content-Length` headers, bounded, with
//! errors reported instead of ending the server.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc::{channel, Receiver};

/// The largest message body accepted.
pub const MAX_CONTENT_LENGTH: usize = 64 * 1024 * 1024;
const MAX_HEADER_LINE: usize = 8 * 1024;

/// One thing read from the client.
#[derive(Debug)]
pub enum Incoming {
    /// A parsed JSON value (a message, or something that claims to be one).
    Message(serde_json::Value),
    /// A frame that could not be read or parsed: the JSON-RPC error code and why.
    Malformed(i32, String),
}

/// Reads frames on a thread until the end of input (the channel then closes).
pub fn spawn_reader<R: Read + Send + 'static>(input: R) -> Receiver<Incoming> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(input);
        while let Some(item) = read_frame(&mut r) {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    rx
}

/// Reads one frame; `None` at the end of input.
pub fn read_frame(r: &mut impl BufRead) -> Option<Incoming> {
    let mut len: Option<usize> = None;
    let mut bad: Option<String> = None;
    let mut saw_header = false;
    loop {
        let mut line = Vec::new();
        let n = r.by_ref().take(MAX_HEADER_LINE as u64).read_until(b'\n', &mut line).ok()?;
        if n == 0 {
            return None;
        }
        if line.last() != Some(&b'\n') {
            // An overlong header line: skip to its end.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let n = r.by_ref().take(MAX_HEADER_LINE as u64).read_until(b'\n', &mut rest).ok()?;
                if n == 0 {
                    return None;
                }
                if rest.last() == Some(&b'\n') {
                    break;
                }
            }
            bad = Some("header line too long".into());
            saw_header = true;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !saw_header {
                continue; // stray blank line between frames
            }
            break;
        }
        saw_header = true;
        if let Some((name, value)) = text.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                match value.trim().parse::<usize>() {
                    Ok(n) => len = Some(n),
                    Err(_) => bad = Some(format!("invalid Content-Length `{}`", value.trim())),
                }
            }
        } else {
            bad = Some(format!("malformed header line `{}`", text.chars().take(80).collect::<String>()));
        }
    }
    let Some(len) = len else {
        return Some(Incoming::Malformed(-32700, bad.unwrap_or_else(|| "missing Content-Length header".into())));
    };
    if len > MAX_CONTENT_LENGTH {
        // Discard the body without holding it.
        let copied = std::io::copy(&mut r.by_ref().take(len as u64), &mut std::io::sink()).ok()?;
        if copied < len as u64 {
            return None;
        }
        return Some(Incoming::Malformed(-32600, format!("message of {len} bytes is larger than the {} MiB limit", MAX_CONTENT_LENGTH >> 20)));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    if let Some(why) = bad {
        return Some(Incoming::Malformed(-32700, why));
    }
    Some(match serde_json::from_slice(&body) {
        Ok(v) => Incoming::Message(v),
        Err(e) => Incoming::Malformed(-32700, format!("invalid JSON: {e}")),
    })
}

/// Writes one message with its header.
pub fn write_message(w: &mut impl Write, msg: &serde_json::Value) -> std::io::Result<()> {
    let body = serde_json::to_string(msg)?;
    write!(w, "Content-Length: {}\r\n\r\n{body}", body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &str) -> Vec<String> {
        let mut r = BufReader::new(input.as_bytes());
        std::iter::from_fn(|| read_frame(&mut r))
            .map(|i| match i {
                Incoming::Message(v) => v.to_string(),
                Incoming::Malformed(code, why) => format!("{code} {why}"),
            })
            .collect()
    }

    #[test]
    fn malformed_frames_are_reported_and_reading_goes_on() {
        let out = frames(
            "Content-Length: 2\r\n\r\n{}Content-Length: 3\r\n\r\n{x}Content-Length: zz\r\n\r\nContent-Length: 99999999999\r\n\r\nContent-Length: 4\r\n\r\nnull",
        );
        assert_eq!(out[0], "{}");
        assert!(out[1].starts_with("-32700 invalid JSON"), "{out:?}");
        assert!(out[2].contains("invalid Content-Length"), "{out:?}");
        // The huge body is not there: the input ends.
        assert_eq!(out.len(), 3, "{out:?}");
        let out = frames("Content-Length: 70000000\r\n\r\n");
        assert!(out.is_empty());
    }
}
