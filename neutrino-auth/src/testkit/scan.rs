//! Finds the public operations of the auth and tenancy crates that take a
//! tenant, a record of one or an ID, by reading their sources, so that the
//! cross-tenant matrix ([`super::matrix`]) cannot silently miss one.

use std::collections::{BTreeMap, BTreeSet};

/// Parameter types that name a tenant, a member's scope, a user or a record.
const TAKING_TYPES: &[&str] = &[
    "TenantId",
    "TenantScope",
    "MemberScope",
    "UserId",
    "TwoFactorChallenge",
    "TenantTable",
];

/// Parameter names that carry a tenant's, a user's or a record's ID, or a
/// credential of one (unless typed as a platform's or a stack's ID).
const TAKING_NAMES: &[&str] = &[
    "org",
    "tenant",
    "parent",
    "id",
    "user",
    "user_id",
    "member_id",
    "invitation_id",
    "invitation_token",
    "token",
    "current_token",
    "key",
    "host",
    "scope",
    "cookie",
    "cookie_header",
    "challenge",
];

/// One source file: its path relative to its crate's root and its text.
#[derive(Clone, Debug)]
pub struct Source {
    /// The crate's name, e.g. `neutrino-auth`.
    pub krate: String,
    /// The path, e.g. `src/org.rs`.
    pub path: String,
    /// The file's text.
    pub text: String,
}

/// The public operations among `sources` that take a tenant, a record of one,
/// a user, an ID or a credential: `Type::method` → its parameter list.
///
/// A type counts as public when it is declared `pub` in a `pub mod` or named
/// in a `pub use` anywhere in its crate; `testkit` folders are skipped. The
/// whole `src` folder is read, so operations moved between files or types
/// are still found.
pub fn tenant_taking_operations(sources: &[Source]) -> BTreeMap<String, String> {
    scan(sources)
        .into_iter()
        .filter(|(_, (_, taking))| *taking)
        .map(|(op, (params, _))| (op, params))
        .collect()
}

/// Every public operation among `sources`, `Type::method` (or
/// `crate_name::function` for a free function).
pub fn public_operations(sources: &[Source]) -> BTreeSet<String> {
    scan(sources).into_keys().collect()
}

/// Every public operation: its parameters and whether it takes a tenant.
fn scan(sources: &[Source]) -> BTreeMap<String, (String, bool)> {
    let mut public_types = BTreeSet::new();
    for lib in sources.iter().filter(|s| s.path == "src/lib.rs") {
        let mut pub_mods = BTreeSet::new();
        for line in lib.text.lines() {
            if let Some(m) = line.trim().strip_prefix("pub mod ") {
                pub_mods.insert(m.trim_end_matches(';').trim().to_owned());
            }
        }
        // Names re-exported anywhere in the crate (`pub use`, in `lib.rs` or
        // in a public module that re-exports a private one's types).
        for s in sources
            .iter()
            .filter(|s| s.krate == lib.krate && !s.path.contains("/testkit"))
        {
            let mut in_use = false;
            for line in s.text.lines() {
                let t = line.trim();
                if t.starts_with("pub use ") {
                    in_use = true;
                }
                if in_use {
                    for word in t.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                        if word.starts_with(|c: char| c.is_ascii_uppercase()) {
                            public_types.insert((lib.krate.clone(), word.to_owned()));
                        }
                    }
                    if t.ends_with(';') {
                        in_use = false;
                    }
                }
            }
        }
        for s in sources.iter().filter(|s| s.krate == lib.krate) {
            let module = s
                .path
                .trim_start_matches("src/")
                .trim_end_matches(".rs")
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            if !pub_mods.contains(&module) {
                continue;
            }
            for line in s.text.lines() {
                for kw in ["pub struct ", "pub enum ", "pub trait "] {
                    if let Some(rest) = line.strip_prefix(kw) {
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        public_types.insert((s.krate.clone(), name));
                    }
                }
            }
        }
    }

    let mut out = BTreeMap::new();
    for s in sources {
        if s.path.contains("/testkit") {
            continue;
        }
        let mut current: Option<String> = None;
        let lines: Vec<&str> = s.text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            if line.starts_with("impl") && line.trim_end().ends_with('{') {
                current = impl_type(line);
            } else if line.starts_with('}') {
                current = None;
            }
            // Inside an `impl`, at any depth: methods written by a macro
            // (`delegate! { component => { pub async fn …; } }`) count too.
            let body = if current.is_some() {
                line.starts_with("    ").then(|| line.trim_start())
            } else {
                Some(line)
            };
            let fn_line = body.and_then(|l| {
                l.strip_prefix("pub async fn ")
                    .or_else(|| l.strip_prefix("pub fn "))
            });
            if let Some(rest) = fn_line {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // The signature, up to the body or the end of a declaration.
                let mut sig = String::new();
                let mut j = i;
                while j < lines.len() {
                    sig.push_str(lines[j].trim());
                    sig.push(' ');
                    if lines[j].trim_end().ends_with('{') || lines[j].trim_end().ends_with(';') {
                        break;
                    }
                    j += 1;
                }
                let public = match &current {
                    Some(t) => public_types.contains(&(s.krate.clone(), t.clone())),
                    None => true,
                };
                let params = params_of(&sig);
                if public {
                    let key = match &current {
                        Some(t) => format!("{t}::{name}"),
                        None => format!("{}::{name}", s.krate.replace('-', "_")),
                    };
                    let taking = takes_a_tenant(&params);
                    out.insert(key, (params, taking));
                }
            }
            i += 1;
        }
    }
    out
}

/// The type of an inherent `impl` line; `None` for a trait's impl.
fn impl_type(line: &str) -> Option<String> {
    let rest = line.strip_prefix("impl")?;
    if rest.contains(" for ") {
        return None;
    }
    // Skip the generics of `impl<…>`.
    let rest = if let Some(r) = rest.strip_prefix('<') {
        let mut depth = 1;
        let mut end = 0;
        for (k, c) in r.char_indices() {
            match c {
                '<' => depth += 1,
                '>' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        &r[end..]
    } else {
        rest
    };
    let name: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The parameter list of a signature, without `self`.
fn params_of(sig: &str) -> String {
    let Some(open) = sig.find('(') else {
        return String::new();
    };
    let mut depth = 0;
    let mut end = sig.len();
    let mut prev = ' ';
    for (k, c) in sig[open..].char_indices() {
        let arrow = prev == '-';
        prev = c;
        match c {
            '(' | '<' | '[' => depth += 1,
            '>' if arrow => {}
            ')' | '>' | ']' => {
                depth -= 1;
                if depth == 0 {
                    end = open + k;
                    break;
                }
            }
            _ => {}
        }
    }
    sig[open + 1..end]
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.ends_with("self"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn takes_a_tenant(params: &str) -> bool {
    params.split(", ").any(|p| {
        let Some((name, ty)) = p.split_once(':') else {
            return false;
        };
        let name = name.trim().trim_start_matches("mut ");
        // A platform's or a stack's ID names no tenant.
        let platform_level = ["PlatformId", "StackId"].contains(&ty.trim());
        (TAKING_NAMES.contains(&name) && !platform_level)
            || ty
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|w| TAKING_TYPES.contains(&w))
    })
}
