//! API key hashing, as Better Auth does it. The behaviour of API keys is in
//! the conformance suite (`neutrino_auth::testkit::api_keys`).

use neutrino_auth::apikey::hash_key;

#[test]
fn keys_are_hashed_as_better_auth_does() {
    // base64url without padding of SHA-256("abc").
    assert_eq!(
        hash_key("abc"),
        "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    );
}
