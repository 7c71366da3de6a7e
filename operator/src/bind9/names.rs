//! Domain-name validation and master-file escaping shared by the generators and the clients.
//!
//! Hand-written on purpose: hickory's `Name` parser accepts any byte in a label, while Bindy
//! only lets host-name-like labels (letters, digits, `-`, `_`, a leading `*` label) into a
//! zone, so a bad CR is rejected with a clear message before BIND sees it. Character-string
//! escaping follows RFC 1035 §5.1 exactly as BIND prints it (`\"`, `\\`, `\DDD`).

use crate::error::{Error, Result};
use bindy_crds::model::{absolute, owner_fqdn};

/// Maximum bytes in one character-string (RFC 1035 §3.3).
pub const MAX_CHAR_STRING: usize = 255;

/// Validates an absolute or relative name against `zone` and returns it absolute and
/// lower-cased. `"@"` is the apex.
pub fn fqdn_in(name: &str, zone: &str) -> Result<String> {
    let fqdn = owner_fqdn(name, zone);
    check_name(&fqdn)?;
    Ok(fqdn)
}

/// Validates a name used inside rdata (CNAME/NS/MX/SRV targets): absolute is assumed when it
/// has no trailing dot, as the shared record model documents.
pub fn target(name: &str) -> Result<String> {
    let fqdn = absolute(name).to_ascii_lowercase();
    if fqdn == "." {
        return Ok(fqdn);
    }
    check_name(&fqdn)?;
    Ok(fqdn)
}

/// Checks label syntax and lengths of an absolute name (RFC 1035 §2.3.4: labels ≤ 63 octets,
/// names ≤ 255 octets on the wire).
pub fn check_name(fqdn: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::InvalidInput(format!(
            "bad domain name {fqdn:?}: {why}"
        )))
    };
    if fqdn == "." {
        return Ok(());
    }
    let Some(body) = fqdn.strip_suffix('.') else {
        return bad("not absolute");
    };
    // Wire length: one length octet per label plus the label, plus the root octet.
    if body.len() + 2 > 255 {
        return bad("longer than 255 octets");
    }
    for (i, label) in body.split('.').enumerate() {
        if label.is_empty() {
            return bad("empty label");
        }
        if label.len() > 63 {
            return bad("label longer than 63 octets");
        }
        if label == "*" {
            if i != 0 {
                return bad("wildcard '*' only allowed as the leftmost label");
            }
            continue;
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return bad("labels may hold only letters, digits, '-' and '_' (use punycode for IDN)");
        }
    }
    Ok(())
}

/// SOA RNAME from an e-mail address: `john.doe@example.com` → `john\.doe.example.com.`
/// (a dot in the local part is escaped, RFC 1035 §8). A value without `@` is taken as a name.
pub fn rname(email: &str) -> Result<String> {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) => {
            if local.is_empty()
                || local.len() > 63
                || !local
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
            {
                return Err(Error::InvalidInput(format!(
                    "bad admin e-mail {email:?}: local part must be 1-63 of [A-Za-z0-9-_.+]"
                )));
            }
            let domain = target(domain)?;
            Ok(format!("{}.{domain}", local.replace('.', "\\.")))
        }
        None => target(email),
    }
}

/// Presentation form of one character-string: quoted, with `"` and `\` escaped and bytes
/// outside printable ASCII written as `\DDD` (RFC 1035 §5.1).
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// Splits one user string into character-strings of at most 255 bytes (RFC 1035 §3.3.14).
/// An empty string stays one empty character-string.
pub fn split_txt(s: &str) -> Vec<&[u8]> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return vec![bytes];
    }
    bytes.chunks(MAX_CHAR_STRING).collect()
}

/// Checks a CAA tag (RFC 8659 §4.1.1: 1-15 ASCII letters and digits).
pub fn check_caa_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.len() > 15 || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::InvalidInput(format!(
            "bad CAA tag {tag:?}: 1-15 ASCII letters or digits"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_and_normalised() {
        assert_eq!(fqdn_in("WWW", "Example.com").unwrap(), "www.example.com.");
        assert_eq!(fqdn_in("@", "example.com.").unwrap(), "example.com.");
        assert_eq!(
            fqdn_in("*.app", "example.com").unwrap(),
            "*.app.example.com."
        );
        assert!(fqdn_in("a..b", "example.com").is_err());
        assert!(fqdn_in("a.*", "example.com").is_err());
        assert!(fqdn_in("sp ace", "example.com").is_err());
        assert!(fqdn_in(&"x".repeat(64), "example.com").is_err());
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(fqdn_in(&long, "example.com").is_err());
        assert_eq!(target("mail.example.net").unwrap(), "mail.example.net.");
    }

    #[test]
    fn rname_escapes_dots_in_the_local_part() {
        assert_eq!(
            rname("john.doe@Example.com").unwrap(),
            "john\\.doe.example.com."
        );
        assert_eq!(
            rname("hostmaster.example.com.").unwrap(),
            "hostmaster.example.com."
        );
        assert!(rname("a b@example.com").is_err());
    }

    #[test]
    fn quoting_escapes_quotes_backslashes_and_binary() {
        assert_eq!(quote(br#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("é;\n".as_bytes()), "\"\\195\\169;\\010\"");
    }

    #[test]
    fn long_txt_is_split_at_255_bytes() {
        let s = "x".repeat(600);
        let parts = split_txt(&s);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(split_txt(""), vec![b"" as &[u8]]);
    }
}
