//! Domain names in wire format.
//!
//! dnsd keeps names as uncompressed wire bytes (`3www7example3com0`). Lookup keys are the same
//! bytes lower-cased: every ancestor of a name is then a sub-slice of it (starting at a label
//! boundary), so walking up the tree costs no allocation and no copy. hickory's `Name` keeps
//! labels in a `TinyVec` with separate case handling, which would cost an allocation or a
//! conversion per lookup on the hot path.

/// Longest wire name (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// Longest label.
pub const MAX_LABEL: usize = 63;

/// The root name in wire format.
pub const ROOT: &[u8] = &[0];

/// A name read from a packet into a fixed buffer (no allocation).
#[derive(Clone)]
pub struct NameBuf {
    /// Wire bytes as received (case preserved), `len` valid bytes.
    pub wire: [u8; MAX_NAME],
    /// Lower-cased copy.
    pub lower: [u8; MAX_NAME],
    /// Valid bytes.
    pub len: usize,
    /// Offsets of label starts, `labels[0] == 0`; the root is not listed.
    pub labels: [u8; 128],
    /// Number of labels (without the root).
    pub nlabels: usize,
}

impl Default for NameBuf {
    fn default() -> Self {
        Self {
            wire: [0; MAX_NAME],
            lower: [0; MAX_NAME],
            len: 0,
            labels: [0; 128],
            nlabels: 0,
        }
    }
}

impl NameBuf {
    /// Lower-cased wire bytes.
    pub fn key(&self) -> &[u8] {
        &self.lower[..self.len]
    }
    /// Wire bytes, original case.
    pub fn wire(&self) -> &[u8] {
        &self.wire[..self.len]
    }
    /// Suffix starting at label `i` (0 = whole name, `nlabels` = root), lower-cased.
    pub fn suffix_key(&self, i: usize) -> &[u8] {
        let start = if i >= self.nlabels {
            self.len - 1
        } else {
            self.labels[i] as usize
        };
        &self.lower[start..self.len]
    }
    /// Byte offset of label `i` in the name.
    pub fn label_offset(&self, i: usize) -> usize {
        if i >= self.nlabels {
            self.len - 1
        } else {
            self.labels[i] as usize
        }
    }

    /// Fill from uncompressed wire bytes (e.g. a CNAME target from zone data).
    /// Returns false if `wire` is not a valid name.
    pub fn set(&mut self, wire: &[u8]) -> bool {
        let mut pos = 0;
        self.nlabels = 0;
        loop {
            let Some(&l) = wire.get(pos) else {
                return false;
            };
            let l = l as usize;
            if l == 0 {
                break;
            }
            if l > MAX_LABEL || pos + 1 + l >= wire.len() || self.nlabels >= 127 {
                return false;
            }
            self.labels[self.nlabels] = pos as u8;
            self.nlabels += 1;
            pos += 1 + l;
        }
        let len = pos + 1;
        if len > MAX_NAME {
            return false;
        }
        self.wire[..len].copy_from_slice(&wire[..len]);
        for i in 0..len {
            self.lower[i] = self.wire[i].to_ascii_lowercase();
        }
        self.len = len;
        true
    }

    /// Read a (possibly compressed) name from `msg` at `pos`. Returns the position after the
    /// name in the message, or None when the name is malformed (bad pointer, loop, too long).
    pub fn read(&mut self, msg: &[u8], mut pos: usize) -> Option<usize> {
        let mut out = 0usize;
        let mut end = None;
        let mut jumps = 0;
        self.nlabels = 0;
        loop {
            let l = *msg.get(pos)? as usize;
            match l & 0xC0 {
                0x00 => {
                    if l == 0 {
                        self.wire[out] = 0;
                        self.lower[out] = 0;
                        out += 1;
                        self.len = out;
                        return Some(end.unwrap_or(pos + 1));
                    }
                    if out + 1 + l + 1 > MAX_NAME || self.nlabels >= 127 {
                        return None;
                    }
                    let label = msg.get(pos + 1..pos + 1 + l)?;
                    self.labels[self.nlabels] = out as u8;
                    self.nlabels += 1;
                    self.wire[out] = l as u8;
                    self.lower[out] = l as u8;
                    for (k, &b) in label.iter().enumerate() {
                        self.wire[out + 1 + k] = b;
                        self.lower[out + 1 + k] = b.to_ascii_lowercase();
                    }
                    out += 1 + l;
                    pos += 1 + l;
                }
                0xC0 => {
                    let lo = *msg.get(pos + 1)? as usize;
                    let target = ((l & 0x3F) << 8) | lo;
                    if end.is_none() {
                        end = Some(pos + 2);
                    }
                    jumps += 1;
                    // A pointer must point backwards; bounded jumps stop loops.
                    if target >= pos || jumps > 64 {
                        return None;
                    }
                    pos = target;
                }
                _ => return None,
            }
        }
    }
}

/// Lower-case a wire name (labels' length bytes are < 64 so they are unaffected).
pub fn lower(wire: &[u8]) -> Box<[u8]> {
    wire.iter().map(|b| b.to_ascii_lowercase()).collect()
}

/// Length of the uncompressed wire name at the start of `wire`, if valid.
pub fn wire_len(wire: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let l = *wire.get(pos)? as usize;
        if l == 0 {
            return Some(pos + 1);
        }
        if l > MAX_LABEL {
            return None;
        }
        pos += 1 + l;
        if pos >= MAX_NAME {
            return None;
        }
    }
}

/// Number of labels of a wire name (root = 0).
pub fn label_count(wire: &[u8]) -> usize {
    let mut pos = 0;
    let mut n = 0;
    while let Some(&l) = wire.get(pos) {
        if l == 0 {
            break;
        }
        n += 1;
        pos += 1 + l as usize;
    }
    n
}

/// Is `name` equal to or below `ancestor`? (both lower-cased wire names)
pub fn is_subdomain(name: &[u8], ancestor: &[u8]) -> bool {
    if ancestor.len() > name.len() {
        return false;
    }
    // The suffix must start at a label boundary.
    let mut pos = 0;
    loop {
        if name.len() - pos == ancestor.len() {
            return name[pos..] == *ancestor;
        }
        if name.len() - pos < ancestor.len() {
            return false;
        }
        let l = name[pos] as usize;
        if l == 0 {
            return false;
        }
        pos += 1 + l;
    }
}

/// Parse a presentation-format name (RFC 1035 §5.1: `\.` and `\DDD` escapes). A name not
/// ending in `.` is relative to `origin` (a wire name). `@` means the origin.
pub fn from_text(text: &str, origin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    if text == "@" {
        return origin
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "'@' used but no origin is known".to_string());
    }
    if text == "." {
        return Ok(ROOT.to_vec());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(text.len() + 2);
    let mut label: Vec<u8> = Vec::with_capacity(63);
    let mut absolute = false;
    let mut i = 0;
    let flush = |label: &mut Vec<u8>, out: &mut Vec<u8>| -> Result<(), String> {
        if label.is_empty() {
            return Err(format!("empty label in name '{text}'"));
        }
        if label.len() > MAX_LABEL {
            return Err(format!("label longer than 63 bytes in name '{text}'"));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label);
        label.clear();
        Ok(())
    };
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'.' => {
                flush(&mut label, &mut out)?;
                if i == bytes.len() - 1 {
                    absolute = true;
                }
                i += 1;
            }
            b'\\' => {
                let d = bytes.get(i + 1..i + 4);
                if let Some(d) = d.filter(|d| d.iter().all(u8::is_ascii_digit)) {
                    let v = (d[0] - b'0') as u32 * 100
                        + (d[1] - b'0') as u32 * 10
                        + (d[2] - b'0') as u32;
                    if v > 255 {
                        return Err(format!("bad escape in name '{text}'"));
                    }
                    label.push(v as u8);
                    i += 4;
                } else if let Some(&n) = bytes.get(i + 1) {
                    label.push(n);
                    i += 2;
                } else {
                    return Err(format!("trailing backslash in name '{text}'"));
                }
            }
            _ => {
                label.push(c);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        flush(&mut label, &mut out)?;
    }
    if absolute {
        out.push(0);
    } else {
        let origin =
            origin.ok_or_else(|| format!("relative name '{text}' but no origin is known"))?;
        out.extend_from_slice(origin);
    }
    if out.len() > MAX_NAME {
        return Err(format!("name '{text}' longer than 255 bytes"));
    }
    Ok(out)
}

/// Presentation format of a wire name (for logs and errors).
pub fn to_text(wire: &[u8]) -> String {
    let mut s = String::new();
    let mut pos = 0;
    while let Some(&l) = wire.get(pos) {
        if l == 0 {
            break;
        }
        let Some(label) = wire.get(pos + 1..pos + 1 + l as usize) else {
            break;
        };
        for &b in label {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    s.push('\\');
                    s.push(b as char);
                }
                0x21..=0x7e => s.push(b as char),
                _ => s.push_str(&format!("\\{b:03}")),
            }
        }
        s.push('.');
        pos += 1 + l as usize;
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_escapes() {
        let origin = from_text("example.com.", None).unwrap();
        assert_eq!(
            from_text("www", Some(&origin)).unwrap(),
            b"\x03www\x07example\x03com\x00"
        );
        assert_eq!(from_text("a\\.b.", None).unwrap(), b"\x03a.b\x00");
        assert_eq!(from_text("\\065.", None).unwrap(), b"\x01A\x00");
        assert_eq!(to_text(b"\x03a.b\x00"), "a\\.b.");
        assert!(from_text("a..b.", None).is_err());
        assert!(from_text(&"a".repeat(64), Some(&origin)).is_err());
    }

    #[test]
    fn read_compressed_and_reject_loops() {
        // header(12) + name at 12, pointer at 25 to 12+4 ("example.com")
        let mut msg = vec![0u8; 12];
        msg.extend_from_slice(b"\x03www\x07example\x03com\x00");
        let p = msg.len();
        msg.extend_from_slice(&[0xC0, 16]);
        let mut n = NameBuf::default();
        assert_eq!(n.read(&msg, p), Some(p + 2));
        assert_eq!(n.wire(), b"\x07example\x03com\x00");
        assert_eq!(n.nlabels, 2);
        let looped = [0u8, 0, 0xC0, 2];
        assert_eq!(n.read(&looped, 2), None);
    }

    #[test]
    fn subdomain() {
        assert!(is_subdomain(b"\x01a\x01b\x00", b"\x01b\x00"));
        assert!(is_subdomain(b"\x01b\x00", b"\x01b\x00"));
        assert!(!is_subdomain(b"\x02ab\x00", b"\x01b\x00"));
        assert!(is_subdomain(b"\x01b\x00", b"\x00"));
    }
}
