//! Better Auth's own server (`tests/client/reference-server.mjs`, Node with
//! better-sqlite3), spawned for the official-client test and the benchmark.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The folder of the Node side: `client.mjs`, `reference-server.mjs` and
/// their packages.
pub(crate) fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/client")
}

/// Why Better Auth cannot run here (no Node, or its packages not installed),
/// saying what to install; `None` when it can.
pub(crate) fn node_missing() -> Option<String> {
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => {
            return Some(
                "Node.js 20 or later is not on PATH (install it, then run scripts/setup-node-tests)"
                    .to_owned(),
            );
        }
    }
    let dir = client_dir();
    let installed = dir.join("node_modules/better-auth").is_dir()
        && dir.join("node_modules/@better-auth/api-key").is_dir()
        && dir.join("node_modules/better-sqlite3").is_dir();
    (!installed).then(|| {
        "Better Auth's client and server are not installed in neutrino-axum/tests/client \
         (run scripts/setup-node-tests)"
            .to_owned()
    })
}

/// A child process killed when dropped, however its owner ends.
pub(crate) struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts Better Auth's own server on a free loopback port, its database in
/// `folder`, with `admin` (`email:password`) seeded when given; returns it and
/// its origin once it listens. It also stops when this process ends (it
/// watches its standard input).
pub(crate) fn start_reference(folder: &Path, admin: Option<&str>) -> (Reaped, String) {
    let mut cmd = Command::new("node");
    cmd.current_dir(client_dir())
        .arg("reference-server.mjs")
        .arg(folder)
        .arg("--stop-with-stdin")
        .env("NEUTRINO_ADDR", "127.0.0.1:0")
        .env_remove("NEUTRINO_TRUSTED_ORIGINS")
        .env_remove("NEUTRINO_SEED_ADMIN")
        .env_remove("NODE_ENV")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(admin) = admin {
        cmd.env("NEUTRINO_SEED_ADMIN", admin);
    }
    let mut child = cmd.spawn().expect("spawn node reference-server.mjs");
    let stdout = child.stdout.take().expect("piped stdout");
    let child = Reaped(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("reference-server.mjs printed `listening on …` within 60 s");
    (child, url)
}
