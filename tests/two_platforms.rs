//! Keeps the two-platforms example alive: its `run` is called here.

#[allow(dead_code)]
#[path = "../examples/two_platforms.rs"]
mod two_platforms;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_platforms_in_one_process_keep_their_sessions_and_tenants_apart() {
    let root = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    let s = two_platforms::run(root.path(), &mut out)
        .await
        .expect("the example runs");
    let text = String::from_utf8(out).unwrap();
    assert!(s.distinct, "{text}");
    assert_eq!(s.foreign_cookie.len(), 2);
    for e in &s.foreign_cookie {
        assert!(e.is_permission_denied(), "{e:?}");
        assert!(e.to_string().contains("UNAUTHORIZED"), "{e}");
    }
    assert!(
        s.foreign_scope.is_permission_denied(),
        "{:?}",
        s.foreign_scope
    );
    assert_eq!(s.rows, (1, 0), "{text}");
    for want in [
        "blog refuses    the other's cookie",
        "shop refuses    the other's cookie",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}
