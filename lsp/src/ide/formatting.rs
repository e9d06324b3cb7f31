//! Formatting: the whole file in `khc fmt` layout.

use super::*;

impl<'a> Analysis<'a> {
    /// Formatting: the whole file in `khc fmt` layout (no edit when unchanged).
    pub fn formatting(&self) -> Vec<TextEdit> {
        let f = khc_fmt::format_parsed(self.text, parse(self.db, self.file));
        if !f.changed {
            return Vec::new();
        }
        let end = self.ix.position(self.text.len());
        vec![TextEdit { range: Range { start: Position::default(), end }, new_text: f.text }]
    }
}
