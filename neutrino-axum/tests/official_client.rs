//! The official Better Auth client, end to end, against the Rust server and
//! against Better Auth's own server: a differential test.
//!
//! `tests/client/client.mjs` drives one server with Better Auth 1.7.25's
//! `createAuthClient` (organization, two-factor, admin and API-key client
//! plugins) over real HTTP on loopback and prints a transcript: each step's
//! status, error code, normalized body and cookies. This test runs it against
//! `tests/client/reference-server.mjs` (Better Auth itself on better-sqlite3)
//! and against this crate's router serving a platform on the embedded
//! default, in process, and compares the transcripts step by step.
//!
//! The flow has sections (core, organization, two-factor, api-key, admin),
//! each with its own users. A step the Rust server does not have yet (a 404
//! with an empty body, Better Auth's answer for a route it does not know) and
//! the rest of its section, whose state depends on it, are listed, not
//! compared. Every other step must match, or be in [`KNOWN_DIFFERENCES`] with
//! its reason.
//!
//! Needs Node.js 20+ and the packages `scripts/setup-node-tests` installs;
//! without them this test fails and says what is missing.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

#[path = "common/reference.rs"]
mod reference;
#[path = "common/server.rs"]
mod server;

use reference::{client_dir, start_reference};

/// A difference from Better Auth that is known and accepted: in `step` (or
/// in every step, `"*"`), at the JSON `path` of the observed result
/// (`.status`, `.code`, `.body…`, `.cookies`; array indices written `[]`),
/// exactly `what` (`Better Auth <value>, Rust <value>`, either side may be
/// `: absent`), and why. For one named step, `path` and `what` both `"*"`
/// accept every line of it (an answer that differs as a whole).
#[derive(Clone, Copy, Debug)]
struct Known {
    step: &'static str,
    path: &'static str,
    what: &'static str,
    reason: &'static str,
}

const fn known(
    step: &'static str,
    path: &'static str,
    what: &'static str,
    reason: &'static str,
) -> Known {
    Known {
        step,
        path,
        what,
        reason,
    }
}

const PEER_ADDRESS: &str = "Better Auth records the address of an x-forwarded-for header only \
     (\"\" without one); the Rust server records the connection's peer address";
const NO_ROTATION: &str = "deliberate (quirk b): verify-totp while enabling two-factor keeps \
     the session where Better Auth replaces it (a new session_token cookie), and answers the \
     user as it now is where Better Auth answers it as it was before (twoFactorEnabled false)";

const NO_SESSION_TOKENS_LISTED: &str = "changed: admin list-user-sessions leaves out the \
     sessions' tokens (bearer credentials: another admin's would let an admin act as them \
     without impersonation's checks and audit); revoke-user-session takes a session's ID too";

/// The differences known and accepted. Printed on every run; an entry that
/// no longer matches any difference fails the test, so the table stays true.
const KNOWN_DIFFERENCES: &[Known] = &[
    known(
        "*",
        ".body.session.ipAddress",
        r#"Better Auth "", Rust "<ipAddress>""#,
        PEER_ADDRESS,
    ),
    known(
        "two-factor: two-factor verify-totp (enabling)",
        ".cookies",
        r#"Better Auth ["better-auth.session_token=set"], Rust []"#,
        NO_ROTATION,
    ),
    known(
        "two-factor: two-factor verify-totp (enabling)",
        ".body.user.twoFactorEnabled",
        "Better Auth false, Rust true",
        NO_ROTATION,
    ),
    known(
        "two-factor: get-session with two-factor enabled",
        ".body.session.token",
        r#"Better Auth "<token:two-factor: get-session with two-factor enabled#1>", Rust "<token:two-factor: sign-up#1>""#,
        NO_ROTATION,
    ),
    known(
        "admin: admin list-user-sessions",
        ".body.sessions[].ipAddress",
        r#"Better Auth "", Rust "<ipAddress>""#,
        PEER_ADDRESS,
    ),
    known(
        "admin: admin list-user-sessions",
        ".body.sessions[].token",
        r#"Better Auth "<token:admin: sign-in with the password the admin set#1>", Rust: absent"#,
        NO_SESSION_TOKENS_LISTED,
    ),
];

/// The steps the comparison must always cover.
const CORE_STEPS: &[&str] = &[
    "core: sign-up",
    "core: sign-in",
    "core: get-session",
    "core: sign-out",
];

/// Fails, saying what to install, without Node or the client's packages.
fn require_node() {
    if let Some(why) = reference::node_missing() {
        panic!("the official-client test cannot run Better Auth: {why}");
    }
}

/// Runs the official client's flow against `base_url`; returns its transcript.
async fn run_client(base_url: String, admin: String) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("node")
            .current_dir(client_dir())
            .arg("client.mjs")
            .arg(&base_url)
            .arg(&admin)
            .stdin(Stdio::null())
            .output()
            .expect("run node client.mjs");
        assert!(
            out.status.success(),
            "client.mjs {base_url} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "client.mjs printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        doc["steps"].as_array().expect("a steps array").clone()
    })
    .await
    .expect("the client run")
}

/// One place where two normalized values differ.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    /// The JSON path, array indices written `[]`.
    path: String,
    /// What each side has there: `Better Auth <value>, Rust <value>`.
    what: String,
    /// The line to print: the path with its indices, and `what`.
    text: String,
}

/// Where two normalized values differ, one line per JSON path.
fn diff(path: &str, pattern: &str, reference: &Value, rust: &Value, out: &mut Vec<Line>) {
    let line = |path: &str, pattern: &str, what: String| Line {
        path: pattern.to_owned(),
        text: format!("{path}: {what}"),
        what,
    };
    match (reference, rust) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let (p, q) = (format!("{path}.{k}"), format!("{pattern}.{k}"));
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(&p, &q, x, y, out),
                    (Some(x), None) => {
                        out.push(line(&p, &q, format!("Better Auth {x}, Rust: absent")))
                    }
                    (None, Some(y)) => {
                        out.push(line(&p, &q, format!("Better Auth: absent, Rust {y}")))
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{i}]"), &format!("{pattern}[]"), x, y, out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(line(path, pattern, format!("Better Auth {a}, Rust {b}"))),
    }
}

/// What a step is in one server's transcript.
fn unsupported(step: &Value) -> bool {
    step["unsupported"] == Value::Bool(true)
}

fn skipped(step: &Value) -> bool {
    step.get("skipped").is_some()
}

/// The observable result of a step: what is compared.
fn observed(step: &Value) -> Value {
    serde_json::json!({
        "status": step["status"],
        "code": step["code"],
        "body": step["body"],
        "cookies": step["cookies"],
        "exception": step.get("exception"),
    })
}

/// The outcome of comparing two transcripts.
#[derive(Debug, Default)]
struct Comparison {
    /// Steps compared.
    compared: Vec<String>,
    /// Steps the Rust server does not have.
    unsupported: Vec<String>,
    /// Steps after one of those in their section, or that needed its answer.
    skipped: Vec<String>,
    /// Steps that differ outside the known table, with those lines.
    differences: Vec<(String, Vec<String>)>,
    /// Known differences seen: the step, the line and its reason.
    known: Vec<(String, String, &'static str)>,
    /// Known-table entries that matched no difference (`step path`).
    stale: Vec<String>,
}

fn compare(reference: &[Value], rust: &[Value], known: &[Known]) -> Comparison {
    let names = |t: &[Value]| -> Vec<String> {
        t.iter()
            .map(|s| s["step"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        names(reference),
        names(rust),
        "both runs of client.mjs take the same steps"
    );
    let mut c = Comparison::default();
    let mut used = vec![false; known.len()];
    // The sections in which the Rust server lacked a step.
    let mut broken: BTreeSet<&str> = BTreeSet::new();
    for (a, b) in reference.iter().zip(rust) {
        let name = a["step"].as_str().unwrap_or_default().to_owned();
        let section = a["section"].as_str().unwrap_or_default();
        if unsupported(b) {
            broken.insert(section);
            c.unsupported.push(name);
            continue;
        }
        if skipped(b) || broken.contains(section) {
            c.skipped.push(name);
            continue;
        }
        let mut lines = Vec::new();
        diff("", "", &observed(a), &observed(b), &mut lines);
        let mut unknown = Vec::new();
        for line in lines {
            let entry = known.iter().position(|k| {
                let whole_step = k.step == name && k.path == "*" && k.what == "*";
                whole_step
                    || ((k.step == "*" || k.step == name)
                        && k.path == line.path
                        && k.what == line.what)
            });
            match entry {
                Some(i) => {
                    used[i] = true;
                    c.known.push((name.clone(), line.text, known[i].reason));
                }
                None => unknown.push(line.text),
            }
        }
        if !unknown.is_empty() {
            c.differences.push((name.clone(), unknown));
        }
        c.compared.push(name);
    }
    c.stale = known
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(k, _)| format!("{} {}: {}", k.step, k.path, k.what))
        .collect();
    c
}

/// Prints the report on the test's standard error directly (not through
/// the captured `println!`), so it shows in every run's output.
fn print_report(c: &Comparison) {
    let mut err = std::io::stderr().lock();
    let mut out = |line: String| {
        let _ = writeln!(err, "{line}");
    };
    out(format!(
        "compared {} steps with Better Auth: {}",
        c.compared.len(),
        c.compared.join(" | ")
    ));
    if !c.unsupported.is_empty() {
        out(format!(
            "not in the Rust server yet ({}): {}",
            c.unsupported.len(),
            c.unsupported.join(" | ")
        ));
    }
    if !c.skipped.is_empty() {
        out(format!(
            "not compared, as they follow a step the Rust server does not have ({}): {}",
            c.skipped.len(),
            c.skipped.join(" | ")
        ));
    }
    let reasons: BTreeSet<&str> = c.known.iter().map(|(_, _, r)| *r).collect();
    for reason in reasons {
        let of = || c.known.iter().filter(move |(_, _, r)| *r == reason);
        let lines: BTreeSet<&str> = of().map(|(_, l, _)| l.as_str()).collect();
        let steps: BTreeSet<&str> = of().map(|(s, _, _)| s.as_str()).collect();
        out(format!("known difference: {reason}"));
        for l in lines {
            out(format!("    {l}"));
        }
        out(format!(
            "    in these steps ({}): {}",
            steps.len(),
            steps.into_iter().collect::<Vec<_>>().join(" | ")
        ));
    }
}

/// The reference transcript is a valid baseline: every step ran and got an
/// answer from Better Auth.
fn assert_complete(reference: &[Value]) {
    for s in reference {
        assert!(
            !unsupported(s) && !skipped(s) && s.get("exception").is_none() && s["status"] != 0,
            "Better Auth's own server did not run step {s}: client.mjs and \
             reference-server.mjs disagree"
        );
    }
}

const ADMIN: &str = "admin@example.com:admin password 0123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_sees_the_rust_server_as_better_auth() {
    require_node();
    let dir = tempfile::tempdir().unwrap();
    let (_reference, reference_url) = start_reference(&dir.path().join("reference"), Some(ADMIN));
    let rust = server::start(&dir.path().join("rust"), Some(ADMIN)).await;

    let (theirs, ours) = tokio::join!(
        run_client(reference_url, ADMIN.to_owned()),
        run_client(rust.url.clone(), ADMIN.to_owned())
    );
    assert_complete(&theirs);

    let c = compare(&theirs, &ours, KNOWN_DIFFERENCES);
    print_report(&c);
    for core in CORE_STEPS {
        assert!(
            c.compared.iter().any(|s| s == core),
            "the core step `{core}` was compared"
        );
    }
    assert!(
        c.stale.is_empty(),
        "these known differences no longer differ, remove them from KNOWN_DIFFERENCES: {:?}",
        c.stale
    );
    let mut report = String::new();
    for (step, lines) in &c.differences {
        report.push_str(&format!("\n`{step}` differs from Better Auth:\n"));
        for l in lines {
            report.push_str(&format!("    {l}\n"));
        }
    }
    assert!(
        c.differences.is_empty(),
        "the official client sees differences between Better Auth and the Rust server:{report}"
    );
}

/// The harness itself: two runs against two fresh Better Auth servers give the
/// same transcript (normalization leaves nothing volatile), and a change in
/// one answer is reported as a difference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transcript_is_deterministic_and_differences_are_caught() {
    require_node();
    let dir = tempfile::tempdir().unwrap();
    let (_a, a_url) = start_reference(&dir.path().join("a"), Some(ADMIN));
    let (_b, b_url) = start_reference(&dir.path().join("b"), Some(ADMIN));
    let (a, b) = tokio::join!(
        run_client(a_url, ADMIN.to_owned()),
        run_client(b_url, ADMIN.to_owned())
    );
    assert_complete(&a);
    let c = compare(&a, &b, &[]);
    assert!(c.differences.is_empty(), "{:?}", c.differences);
    assert_eq!(c.compared.len(), a.len());

    // A role changed in one answer is a difference, and a known one when
    // listed.
    let mut changed = b.clone();
    let i = changed
        .iter()
        .position(|s| s["step"] == "core: sign-up")
        .expect("a sign-up step");
    changed[i]["body"]["user"]["role"] = Value::from("admin");
    let c = compare(&a, &changed, &[]);
    assert_eq!(c.differences.len(), 1, "{:?}", c.differences);
    assert_eq!(
        c.differences[0].1,
        vec![r#".body.user.role: Better Auth "user", Rust "admin""#.to_owned()]
    );
    let role = |step| {
        known(
            step,
            ".body.user.role",
            r#"Better Auth "user", Rust "admin""#,
            "a test",
        )
    };
    for entry in [
        role("core: sign-up"),
        role("*"),
        known("core: sign-up", "*", "*", "a test"),
    ] {
        let c = compare(&a, &changed, &[entry]);
        assert!(c.differences.is_empty() && c.stale.is_empty(), "{c:?}");
        assert_eq!(c.known.len(), 1, "{c:?}");
    }
    // An entry for another step or path does not hide it.
    for entry in [
        role("core: sign-in"),
        Known {
            path: ".body.user.name",
            ..role("*")
        },
        Known {
            what: r#"Better Auth "user", Rust "owner""#,
            ..role("*")
        },
        known("*", "*", "*", "a test"),
        known("core: sign-in", "*", "*", "a test"),
    ] {
        let c = compare(&a, &changed, &[entry]);
        assert_eq!(c.differences.len(), 1, "{c:?}");
        assert_eq!(c.stale.len(), 1, "{c:?}");
    }
    // A known difference that no longer differs is stale.
    let c = compare(&a, &b, &[role("core: sign-up")]);
    assert_eq!(
        c.stale,
        vec![r#"core: sign-up .body.user.role: Better Auth "user", Rust "admin""#.to_owned()]
    );

    // A step a server lacks ends the comparison of its section only.
    let mut lacking = b.clone();
    let i = lacking
        .iter()
        .position(|s| s["step"] == "organization: organization create")
        .expect("an organization create step");
    lacking[i] = serde_json::json!({
        "step": "organization: organization create", "section": "organization",
        "status": 404, "unsupported": true, "code": null, "body": null, "cookies": [],
    });
    let c = compare(&a, &lacking, &[]);
    assert!(c.differences.is_empty(), "{:?}", c.differences);
    assert_eq!(c.unsupported, vec!["organization: organization create"]);
    let rest: Vec<String> = a[i + 1..]
        .iter()
        .filter(|s| s["section"] == "organization")
        .map(|s| s["step"].as_str().unwrap().to_owned())
        .collect();
    assert!(!rest.is_empty());
    assert_eq!(c.skipped, rest);
    assert_eq!(c.compared.len(), a.len() - 1 - rest.len());
    assert!(c.compared.iter().any(|s| s.starts_with("two-factor: ")));
}
