//! The JSON views of the model types a host app shows (`serde::Serialize`):
//! Better Auth's field names and ISO-8601 dates, and never a secret — no
//! session token, password hash, API key or key hash, invitation secret.

use neutrino_core::clock::ManualClock;
use neutrino_core::sql::Statement;
use serde_json::Value;

use super::fixtures::{AuthStores, PASSWORD, World, ci_key, create_org, meta};
use crate::apikey::hash_key;
use crate::org::NewOrganization;

/// The object's keys, sorted.
pub fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// Asserts that the object's keys are `expected`, names separated by white
/// space (in any order).
#[track_caller]
pub fn assert_keys(v: &Value, expected: &str) {
    let mut want: Vec<&str> = expected.split_whitespace().collect();
    want.sort_unstable();
    assert_eq!(keys(v), want);
}

fn is_iso_date(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 24 && s.ends_with('Z') && crate::date::parse(s).is_some()
}

/// Every string stored in the auth database's secret columns.
async fn stored_secrets(w: &World) -> Vec<String> {
    let mut out = Vec::new();
    for (table, col) in [
        ("session", "token"),
        ("account", "password"),
        ("apikey", "key"),
        ("verification", "identifier"),
    ] {
        let rows =
            w.a.db
                .query(&Statement::new(format!(
                    r#"SELECT "{col}" FROM "{table}" WHERE "{col}" IS NOT NULL"#
                )))
                .await
                .unwrap();
        out.extend(rows.iter().map(|r| r.get::<String>(0).unwrap()));
    }
    assert!(out.len() >= 4, "the fixture stores secrets: {}", out.len());
    out
}

fn assert_no_secret(json: &str, secrets: &[String]) {
    for s in secrets {
        assert!(!json.contains(s.as_str()), "secret {s:?} in {json}");
    }
    for word in [
        "token",
        "password",
        "secret",
        "hash",
        "backupCodes",
        "\"key\"",
    ] {
        assert!(
            !json
                .to_ascii_lowercase()
                .contains(&word.to_ascii_lowercase()),
            "{word} in {json}"
        );
    }
}

/// Model types serialize as better auth shows them without secrets.
pub async fn model_types_serialize_as_better_auth_shows_them_without_secrets(
    stores: &AuthStores,
    clock: &ManualClock,
) {
    let w = World::new(stores, clock).await;
    let o = &w.a.orgs;
    let [ada, bob] = w.a.users(["Ada", "Bob"]).await;
    let token = &ada.session.token;

    // User.
    let user = serde_json::to_value(&ada.user).unwrap();
    assert_keys(
        &user,
        "banExpires banReason banned createdAt email emailVerified id image name role twoFactorEnabled updatedAt",
    );
    // The admin and two-factor plugins' fields, as Better Auth gives them
    // for a new user.
    assert_eq!(user["role"], "user");
    assert_eq!(user["banned"], false);
    assert_eq!(user["banReason"], Value::Null);
    assert_eq!(user["banExpires"], Value::Null);
    assert_eq!(user["twoFactorEnabled"], false);
    assert_eq!(user["id"], ada.user.id.as_str());
    assert_eq!(user["email"], ada.user.email);
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["image"], Value::Null);
    assert!(is_iso_date(&user["createdAt"]) && is_iso_date(&user["updatedAt"]));
    assert_eq!(user["createdAt"], crate::date::format(ada.user.created_at));

    // Session, and the session with its user as get-session answers.
    let session = serde_json::to_value(&ada.session).unwrap();
    assert_keys(
        &session,
        "activeOrganizationId createdAt expiresAt id ipAddress updatedAt userAgent userId",
    );
    assert_eq!(session["activeOrganizationId"], Value::Null);
    assert_eq!(session["userId"], ada.user.id.as_str());
    assert_eq!(session["ipAddress"], "198.51.100.4");
    assert!(is_iso_date(&session["expiresAt"]));
    let found = w.a.auth.get_session(token).await.unwrap().expect("valid");
    let both = serde_json::to_value(&*found).unwrap();
    assert_keys(&both, "session user");
    assert_eq!(both["session"], session);
    assert_eq!(both["user"], user);

    // Organization, member, invitation.
    let acme = create_org(
        o,
        token,
        NewOrganization::new("Acme", "acme").with_metadata(serde_json::json!({"plan": "pro"})),
    )
    .await;
    let org = serde_json::to_value(&acme).unwrap();
    assert_keys(&org, "createdAt id logo metadata name slug");
    assert_eq!(org["id"], acme.id.as_str());
    assert_eq!(org["slug"], "acme");
    assert_eq!(org["metadata"], r#"{"plan":"pro"}"#);
    assert!(is_iso_date(&org["createdAt"]));
    // Creating an organization makes it the session's active one, and the
    // session says so (and lists it so).
    let found = w.a.auth.get_session(token).await.unwrap().expect("valid");
    assert_eq!(
        serde_json::to_value(&*found).unwrap()["session"]["activeOrganizationId"],
        acme.id.as_str()
    );
    let listed = w.a.auth.list_sessions(&ada.user.id).await.unwrap();
    assert_eq!(
        listed[0].active_organization_id.as_deref(),
        Some(acme.id.as_str())
    );
    let members = o.list_members(token, &acme.id).await.unwrap();
    let member = serde_json::to_value(&members[0]).unwrap();
    assert_keys(&member, "createdAt id organizationId role userId");
    assert_eq!(member["organizationId"], acme.id.as_str());
    assert_eq!(member["role"], "owner");
    let inv = o
        .invite_member(token, &acme.id, &bob.user.email, "member", &meta())
        .await
        .unwrap();
    let invitation = serde_json::to_value(&inv).unwrap();
    assert_keys(
        &invitation,
        "createdAt email expiresAt id inviterId organizationId role status",
    );
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["inviterId"], ada.user.id.as_str());
    assert!(is_iso_date(&invitation["expiresAt"]));

    // API key: metadata only.
    let created = ci_key(o, token, acme.id).await;
    let key = serde_json::to_value(&created.record).unwrap();
    assert_keys(
        &key,
        "createdAt enabled expiresAt id lastRefillAt lastRequest name organizationId permissions prefix rateLimitEnabled rateLimitMax rateLimitTimeWindow referenceId refillAmount refillInterval remaining requestCount start updatedAt",
    );
    assert_eq!(key["updatedAt"], key["createdAt"]);
    assert_eq!(key["referenceId"], ada.user.id.as_str());
    assert_eq!(
        key["permissions"],
        serde_json::json!({"invitation": ["create"]})
    );
    assert_eq!(key["lastRequest"], Value::Null);
    assert!(is_iso_date(&key["expiresAt"]));

    // No view carries a secret: not the session tokens, password hashes,
    // the API key or its hash, nor an invitation secret's hash.
    let mut secrets = stored_secrets(&w).await;
    secrets.push(created.key.clone());
    secrets.push(hash_key(&created.key));
    secrets.push(PASSWORD.to_owned());
    for json in [&user, &session, &both, &org, &member, &invitation, &key] {
        assert_no_secret(&json.to_string(), &secrets);
    }
    let sessions = w.a.auth.list_sessions(&ada.user.id).await.unwrap();
    assert!(!sessions.is_empty());
    assert_no_secret(&serde_json::to_string(&sessions).unwrap(), &secrets);
}
