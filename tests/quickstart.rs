//! Keeps the quickstart example alive: its `run` is called here.

#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_provisions_a_platform_reads_back_what_it_wrote_and_signs_a_user_up() {
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
            "active".into(),
            "hello from the bucket".into()
        )
    );
    assert_eq!(
        summary.auth_database,
        format!("databases/{p}-default-auth-db.sqlite")
    );
    assert_eq!(summary.validated_email, "ada@example.com");
    let c = &summary.set_cookie;
    assert!(c.starts_with("__Secure-better-auth.session_token="), "{c}");
    for attr in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Path=/",
        "Max-Age=604800",
    ] {
        assert!(c.contains(attr), "{attr} missing in {c}");
    }
    assert!(c.contains(&format!("Domain={p}.nno.app")), "{c}");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("cookie valid    user ada@example.com"),
        "{text}"
    );
    assert!(
        text.contains(&format!("auth.svc.default.{p}.nno.app")),
        "{text}"
    );
    assert!(
        text.contains(&format!("cookie domain   .{p}.nno.app")),
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
