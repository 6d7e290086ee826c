//! Characters around the places where byte order and UTF-16 order part
//! (U+E000 and above the BMP), and ASCII: shared by the value unit tests
//! (`value::order`, maps, records) and the property tests.

use proptest::prelude::*;

/// A character near an edge of the UTF-16/byte order difference.
pub fn arb_edge_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('a', 'd'),
        prop::char::range('\u{7f}', '\u{81}'),
        prop::char::range('\u{d7fe}', '\u{d7ff}'),
        prop::char::range('\u{e000}', '\u{e001}'),
        prop::char::range('\u{fffe}', '\u{ffff}'),
        prop::char::range('\u{10000}', '\u{10001}'),
        prop::char::range('\u{10fffe}', '\u{10ffff}'),
    ]
}
