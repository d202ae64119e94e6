//! Finds the identifiers a SQL statement names, so that raw SQL touching a
//! tenanted table can be refused.

/// Every identifier (bare or quoted with `"`, `` ` `` or `[]`) in `sql`, ASCII
/// lowercased; string literals and comments are skipped. Keywords come out too:
/// the caller only asks whether a given name is among them, so extra words can
/// make it refuse more, never less.
pub(crate) fn identifiers(sql: &str) -> Vec<String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => i = skip_quoted(b, i, b'\'').1,
            b'"' | b'`' => {
                let (ident, next) = skip_quoted(b, i, b[i]);
                out.push(ident.to_ascii_lowercase());
                i = next;
            }
            b'[' => {
                let end = b[i + 1..]
                    .iter()
                    .position(|&c| c == b']')
                    .map_or(b.len(), |p| i + 1 + p);
                out.push(String::from_utf8_lossy(&b[i + 1..end]).to_ascii_lowercase());
                i = end + 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = b[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(b.len(), |p| i + 2 + p + 2);
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(String::from_utf8_lossy(&b[start..i]).to_ascii_lowercase());
            }
            _ => i += 1,
        }
    }
    out
}

/// Reads a quoted token starting at `start` (doubled quotes escape a quote);
/// returns its content and the index after it.
fn skip_quoted(b: &[u8], start: usize, q: u8) -> (String, usize) {
    let mut content = Vec::new();
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                content.push(q);
                i += 2;
                continue;
            }
            return (String::from_utf8_lossy(&content).into_owned(), i + 1);
        }
        content.push(b[i]);
        i += 1;
    }
    (String::from_utf8_lossy(&content).into_owned(), b.len())
}

#[cfg(test)]
mod tests {
    use super::identifiers;

    #[test]
    fn finds_quoted_and_bare_identifiers_but_not_literals_or_comments() {
        let ids = identifiers(
            r#"SELECT "a""b", [c d], `e` FROM Note -- note_x
               /* hidden */ WHERE x = 'note' AND y = 'it''s'"#,
        );
        assert!(ids.contains(&"a\"b".to_string()));
        assert!(ids.contains(&"c d".to_string()));
        assert!(ids.contains(&"e".to_string()));
        assert!(ids.contains(&"note".to_string()));
        assert!(!ids.contains(&"note_x".to_string()));
        assert!(!ids.contains(&"hidden".to_string()));
        assert_eq!(
            ids.iter().filter(|i| *i == "note").count(),
            1,
            "the literal 'note' is skipped"
        );
    }

    #[test]
    fn never_panics_on_unterminated_input() {
        for s in ["\"abc", "'abc", "[abc", "/* abc", "-- abc", "é\"", ""] {
            let _ = identifiers(s);
        }
    }
}
