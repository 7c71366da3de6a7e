//! Object-name and label validation, as the real API server applies it to every write:
//! names are RFC 1123 subdomains (Namespaces: RFC 1123 labels; Services: RFC 1035 labels),
//! label keys are `[prefix/]name` and label values at most 63 characters of `[A-Za-z0-9-_.]`
//! starting and ending with an alphanumeric. Operators that derive names from zone names
//! (dots, upper case, length) hit these limits in real clusters, so the double enforces them.

use serde_json::Value;

use crate::error::FieldError;

fn alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// RFC 1123 label: at most 63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

/// RFC 1123 subdomain: at most 253, dot-separated RFC 1123 labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// RFC 1035 label: an RFC 1123 label starting with a letter.
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

fn is_label_key(k: &str) -> bool {
    match k.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_name(name),
        None => is_label_name(k),
    }
}

fn is_label_value(v: &str) -> bool {
    v.is_empty() || is_label_name(v)
}

/// Check an object's name (by resource) and labels.
pub fn check(group: &str, plural: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (ok, what) = match (group, plural) {
        ("", "namespaces") => (is_dns1123_label(name), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"),
        ("", "services") => (is_dns1035_label(name), "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"),
        _ => (is_dns1123_subdomain(name), "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"),
    };
    if !ok {
        errs.push(FieldError {
            field: "metadata.name".into(),
            reason: "FieldValueInvalid",
            detail: format!("Invalid value: \"{name}\": {what}"),
        });
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if !is_label_key(k) {
                errs.push(FieldError {
                    field: "metadata.labels".into(),
                    reason: "FieldValueInvalid",
                    detail: format!("Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"),
                });
            }
            let v = v.as_str().unwrap_or("\u{0}");
            if !is_label_value(v) {
                errs.push(FieldError {
                    field: "metadata.labels".into(),
                    reason: "FieldValueInvalid",
                    detail: format!("Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (at most 63 characters)"),
                });
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_labels() {
        assert!(is_dns1123_subdomain("example.com"));
        assert!(!is_dns1123_subdomain("Example.com"));
        assert!(!is_dns1123_subdomain("a_b"));
        assert!(is_dns1035_label("dns-primary"));
        assert!(!is_dns1035_label("example.com"));
        assert!(!is_dns1035_label("1abc"));
        assert!(check(
            "",
            "configmaps",
            &json!({"metadata": {"name": "example.com"}})
        )
        .is_empty());
        assert_eq!(
            check(
                "",
                "services",
                &json!({"metadata": {"name": "example.com"}})
            )[0]
            .field,
            "metadata.name"
        );
        let long = "x".repeat(64);
        let e = check(
            "apps",
            "statefulsets",
            &json!({"metadata": {"name": "a", "labels": {"bindy.firestoned.io/zone": long, "ok": "example.com"}}}),
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(!check(
            "",
            "pods",
            &json!({"metadata": {"name": "a", "labels": {"a/b/c": "x"}}})
        )
        .is_empty());
    }
}
