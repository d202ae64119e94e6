//! Keeps the quickstart example alive: its `run` is called here.

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_provisions_a_platform_and_reads_back_what_it_wrote() {
    let root = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let summary = quickstart::run(root.path(), &mut out)
        .await
        .expect("quickstart runs");
    let p = summary.platform;
    assert_eq!(
        summary.provider_ids,
        [
            format!("databases/{p}-default-db.sqlite"),
            format!("buckets/{p}-default-storage"),
            format!("kv/{p}-default-kv"),
        ]
    );
    assert_eq!(
        summary.read_back,
        (
            "hello from SQLite".into(),
            "hello from KV".into(),
            "hello from the bucket".into()
        )
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains(&format!("auth.svc.default.{p}.nno.app")),
        "{text}"
    );
    assert!(
        text.contains(&format!("cookie domain   .{p}.nno.app")),
        "{text}"
    );
    assert!(
        text.contains(&format!("status          platform:{p}:status = active")),
        "{text}"
    );
    assert!(
        text.contains("acme lists 1 note; globex reading acme's note: row not found"),
        "{text}"
    );
    assert!(
        root.path()
            .join(format!("databases/{p}-default-db.sqlite"))
            .is_file()
    );
    assert!(
        root.path()
            .join(format!("buckets/{p}-default-storage/welcome.txt"))
            .is_file()
    );
}
