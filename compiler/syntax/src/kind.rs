//! The kinds of tokens and nodes in the lossless syntax tree, and the rowan
//! language tag that ties them to rowan's generic tree.

/// Every token and node kind. Tokens come from the lexer; nodes from the parser.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum SyntaxKind {
    // Tokens.
    /// Spaces and tabs (and other non-newline whitespace, a BOM included).
    WHITESPACE = 0,
    /// `\n`, `\r\n` or a lone `\r`.
    NEWLINE,
    /// `#` to the end of the line.
    COMMENT,
    /// A bare name: `payments`, `deployments.apps`, `v1.31`.
    NAME,
    /// A string literal with its quotes.
    STRING,
    /// A number with an optional unit: `50`, `1.31`, `500m`, `256Mi`.
    NUMBER,
    /// An IPv4 address or CIDR: `10.0.0.0/8`.
    ADDRESS,
    /// A port range: `8000-8100`.
    RANGE,
    /// `*`.
    STAR,
    /// `{`.
    L_BRACE,
    /// `}`.
    R_BRACE,
    /// `[`.
    L_BRACKET,
    /// `]`.
    R_BRACKET,
    /// `,`.
    COMMA,
    /// `;`.
    SEMICOLON,
    /// Text that is no token: a malformed word, an unterminated string.
    ERROR_TOKEN,

    // Nodes.
    /// A whole file.
    SOURCE_FILE,
    /// `name value… [block]`.
    STATEMENT,
    /// `{ statement… }`.
    BLOCK,
    /// `[ value, … ]`.
    LIST,
    /// Text the parser could not place, kept verbatim.
    ERROR,
}

impl SyntaxKind {
    /// True for whitespace and comments (not newlines, which end statements).
    pub fn is_trivia(self) -> bool {
        matches!(self, SyntaxKind::WHITESPACE | SyntaxKind::COMMENT)
    }

    /// True for the tokens that are values on their own.
    pub fn is_value_token(self) -> bool {
        matches!(self, SyntaxKind::NAME | SyntaxKind::STRING | SyntaxKind::NUMBER | SyntaxKind::ADDRESS | SyntaxKind::RANGE | SyntaxKind::STAR)
    }
}

impl From<SyntaxKind> for rowan::SyntaxKind {
    fn from(kind: SyntaxKind) -> Self {
        rowan::SyntaxKind(kind as u16)
    }
}

/// The rowan language tag of khc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KhcLanguage {}

impl rowan::Language for KhcLanguage {
    type Kind = SyntaxKind;

    fn kind_from_raw(raw: rowan::SyntaxKind) -> SyntaxKind {
        assert!(raw.0 <= SyntaxKind::ERROR as u16, "unknown syntax kind {}", raw.0);
        // SAFETY: SyntaxKind is `repr(u16)` and `raw.0` is within its range.
        unsafe { std::mem::transmute::<u16, SyntaxKind>(raw.0) }
    }

    fn kind_to_raw(kind: SyntaxKind) -> rowan::SyntaxKind {
        kind.into()
    }
}

/// A node of the lossless tree.
pub type SyntaxNode = rowan::SyntaxNode<KhcLanguage>;
/// A token of the lossless tree.
pub type SyntaxToken = rowan::SyntaxToken<KhcLanguage>;
/// A node or a token.
pub type SyntaxElement = rowan::SyntaxElement<KhcLanguage>;
