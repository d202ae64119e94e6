//! The port's SQL (SQLite's dialect) as PostgreSQL reads it: `?N` placeholders
//! become `$N` and SQLite's column types PostgreSQL's, outside string literals,
//! quoted identifiers, dollar-quoted strings and comments.

use neutrino_core::{Error, Result};

/// Most placeholders a PostgreSQL statement can take.
const MAX_PARAMS: u32 = 65_535;

/// A piece of SQL text as the lexer sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    /// An unquoted word: a keyword or an identifier.
    Word(&'a str),
    /// `?N`.
    Placeholder(u32),
    /// `??`: a literal `?`.
    Question,
    /// Whitespace or a comment: kept as is, skipped when looking for the next word.
    Space(&'a str),
    /// Anything else, copied as is: literals, quoted identifiers, punctuation.
    Other(&'a str),
}

fn is_word_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_word_byte(c: u8) -> bool {
    is_word_start(c) || c.is_ascii_digit() || c == b'$'
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::invalid("sql statement", reason)
}

/// The end (exclusive) of a quoted run starting at `start` (on the opening
/// quote `q`), where a doubled quote is an escaped one and, if `backslash`, a
/// backslash escapes the next byte. An unterminated run ends with the text.
fn quoted_end(b: &[u8], start: usize, q: u8, backslash: bool) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
        } else if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// If a dollar quote opens at `start` (`$$` or `$tag$`), the end of the whole
/// dollar-quoted string.
fn dollar_quote_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if i < b.len() && is_word_start(b[i]) {
        while i < b.len() && (is_word_start(b[i]) || b[i].is_ascii_digit()) {
            i += 1;
        }
    }
    if b.get(i) != Some(&b'$') {
        return None;
    }
    let tag = &b[start..=i];
    let body = i + 1;
    Some(
        b[body..]
            .windows(tag.len())
            .position(|w| w == tag)
            .map_or(b.len(), |p| body + p + tag.len()),
    )
}

/// The end of a block comment opening at `start`; PostgreSQL's nest.
fn block_comment_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

fn tokens(sql: &str) -> Result<Vec<Token<'_>>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    // Slices below always start and end on ASCII bytes or the text's ends, so
    // they are on character boundaries.
    let s = |from: usize, to: usize| &sql[from..to];
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            out.push(Token::Space(s(start, i)));
        } else if b[i..].starts_with(b"--") {
            i = b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |p| i + p + 1);
            out.push(Token::Space(s(start, i)));
        } else if b[i..].starts_with(b"/*") {
            i = block_comment_end(b, i);
            out.push(Token::Space(s(start, i)));
        } else if c == b'\'' {
            i = quoted_end(b, i, b'\'', false);
            out.push(Token::Other(s(start, i)));
        } else if c == b'"' {
            i = quoted_end(b, i, b'"', false);
            out.push(Token::Other(s(start, i)));
        } else if (c == b'e' || c == b'E') && b.get(i + 1) == Some(&b'\'') {
            i = quoted_end(b, i + 1, b'\'', true);
            out.push(Token::Other(s(start, i)));
        } else if is_word_start(c) {
            while i < b.len() && is_word_byte(b[i]) {
                i += 1;
            }
            // A word runs to a character boundary: it stops at an ASCII byte.
            while !sql.is_char_boundary(i) {
                i += 1;
            }
            out.push(Token::Word(s(start, i)));
        } else if c == b'$' {
            if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                return Err(invalid(
                    "write placeholders as ?N, not $N: the port's SQL is SQLite's dialect",
                ));
            }
            match dollar_quote_end(b, i) {
                Some(end) => {
                    i = end;
                    out.push(Token::Other(s(start, i)));
                }
                None => {
                    i += 1;
                    out.push(Token::Other(s(start, i)));
                }
            }
        } else if c == b'?' {
            if b.get(i + 1) == Some(&b'?') {
                i += 2;
                out.push(Token::Question);
                continue;
            }
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start + 1 {
                return Err(invalid(
                    "placeholders are numbered (?1, ?2, …); write ?? for a literal ?",
                ));
            }
            let n: u32 = s(start + 1, i)
                .parse()
                .ok()
                .filter(|n| (1..=MAX_PARAMS).contains(n))
                .ok_or_else(|| invalid(format!("placeholders are numbered ?1 to ?{MAX_PARAMS}")))?;
            out.push(Token::Placeholder(n));
        } else {
            // One character (a multi-byte one whole).
            i += 1;
            while !sql.is_char_boundary(i) {
                i += 1;
            }
            out.push(Token::Other(s(start, i)));
        }
    }
    Ok(out)
}

/// The next word after `from`, skipping spaces and comments, with its index.
fn next_word<'a>(toks: &[Token<'a>], from: usize) -> Option<(usize, &'a str)> {
    for (i, t) in toks.iter().enumerate().skip(from) {
        match t {
            Token::Space(_) => continue,
            Token::Word(w) => return Some((i, w)),
            _ => return None,
        }
    }
    None
}

/// `sql` in PostgreSQL's dialect: see the crate's docs.
pub(crate) fn rewrite(sql: &str) -> Result<String> {
    let toks = tokens(sql)?;
    let mut out = String::with_capacity(sql.len() + 8);
    let mut i = 0;
    while i < toks.len() {
        match toks[i] {
            Token::Placeholder(n) => {
                out.push('$');
                out.push_str(&n.to_string());
            }
            Token::Question => out.push('?'),
            Token::Space(t) | Token::Other(t) => out.push_str(t),
            Token::Word(w) => {
                if w.eq_ignore_ascii_case("integer") {
                    let primary = next_word(&toks, i + 1)
                        .filter(|(_, w)| w.eq_ignore_ascii_case("primary"))
                        .and_then(|(p, _)| next_word(&toks, p + 1))
                        .filter(|(_, w)| w.eq_ignore_ascii_case("key"));
                    if let Some((k, _)) = primary {
                        out.push_str("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY");
                        i = k;
                        if let Some((a, _)) = next_word(&toks, k + 1)
                            .filter(|(_, w)| w.eq_ignore_ascii_case("autoincrement"))
                        {
                            i = a;
                        }
                    } else {
                        out.push_str("BIGINT");
                    }
                } else if w.eq_ignore_ascii_case("real") {
                    out.push_str("DOUBLE PRECISION");
                } else if w.eq_ignore_ascii_case("blob") {
                    out.push_str("BYTEA");
                } else if w.eq_ignore_ascii_case("autoincrement") {
                    // Identity columns already never reuse a key.
                } else if w.eq_ignore_ascii_case("without")
                    && let Some((r, _)) =
                        next_word(&toks, i + 1).filter(|(_, w)| w.eq_ignore_ascii_case("rowid"))
                {
                    i = r;
                } else {
                    out.push_str(w);
                }
            }
        }
        i += 1;
    }
    Ok(out)
}

/// Whether `sql` has a `U&"…"` identifier or `U&'…'` string, whose escapes
/// spell names no text check can see.
pub(crate) fn has_unicode_escapes(sql: &str) -> Result<bool> {
    let toks = tokens(sql)?;
    Ok(toks.windows(3).any(|w| {
        matches!(w[0], Token::Word(u) if u.eq_ignore_ascii_case("u"))
            && w[1] == Token::Other("&")
            && matches!(w[2], Token::Other(q) if q.starts_with('"') || q.starts_with('\''))
    }))
}

/// Words of `sql` outside literals, quoted identifiers and comments, and the
/// quoted identifiers (unquoted, lowercase kept as written), for the text
/// checks of guarded calls.
pub(crate) fn words_and_identifiers(sql: &str) -> Result<(Vec<String>, Vec<String>)> {
    let mut words = Vec::new();
    let mut idents = Vec::new();
    for t in tokens(sql)? {
        match t {
            Token::Word(w) => words.push(w.to_ascii_lowercase()),
            Token::Other(o) if o.starts_with('"') => {
                let inner = o.trim_start_matches('"').trim_end_matches('"');
                idents.push(inner.replace("\"\"", "\""));
            }
            _ => {}
        }
    }
    Ok((words, idents))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        let cases = [
            ("SELECT ?1, ?2", "SELECT $1, $2"),
            ("SELECT '?1', \"?2\", ?3", "SELECT '?1', \"?2\", $3"),
            ("SELECT 'it''s ?1' || ?1", "SELECT 'it''s ?1' || $1"),
            ("SELECT E'\\' ?1' , ?2", "SELECT E'\\' ?1' , $2"),
            (
                "SELECT \"a\"\"?1\" FROM t WHERE x = ?1",
                "SELECT \"a\"\"?1\" FROM t WHERE x = $1",
            ),
            (
                "SELECT $$ ?1 $$, $tag$ ' ?2 $$ $tag$, ?3",
                "SELECT $$ ?1 $$, $tag$ ' ?2 $$ $tag$, $3",
            ),
            ("SELECT 1 -- ?1\n, ?2", "SELECT 1 -- ?1\n, $2"),
            (
                "SELECT /* a /* ?1 */ ?2 */ ?3",
                "SELECT /* a /* ?1 */ ?2 */ $3",
            ),
            (
                "SELECT '{\"a\":1}'::jsonb ?? 'a', ?1",
                "SELECT '{\"a\":1}'::jsonb ? 'a', $1",
            ),
            ("SELECT ?12", "SELECT $12"),
            ("SELECT é?1", "SELECT é$1"),
        ];
        for (sql, want) in cases {
            assert_eq!(rewrite(sql).unwrap(), want, "{sql}");
        }
    }

    #[test]
    fn bare_and_dollar_placeholders_are_refused() {
        for sql in [
            "SELECT ?",
            "SELECT ?0",
            "SELECT $1",
            "SELECT ?99999999999",
            "SELECT ?65536",
        ] {
            let e = rewrite(sql).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{sql}: {e:?}");
        }
    }

    #[test]
    fn column_types_map_to_postgres() {
        assert_eq!(
            rewrite(r#"CREATE TABLE "t" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "r" REAL, "b" blob, "n" integer NOT NULL, "s" TEXT) WITHOUT ROWID"#).unwrap(),
            r#"CREATE TABLE "t" ("id" BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "r" DOUBLE PRECISION, "b" BYTEA, "n" BIGINT NOT NULL, "s" TEXT) "#
        );
        assert_eq!(
            rewrite(r#"SELECT CAST(?1 AS INTEGER), 'INTEGER REAL', "blob""#).unwrap(),
            r#"SELECT CAST($1 AS BIGINT), 'INTEGER REAL', "blob""#
        );
    }

    /// A piece of SQL and what it becomes.
    fn piece() -> impl Strategy<Value = (String, String)> {
        let text = "[a-z ?$'\"*/\\-é\n]{0,12}";
        prop_oneof![
            (1u32..=MAX_PARAMS).prop_map(|n| (format!("?{n}"), format!("${n}"))),
            Just(("??".to_owned(), "?".to_owned())),
            "[a-z_][a-z0-9_]{0,8}"
                .prop_filter("not a type word", |w| {
                    !["integer", "real", "blob", "autoincrement", "without", "e"]
                        .contains(&w.as_str())
                })
                .prop_map(|w| (w.clone(), w)),
            text.prop_map(|t| {
                let s = format!("'{}'", t.replace('\'', "''"));
                (s.clone(), s)
            }),
            text.prop_map(|t| {
                let s = format!("E'{}'", t.replace('\\', "\\\\").replace('\'', "\\'"));
                (s.clone(), s)
            }),
            text.prop_map(|t| {
                let s = format!("\"{}\"", t.replace('"', "\"\""));
                (s.clone(), s)
            }),
            ("[a-z]{0,3}", text).prop_filter_map("tag not in body", |(tag, t)| {
                let q = format!("${tag}$");
                (!t.contains('$')).then(|| {
                    let s = format!("{q}{t}{q}");
                    (s.clone(), s)
                })
            }),
            text.prop_filter_map("one line", |t| {
                (!t.contains('\n')).then(|| {
                    let s = format!("-- {t}\n");
                    (s.clone(), s)
                })
            }),
            (text, text).prop_filter_map("no comment marks", |(a, b)| {
                let clean = |x: &str| {
                    !x.contains("/*")
                        && !x.contains("*/")
                        && !x.ends_with('/')
                        && !x.ends_with('*')
                        && !x.starts_with('/')
                        && !x.starts_with('*')
                };
                (clean(&a) && clean(&b)).then(|| {
                    let s = format!("/* {a} /* {b} */ */");
                    (s.clone(), s)
                })
            }),
            "[(),.;=+<>:]".prop_map(|p| (p.clone(), p)),
        ]
    }

    proptest! {
        #[test]
        fn only_placeholders_outside_quotes_change(pieces in proptest::collection::vec(piece(), 0..12)) {
            let sql: Vec<&str> = pieces.iter().map(|(s, _)| s.as_str()).collect();
            let want: Vec<&str> = pieces.iter().map(|(_, w)| w.as_str()).collect();
            prop_assert_eq!(rewrite(&sql.join(" ")).unwrap(), want.join(" "));
        }

        #[test]
        fn any_text_is_rewritten_or_refused_without_panicking(sql in "\\PC{0,64}") {
            let _ = rewrite(&sql);
            let _ = words_and_identifiers(&sql);
            let _ = has_unicode_escapes(&sql);
        }

        #[test]
        fn arbitrary_bytes_as_text_never_panic(sql in "[?$'\"eE/*\\-\\\\ a1é\n]{0,40}") {
            let _ = rewrite(&sql);
        }
    }
}
