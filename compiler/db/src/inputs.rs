//! The salsa structs: the file input and the interned tenant reference. (The
//! constructors and accessors salsa generates for them are not documented
//! individually; their fields are.)
#![allow(missing_docs)]

use khc_syntax::FileKey;

/// A source file: the salsa input.
#[salsa::input(debug)]
pub struct SourceFile {
    /// Path relative to the project root, or `std/NAME.khc`.
    #[returns(ref)]
    pub key: FileKey,
    /// The file's text.
    #[returns(ref)]
    pub text: String,
}

/// One tenant of the program rooted at `entry`, for per-tenant queries.
#[salsa::interned(debug)]
pub struct TenantRef<'db> {
    /// The entry file.
    pub entry: SourceFile,
    /// The tenant's name.
    #[returns(ref)]
    pub name: String,
}
