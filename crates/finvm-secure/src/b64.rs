//! Base64 as the reference's `Crypto/base64.js` does it (HOST.md §8.2).
//!
//! Encoding: standard alphabet, `=` padding, no line breaks. Decoding is
//! lenient like the reference's: every character outside `[A-Za-z0-9+/=]` is
//! deleted first (so URL-safe `-`/`_` silently vanish), `=` counts as zero
//! bits, and the output length is `floor(len * 3 / 4)` minus the number of
//! trailing `=` (at most 2). Decoding therefore never fails; a mangled field
//! simply yields bytes that will not authenticate.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64 of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        b'=' => 0,
        _ => return None,
    } as u32)
}

/// Lenient base64 decoding (see the module documentation); never fails.
pub fn decode(text: &str) -> Vec<u8> {
    let clean: Vec<u8> = text.bytes().filter(|&c| sextet(c).is_some()).collect();
    let pad = clean
        .iter()
        .rev()
        .take(2)
        .take_while(|&&c| c == b'=')
        .count();
    let len = (clean.len() * 3 / 4).saturating_sub(pad);
    let mut out = Vec::with_capacity(len + 2);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in &clean {
        acc = (acc << 6) | sextet(c).unwrap_or(0);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for n in 0..40u8 {
            let bytes: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37).wrapping_add(5)).collect();
            assert_eq!(decode(&encode(&bytes)), bytes);
        }
        assert_eq!(
            encode(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
            "AAECAwQFBgcICQoL"
        );
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
    }

    #[test]
    fn lenient_like_the_reference() {
        assert_eq!(decode("Zm8=\n"), b"fo");
        assert_eq!(decode(" Z-m_8 = "), b"fo");
        assert_eq!(decode(""), b"");
        // Three characters: floor(9 / 4) = 2 bytes.
        assert_eq!(decode("Zm8"), b"fo");
    }
}
