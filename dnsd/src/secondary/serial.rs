//! RFC 1982 serial number arithmetic for SOA serials (SERIAL_BITS = 32).
//!
//! Hand-written: it is three lines, and the one crate for it would cost more to review.

use std::cmp::Ordering;

/// Compare two serials per RFC 1982 §3.2. `None` when the comparison is undefined (the two
/// are exactly 2^31 apart): callers treat that as "not newer", as BIND does.
pub fn compare(a: u32, b: u32) -> Option<Ordering> {
    if a == b {
        return Some(Ordering::Equal);
    }
    let d = b.wrapping_sub(a);
    match d {
        0x8000_0000 => None,
        d if d < 0x8000_0000 => Some(Ordering::Less),
        _ => Some(Ordering::Greater),
    }
}

/// Is `a` newer than `b`?
pub fn gt(a: u32, b: u32) -> bool {
    compare(a, b) == Some(Ordering::Greater)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1982_examples() {
        assert!(gt(1, 0));
        assert!(gt(0, u32::MAX), "wrap-around: 0 follows 4294967295");
        assert!(gt(5, 0xFFFF_FFF0));
        assert!(!gt(0xFFFF_FFF0, 5));
        assert!(!gt(7, 7));
        assert_eq!(compare(0, 0x8000_0000), None);
        assert!(!gt(0x8000_0000, 0));
        assert!(gt(0x7FFF_FFFF, 0));
        assert_eq!(compare(100, 200), Some(Ordering::Less));
    }
}
