//! Keeps the saas_app example alive: its self-test drives its router over a
//! real socket.

#[allow(dead_code)]
#[path = "../examples/saas_app.rs"]
mod saas_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_on_two_hosts_see_only_their_rows_and_the_admin_route_is_guarded() {
    let root = tempfile::tempdir().unwrap();
    {
        let r = saas_app::self_test(root.path())
            .await
            .expect("the self-test runs");
        for (i, host) in saas_app::HOSTS.iter().enumerate() {
            assert_eq!(r.notes[i].len(), 1, "{r:?}");
            assert!(r.notes[i].iter().all(|n| n.contains(host)), "{r:?}");
        }
        assert_eq!(r.other_host, 403, "{r:?}");
        assert_eq!(r.other_header, 403, "{r:?}");
        assert_eq!(r.other_note, 404, "{r:?}");
        assert_eq!(r.admin_as_owner, 403, "{r:?}");
        assert_eq!(r.admin_as_admin, (200, 2), "{r:?}");
    }
}
