//! Better Auth's admin endpoints over real sockets.

mod common;

use common::{PASSWORD, credentials, server};
use neutrino_core::sql::{SqlExecutor, Statement};
use serde_json::{Value, json};

#[tokio::test]
async fn admins_list_ban_unban_and_remove_users_and_others_cannot() {
    let s = server().await;
    let ada = s.cookie_of("ada@example.com").await;
    let bob_res = s.sign_up("bob@example.com").await;
    let bob = bob_res.cookie_header();
    let bob_id = bob_res.json()["user"]["id"].as_str().unwrap().to_owned();
    s.make_admin("ada@example.com").await;

    let res = s.get("/admin/list-users", "").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.text, "");
    let res = s.get("/admin/list-users", &bob).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");
    let res = s
        .post("/admin/ban-user", &bob, json!({"userId": bob_id}))
        .await;
    assert_eq!(res.status, 403);

    let res = s.get("/admin/list-users?limit=10", &ada).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["total"], 2);
    assert_eq!(res.json()["limit"], 10);
    assert!(res.json().get("offset").is_none());

    let res = s
        .post(
            "/admin/ban-user",
            &ada,
            json!({"userId": bob_id, "banReason": "spam"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["user"]["banned"], true);
    assert_eq!(res.json()["user"]["banReason"], "spam");
    assert_eq!(s.get("/get-session", &bob).await.text, "null");
    let res = s.try_sign_in("", credentials("bob@example.com")).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "BANNED_USER");
    assert_eq!(
        res.json()["message"],
        "You have been banned from this application. Please contact support if you believe this is an error."
    );

    let res = s
        .post("/admin/unban-user", &ada, json!({"userId": bob_id}))
        .await;
    assert_eq!(res.json()["user"]["banned"], false);
    let bob = s.sign_in("bob@example.com").await.cookie_header();

    let res = s
        .post(
            "/admin/set-role",
            &ada,
            json!({"userId": bob_id, "role": ["admin"]}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["user"]["role"], "admin");

    let res = s
        .post(
            "/admin/ban-user",
            &ada,
            json!({"userId": "nobody-at-all-0000000000000000000"}),
        )
        .await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "USER_NOT_FOUND");

    let res = s
        .post(
            "/admin/revoke-user-sessions",
            &ada,
            json!({"userId": bob_id}),
        )
        .await;
    assert_eq!(res.json(), json!({"success": true}));
    assert_eq!(s.get("/get-session", &bob).await.text, "null");
    let res = s
        .post("/admin/remove-user", &ada, json!({"userId": bob_id}))
        .await;
    assert_eq!(res.json(), json!({"success": true}));
    assert_eq!(s.get("/admin/list-users", &ada).await.json()["total"], 1);
}

/// A browser's cookie jar: `Set-Cookie` values applied in order (the last
/// of a name wins, an empty value or `Max-Age=0` deletes it).
#[derive(Clone, Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn apply(&mut self, res: &common::Res) {
        for c in res.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !value.is_empty() && !c.contains("Max-Age=0") {
                self.0.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &str, value: &str) {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.to_owned(), value.to_owned()));
    }
}

const ADMIN_SESSION: &str = "better-auth.admin_session";
const SESSION_TOKEN: &str = "better-auth.session_token";

/// An admin (signed in, in a jar) and a user to impersonate.
struct Cast {
    s: common::Server,
    admin: Jar,
    admin_id: String,
    user_id: String,
}

async fn cast() -> Cast {
    let s = server().await;
    let mut admin = Jar::default();
    let up = s.sign_up("ada@example.com").await;
    admin.apply(&up);
    let admin_id = up.json()["user"]["id"].as_str().unwrap().to_owned();
    let bob = s.sign_up("bob@example.com").await;
    let user_id = bob.json()["user"]["id"].as_str().unwrap().to_owned();
    s.make_admin("ada@example.com").await;
    Cast {
        s,
        admin,
        admin_id,
        user_id,
    }
}

/// Impersonates `user` from `jar`; returns the jar afterwards.
async fn impersonate(s: &common::Server, jar: &Jar, user: &str) -> (Jar, common::Res) {
    let res = s
        .post(
            "/admin/impersonate-user",
            &jar.header(),
            json!({"userId": user}),
        )
        .await;
    let mut after = jar.clone();
    after.apply(&res);
    (after, res)
}

#[tokio::test]
async fn impersonation_sets_and_restores_better_auths_cookies() {
    let c = cast().await;
    let s = &c.s;
    let admin_token = c.admin.get(SESSION_TOKEN).unwrap().to_owned();
    let (jar, res) = impersonate(s, &c.admin, &c.user_id).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let body = res.json();
    assert_eq!(body["user"]["id"], c.user_id.as_str());
    assert_eq!(body["session"]["userId"], c.user_id.as_str());
    assert_eq!(body["session"]["impersonatedBy"], c.admin_id.as_str());
    // One hour, not the seven days of a session.
    let expires = chrono_secs(body["session"]["expiresAt"].as_str().unwrap());
    let created = chrono_secs(body["session"]["createdAt"].as_str().unwrap());
    assert_eq!(expires - created, 3600);

    // Better Auth's sequence: the session cookies deleted, admin_session set
    // for the session cookie's lifetime, then the new session cookie without
    // Max-Age and dont_remember.
    let cookies: Vec<String> = res.set_cookies();
    let names: Vec<(&str, bool)> = cookies
        .iter()
        .map(|c| {
            let name = c.split('=').next().unwrap();
            (name, c.contains("Max-Age=0"))
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (SESSION_TOKEN, true),
            ("better-auth.session_data", true),
            ("better-auth.dont_remember", true),
            (ADMIN_SESSION, false),
            (SESSION_TOKEN, false),
            ("better-auth.dont_remember", false),
        ]
    );
    assert!(cookies[3].contains("; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"));
    assert!(!cookies[4].contains("Max-Age"), "{}", cookies[4]);
    // admin_session holds the admin's token, signed, and "" for remember-me on.
    let held = jar.get(ADMIN_SESSION).unwrap();
    let decoded = held.replace("%3A", ":").replace("%3D", "=");
    let signed_token = admin_token.replace("%3D", "=");
    let token = signed_token.split('.').next().unwrap();
    assert!(decoded.starts_with(&format!("{token}:.")), "{decoded}");

    // The session now is the user's, marked, and hidden from their list.
    let now = s.get("/get-session", &jar.header()).await.json();
    assert_eq!(now["user"]["id"], c.user_id.as_str());
    assert_eq!(now["session"]["impersonatedBy"], c.admin_id.as_str());
    let res = s.get("/admin/list-users", &jar.header()).await;
    assert_eq!(res.status, 403, "the impersonated user is no admin");

    let res = s
        .post("/admin/stop-impersonating", &jar.header(), json!({}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["user"]["id"], c.admin_id.as_str());
    let set = res.set_cookie(SESSION_TOKEN).unwrap();
    assert!(set.contains("Max-Age=604800"), "remembered again: {set}");
    assert!(res.set_cookie(ADMIN_SESSION).unwrap().contains("Max-Age=0"));
    assert!(
        res.set_cookie("better-auth.dont_remember")
            .unwrap()
            .contains("Max-Age=0")
    );
    let mut back = jar.clone();
    back.apply(&res);
    assert_eq!(back.get(SESSION_TOKEN), Some(admin_token.as_str()));
    assert!(back.get(ADMIN_SESSION).is_none());
    // The impersonation session is gone.
    assert_eq!(s.get("/get-session", &jar.header()).await.text, "null");
    let res = s.get("/get-session", &back.header()).await;
    assert_eq!(res.json()["user"]["id"], c.admin_id.as_str());
}

/// Seconds since the epoch of an ISO date with milliseconds.
fn chrono_secs(iso: &str) -> i64 {
    let t = neutrino_auth::date::parse(iso).unwrap();
    t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_remember_me_off_admin_gets_a_browser_session_cookie_back() {
    let s = server().await;
    s.sign_up("ada@example.com").await;
    let bob = s.sign_up("bob@example.com").await;
    let bob_id = bob.json()["user"]["id"].as_str().unwrap().to_owned();
    s.make_admin("ada@example.com").await;
    let res = s
        .try_sign_in(
            "",
            json!({"email": "ada@example.com", "password": PASSWORD, "rememberMe": false}),
        )
        .await;
    let mut admin = Jar::default();
    admin.apply(&res);
    let (jar, res) = impersonate(&s, &admin, &bob_id).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(
        jar.get(ADMIN_SESSION).unwrap().contains("%3Atrue."),
        "admin_session records dont_remember"
    );
    let res = s
        .post("/admin/stop-impersonating", &jar.header(), json!({}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert!(!res.set_cookie(SESSION_TOKEN).unwrap().contains("Max-Age"));
    let dr = res.set_cookie("better-auth.dont_remember").unwrap();
    assert!(!dr.contains("Max-Age=0"), "dont_remember set again: {dr}");
}

#[tokio::test]
async fn only_admins_impersonate_and_never_other_admins() {
    let c = cast().await;
    let s = &c.s;
    let bob = s.sign_in("bob@example.com").await.cookie_header();
    let res = s
        .post(
            "/admin/impersonate-user",
            &bob,
            json!({"userId": c.admin_id}),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.json()["code"],
        "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS"
    );
    assert!(res.set_cookie(ADMIN_SESSION).is_none());
    let res = s
        .post("/admin/impersonate-user", "", json!({"userId": c.user_id}))
        .await;
    assert_eq!((res.status, res.text.as_str()), (401, ""));

    // Another admin (and the caller itself) is refused.
    s.sign_up("cleo@example.com").await;
    s.make_admin("cleo@example.com").await;
    let cleo = s
        .get("/admin/list-users?searchValue=cleo", &c.admin.header())
        .await;
    let cleo_id = cleo.json()["users"][0]["id"].as_str().unwrap().to_owned();
    for target in [&cleo_id, &c.admin_id] {
        let (_, res) = impersonate(s, &c.admin, target).await;
        assert_eq!(res.status, 403);
        assert_eq!(res.json()["code"], "YOU_CANNOT_IMPERSONATE_ADMINS");
        assert!(res.set_cookie(ADMIN_SESSION).is_none());
    }
    let (_, res) = impersonate(s, &c.admin, "no-such-user-00000000000000000000").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["code"], "USER_NOT_FOUND");
}

#[tokio::test]
async fn stop_impersonating_needs_an_impersonation_session() {
    let c = cast().await;
    let s = &c.s;
    let res = s.post("/admin/stop-impersonating", "", json!({})).await;
    assert_eq!((res.status, res.text.as_str()), (401, ""));
    // The admin's own session with a valid admin_session: not impersonating.
    let (jar, _) = impersonate(s, &c.admin, &c.user_id).await;
    let mut own = c.admin.clone();
    own.set(ADMIN_SESSION, jar.get(ADMIN_SESSION).unwrap());
    let res = s
        .post("/admin/stop-impersonating", &own.header(), json!({}))
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"message": "You are not impersonating anyone"})
    );
    // Without the admin_session cookie.
    let mut without = jar.clone();
    without.0.retain(|(n, _)| n != ADMIN_SESSION);
    let res = s
        .post("/admin/stop-impersonating", &without.header(), json!({}))
        .await;
    assert_eq!(res.status, 500);
    assert_eq!(
        res.json(),
        json!({"message": "Failed to find admin session"})
    );
}

/// The attacks on `admin_session`: each is refused, the impersonation
/// session stays, nobody gets an admin's session cookie.
async fn refused(s: &common::Server, jar: &Jar, what: &str) {
    let res = s
        .post("/admin/stop-impersonating", &jar.header(), json!({}))
        .await;
    assert_eq!(res.status, 500, "{what}: {}", res.text);
    assert_eq!(
        res.json(),
        json!({"message": "Failed to find admin session"}),
        "{what}"
    );
    let given = res
        .set_cookies()
        .into_iter()
        .filter(|c| c.starts_with(&format!("{SESSION_TOKEN}=")) && !c.contains("Max-Age=0"))
        .count();
    assert_eq!(given, 0, "{what}: a session cookie was handed out");
}

#[tokio::test]
async fn a_forged_or_altered_admin_session_cookie_is_refused() {
    let c = cast().await;
    let s = &c.s;
    let (jar, _) = impersonate(s, &c.admin, &c.user_id).await;
    let admin_signed = c.admin.get(SESSION_TOKEN).unwrap().replace("%3D", "=");
    let admin_token = admin_signed.split('.').next().unwrap().to_owned();
    let held = jar.get(ADMIN_SESSION).unwrap().to_owned();

    // Unsigned, with the real admin token (what a forger would write).
    for forged in [
        format!("{admin_token}%3A"),
        format!("{admin_token}:"),
        format!("{admin_token}%3A.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D"),
    ] {
        let mut j = jar.clone();
        j.set(ADMIN_SESSION, &forged);
        refused(s, &j, &format!("forged {forged}")).await;
    }
    // The signed value altered, its signature kept.
    let (value, sig) = held.rsplit_once('.').unwrap();
    let mut chars: Vec<char> = value.chars().collect();
    chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
    let altered: String = chars.into_iter().collect();
    let mut j = jar.clone();
    j.set(ADMIN_SESSION, &format!("{altered}.{sig}"));
    refused(s, &j, "altered").await;
    // The session cookie's own signed token in its place (a valid signature
    // over a value without the separator).
    let mut j = jar.clone();
    j.set(ADMIN_SESSION, c.admin.get(SESSION_TOKEN).unwrap());
    refused(s, &j, "the session cookie as admin_session").await;

    // The impersonation still stands, and its own cookie still stops it.
    let res = s
        .post("/admin/stop-impersonating", &jar.header(), json!({}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[tokio::test]
async fn another_admins_or_a_dead_admin_session_is_refused() {
    let c = cast().await;
    let s = &c.s;
    // Another admin, who impersonates someone else and so holds an
    // admin_session of their own.
    let cleo_up = s.sign_up("cleo@example.com").await;
    s.make_admin("cleo@example.com").await;
    let mut cleo = Jar::default();
    cleo.apply(&cleo_up);
    let vic = s.sign_up("vic@example.com").await;
    let vic_id = vic.json()["user"]["id"].as_str().unwrap().to_owned();
    let (cleo_imp, res) = impersonate(s, &cleo, &vic_id).await;
    assert_eq!(res.status, 200, "{}", res.text);

    let (jar, _) = impersonate(s, &c.admin, &c.user_id).await;
    // Ada's impersonation with Cleo's admin_session: Cleo's session is not
    // the impersonator's.
    let mut j = jar.clone();
    j.set(ADMIN_SESSION, cleo_imp.get(ADMIN_SESSION).unwrap());
    refused(s, &j, "another admin's admin_session").await;
    // And the other way round.
    let mut j = cleo_imp.clone();
    j.set(ADMIN_SESSION, jar.get(ADMIN_SESSION).unwrap());
    refused(s, &j, "another admin's admin_session (2)").await;

    // Ada's own session revoked meanwhile (signed out on another device):
    // her admin_session names a dead session.
    let other = s.sign_in("ada@example.com").await.cookie_header();
    let res = s.post("/revoke-other-sessions", &other, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    refused(s, &jar, "a revoked admin session").await;
    // The impersonation session is still the user's only, never an admin's.
    let now = s.get("/get-session", &jar.header()).await.json();
    assert_eq!(now["user"]["id"], c.user_id.as_str());
}

#[tokio::test]
async fn an_expired_admin_session_is_refused() {
    let c = cast().await;
    let s = &c.s;
    let (jar, _) = impersonate(s, &c.admin, &c.user_id).await;
    // The admin's session expires while the impersonation lasts.
    set_sql(
        s,
        r#"UPDATE "session" SET "expiresAt" = '2000-01-01T00:00:00.000Z' WHERE "impersonatedBy" IS NULL AND "userId" = (SELECT "id" FROM "user" WHERE "email" = 'ada@example.com')"#,
    )
    .await;
    refused(s, &jar, "an expired admin session").await;
}

#[tokio::test]
async fn another_platforms_admin_session_is_refused() {
    // Two platforms signed with the same secret.
    let c = cast().await;
    let d = cast().await;
    let (jar, _) = impersonate(&c.s, &c.admin, &c.user_id).await;
    let (theirs, res) = impersonate(&d.s, &d.admin, &d.user_id).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let mut j = jar.clone();
    j.set(ADMIN_SESSION, theirs.get(ADMIN_SESSION).unwrap());
    refused(&c.s, &j, "another platform's admin_session").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_stops_restore_the_admin_once() {
    let c = cast().await;
    let s = std::sync::Arc::new(c.s);
    for round in 0..6 {
        let (jar, res) = impersonate(&s, &c.admin, &c.user_id).await;
        assert_eq!(res.status, 200, "{}", res.text);
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(24));
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let (s, h, b) = (
                std::sync::Arc::clone(&s),
                jar.header(),
                std::sync::Arc::clone(&barrier),
            );
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                s.post("/admin/stop-impersonating", &h, json!({})).await
            }));
        }
        let mut restored = 0;
        for t in tasks {
            let res = t.await.unwrap();
            if res.status == 200 {
                restored += 1;
            } else {
                assert!(
                    res.set_cookie(SESSION_TOKEN)
                        .is_none_or(|c| c.contains("Max-Age=0")),
                    "a refused stop handed out a session cookie"
                );
            }
        }
        assert_eq!(
            restored, 1,
            "round {round}: one impersonation restores the admin once"
        );
    }
}

/// Runs `sql` on the server's auth database.
async fn set_sql(s: &common::Server, sql: &str) {
    s.auth_db()
        .await
        .execute(&Statement::new(sql))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_user_routes_answer_better_auths_shapes() {
    let c = cast().await;
    let s = &c.s;
    let ada = c.admin.header();
    let bob = s.sign_in("bob@example.com").await.cookie_header();

    // get-user: the user itself; a missing id is a validation error first.
    let res = s
        .get(&format!("/admin/get-user?id={}", c.user_id), &ada)
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["email"], "bob@example.com");
    assert_eq!(res.json()["role"], "user");
    assert_eq!(
        s.get("/admin/get-user", "").await.json()["code"],
        "VALIDATION_ERROR"
    );
    let res = s
        .get(&format!("/admin/get-user?id={}", c.user_id), "")
        .await;
    assert_eq!((res.status, res.text.as_str()), (401, ""));
    let res = s
        .get(&format!("/admin/get-user?id={}", c.admin_id), &bob)
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "YOU_ARE_NOT_ALLOWED_TO_GET_USER");

    // create-user: {user}; a taken address is 400.
    let body = json!({"email": "Carl@Example.com", "password": PASSWORD, "name": "Carl",
        "data": {"role": ["user", "support"], "emailVerified": true}});
    let res = s.post("/admin/create-user", &ada, body.clone()).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let carl = res.json()["user"].clone();
    assert_eq!(carl["email"], "carl@example.com");
    assert_eq!(carl["role"], "user,support");
    assert_eq!(carl["emailVerified"], true);
    let carl_id = carl["id"].as_str().unwrap().to_owned();
    let res = s.post("/admin/create-user", &ada, body).await;
    assert_eq!(res.status, 400);
    assert_eq!(res.json()["code"], "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let res = s
        .post(
            "/admin/create-user",
            &ada,
            json!({"email": "dan@example.com", "name": "Dan", "data": {"banned": true}}),
        )
        .await;
    assert_eq!(res.json()["code"], "FIELD_NOT_ALLOWED");
    let res = s
        .post(
            "/admin/create-user",
            &bob,
            json!({"email": "eve@example.com", "name": "Eve", "role": "admin"}),
        )
        .await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS");
    assert_eq!(
        s.get("/admin/list-users?searchValue=eve", &ada)
            .await
            .json()["total"],
        0
    );

    // update-user: the user itself.
    let res = s
        .post(
            "/admin/update-user",
            &ada,
            json!({"userId": carl_id, "data": {"name": "Carl B."}}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json()["name"], "Carl B.");
    for (data, code) in [
        (json!({}), "NO_DATA_TO_UPDATE"),
        (
            json!({"password": "x"}),
            "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
        ),
        (json!({"id": "x"}), "USER_ID_CANNOT_BE_UPDATED"),
        (json!({"role": 3}), "INVALID_ROLE_TYPE"),
        (
            json!({"email": "bob@example.com"}),
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        ),
    ] {
        let res = s
            .post(
                "/admin/update-user",
                &ada,
                json!({"userId": carl_id, "data": data}),
            )
            .await;
        assert_eq!(res.status, 400, "{data}: {}", res.text);
        assert_eq!(res.json()["code"], code, "{data}");
    }

    // set-user-password: the new one signs in, the old one not.
    let res = s
        .post(
            "/admin/set-user-password",
            &ada,
            json!({"userId": carl_id, "newPassword": "short"}),
        )
        .await;
    assert_eq!(res.json()["code"], "PASSWORD_TOO_SHORT");
    let res = s
        .post(
            "/admin/set-user-password",
            &ada,
            json!({"userId": carl_id, "newPassword": ""}),
        )
        .await;
    assert_eq!(res.json()["code"], "VALIDATION_ERROR");
    let res = s
        .post(
            "/admin/set-user-password",
            &ada,
            json!({"userId": carl_id, "newPassword": "carl's new password"}),
        )
        .await;
    assert_eq!(res.json(), json!({"status": true}));
    let res = s
        .try_sign_in(
            "",
            json!({"email": "carl@example.com", "password": "carl's new password"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let carl_token = res.json()["token"].as_str().unwrap().to_owned();
    let carl_cookie = res.cookie_header();

    // list-user-sessions: without tokens; revoke-user-session by token.
    let res = s
        .post(
            "/admin/list-user-sessions",
            &ada,
            json!({"userId": carl_id}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let sessions = res.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].get("token").is_none(), "{}", res.text);
    assert!(!res.text.contains(&carl_token));
    assert_eq!(sessions[0]["impersonatedBy"], Value::Null);
    let res = s
        .post(
            "/admin/revoke-user-session",
            &ada,
            json!({"sessionToken": carl_token}),
        )
        .await;
    assert_eq!(res.json(), json!({"success": true}));
    assert_eq!(s.get("/get-session", &carl_cookie).await.text, "null");

    // has-permission: the caller's own.
    let ask = |p: Value| json!({ "permissions": p });
    let res = s
        .post(
            "/admin/has-permission",
            &ada,
            ask(json!({"user": ["create"]})),
        )
        .await;
    assert_eq!(res.json(), json!({"error": null, "success": true}));
    let res = s
        .post(
            "/admin/has-permission",
            &ada,
            ask(json!({"user": ["impersonate-admins"]})),
        )
        .await;
    assert_eq!(res.json()["success"], false);
    // A non-admin naming the admin, or the admin role, is still judged as
    // itself.
    let res = s
        .post(
            "/admin/has-permission",
            &bob,
            json!({"permissions": {"user": ["create"]}, "userId": c.admin_id, "role": "admin"}),
        )
        .await;
    assert_eq!(res.json()["success"], false);
    let res = s
        .post(
            "/admin/has-permission",
            "",
            ask(json!({"user": ["create"]})),
        )
        .await;
    assert_eq!((res.status, res.text.as_str()), (401, ""));
    let res = s
        .post(
            "/admin/has-permission",
            &ada,
            json!({"permission": {"user": ["get"]}}),
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        json!({"message": "invalid permission check. no permission(s) were passed."})
    );
}

#[tokio::test]
async fn another_admins_password_and_address_are_out_of_reach() {
    let c = cast().await;
    let s = &c.s;
    let cleo = s.sign_up("cleo@example.com").await;
    let cleo_id = cleo.json()["user"]["id"].as_str().unwrap().to_owned();
    s.make_admin("cleo@example.com").await;
    let ada = c.admin.header();
    let res = s
        .post(
            "/admin/set-user-password",
            &ada,
            json!({"userId": cleo_id, "newPassword": "taken over 01234567"}),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    assert_eq!(res.json()["code"], "YOU_CANNOT_IMPERSONATE_ADMINS");
    let res = s
        .post(
            "/admin/update-user",
            &ada,
            json!({"userId": cleo_id, "data": {"email": "mallory@example.com"}}),
        )
        .await;
    assert_eq!(res.status, 403, "{}", res.text);
    assert_eq!(res.json()["code"], "YOU_CANNOT_IMPERSONATE_ADMINS");
    s.sign_in("cleo@example.com").await;
}
