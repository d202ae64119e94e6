//! Keeps the auth_server example alive: its `run` serves a platform's auth API
//! over a real socket, is stopped, and a second run on the same folder keeps
//! the user and the session of the first.

#[allow(dead_code)]
#[path = "../examples/auth_server.rs"]
mod auth_server;

use std::net::SocketAddr;

use auth_server::{Settings, run};

async fn start(
    folder: &std::path::Path,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let settings = Settings {
        folder: folder.to_owned(),
        addr: "127.0.0.1:0".parse().unwrap(),
        trusted_origins: Vec::new(),
        secret: None,
        rate_limit: true,
        cookie_cache: Some(std::time::Duration::from_secs(300)),
        session_cache: true,
    };
    let task = tokio::spawn(async move {
        run(
            settings,
            move |addr| {
                let _ = ready_tx.send(addr);
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
        .expect("the server runs");
    });
    let addr = ready_rx.await.expect("the server starts");
    (addr, stop_tx, task)
}

/// The JSON body of the answer to `req`.
async fn json_of(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_server_serves_sign_up_and_a_second_run_keeps_the_user() {
    let folder = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    let (addr, stop, task) = start(folder.path()).await;
    let base = format!("http://{addr}/api/auth");
    let res = http
        .post(format!("{base}/sign-up/email"))
        .header("origin", format!("http://{addr}"))
        .json(&serde_json::json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("better-auth.session_token="), "{cookie}");
    let ok = json_of(http.get(format!("{base}/ok"))).await;
    assert_eq!(ok, serde_json::json!({"ok": true}));
    stop.send(()).unwrap();
    task.await.unwrap();

    // Same folder: the secret and the user are kept, so the session cookie of
    // the first run still works and the password still signs in.
    let (addr, stop, task) = start(folder.path()).await;
    let base = format!("http://{addr}/api/auth");
    let session = json_of(
        http.get(format!("{base}/get-session"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(session["user"]["email"], "ada@example.com");
    let res = http
        .post(format!("{base}/sign-in/email"))
        .json(&serde_json::json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    stop.send(()).unwrap();
    task.await.unwrap();
}
