//! Folding ranges: blocks, multi-line lists and runs of comment lines.

use super::*;

impl<'a> Analysis<'a> {
    /// Folding ranges: blocks, multi-line lists and runs of comment lines.
    pub fn folding_ranges(&self) -> Vec<FoldingRange> {
        let mut out = Vec::new();
        for n in self.root.descendants() {
            if matches!(n.kind(), SyntaxKind::BLOCK | SyntaxKind::LIST) {
                let r = n.text_range();
                let (a, b) = (self.ix.position(r.start().into()).line, self.ix.position(r.end().into()).line);
                if b > a {
                    // Keep the closing line visible.
                    out.push(FoldingRange { start_line: a, end_line: b - 1, ..Default::default() });
                }
            }
        }
        let mut run: Option<(u32, u32)> = None;
        let flush = |run: &mut Option<(u32, u32)>, out: &mut Vec<FoldingRange>| {
            if let Some((a, b)) = run.take() {
                if b > a {
                    out.push(FoldingRange { start_line: a, end_line: b, kind: Some(FoldingRangeKind::Comment), ..Default::default() });
                }
            }
        };
        for (i, line) in self.text.lines().enumerate() {
            let i = i as u32;
            if line.trim_start().starts_with('#') {
                run = Some(match run {
                    Some((a, b)) if b + 1 == i => (a, i),
                    other => {
                        let mut r = other;
                        flush(&mut r, &mut out);
                        (i, i)
                    }
                });
            } else {
                flush(&mut run, &mut out);
            }
        }
        flush(&mut run, &mut out);
        out
    }
}
