//! One module per command that is more than a few lines.

pub mod fmt;
