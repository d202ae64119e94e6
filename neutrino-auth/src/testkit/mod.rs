//! The auth conformance suite: every behaviour of the auth layer that a SQL
//! backend must show, run against any backend by
//! [`auth_suite!`](crate::auth_suite).
//!
//! * [`fixtures`]: the stores a case runs on ([`AuthStores`], from the
//!   backend's factory) and what cases build on them: an [`Auth`](crate::Auth)
//!   with the suite's settings, platforms with their
//!   [`Organizations`](crate::org::Organizations) ([`organizations()`] is the one
//!   place that constructs them), and [`two_orgs`] (two tenants and their
//!   people, and a tenant of a second platform);
//! * behaviour cases by concern: [`sessions`] (sign-up, sign-in, sign-out,
//!   sessions, cookies), [`security`] (origins, rate limits, mailed tokens,
//!   the audit log), [`bad_input`], [`json`],
//!   [`organizations`](mod@organizations), [`authority`], [`suspension`],
//!   [`invitations`], [`proof_of_address`], [`two_factor`], [`api_keys`],
//!   [`idp`] (a real OpenID Connect provider on loopback for sign-in tests),
//!   [`lifecycle`] (update, delete, get-full-organization, organization keys),
//!   [`admin`](mod@admin) (the admin plugin's user routes);
//! * [`race`]: every single-use, counted or unique rule attacked with many
//!   simultaneous calls (also runnable alone by
//!   [`auth_race_suite!`](crate::auth_race_suite));
//! * [`matrix`]: the cross-tenant matrix, one row per public operation that
//!   takes a tenant, a record of one or another user's credential, and
//!   [`scan`], which finds those operations in the sources so that a new one
//!   without a row fails a test.
//!
//! Each case gets fresh stores from the factory and a manual clock, and uses
//! fresh random users and tenants.

pub mod admin;
pub mod api_keys;
pub mod audited;
pub mod authority;
pub mod bad_input;
pub mod fixtures;
pub mod idp;
pub mod invitations;
pub mod json;
pub mod lifecycle;
pub mod matrix;
pub mod organizations;
pub mod proof_of_address;
pub mod race;
pub mod scan;
pub mod security;
pub mod seed;
pub mod sessions;
pub mod sso;
pub mod suspension;
pub mod two_factor;

pub use admin::*;
pub use api_keys::*;
pub use audited::*;
pub use authority::*;
pub use bad_input::*;
pub use fixtures::*;
pub use invitations::*;
pub use json::*;
pub use lifecycle::*;
pub use matrix::cross_tenant_matrix_refuses_every_operation_on_another_tenant;
pub use organizations::*;
pub use proof_of_address::*;
pub use race::*;
pub use security::*;
pub use seed::*;
pub use sessions::*;
pub use sso::*;
pub use suspension::*;
pub use two_factor::*;

#[doc(hidden)]
pub use neutrino_core as __core;

/// Runs the whole suite: the behaviour cases, the cross-tenant matrix and
/// the race suite. `$factory` is an `async fn(ManualClock) -> (AuthStores,
/// Guard)` that makes fresh, empty stores (the guard lives until the case
/// ends); stores that measure time (KV TTLs) use the clock given.
///
/// Each case is one line of the list below and one `pub async
/// fn(&AuthStores, &ManualClock)` in the module of its concern.
#[macro_export]
macro_rules! auth_suite {
    ($factory:path) => {
        mod auth_conformance {
            #[allow(unused_imports)]
            use super::*;
            $crate::__auth_run!($factory);
            $crate::testkit::__core::__conformance_cases!(
                run,
                [
                    // sign-up, sign-in, sign-out, sessions, cookies
                    sign_up_writes_better_auth_rows_and_the_cookie_validates,
                    duplicate_emails_and_disabled_sign_up_are_refused,
                    sign_in_answers_the_same_for_unknown_emails_and_wrong_passwords,
                    sign_out_deletes_the_session,
                    sessions_slide_expire_and_are_deleted_on_sight,
                    remember_me_off_gives_a_one_day_session_and_browser_cookie,
                    revocation_one_all_and_all_others,
                    changing_the_password_can_revoke_other_sessions,
                    purge_expired_deletes_only_expired_sessions,
                    better_auth_scrypt_users_sign_in_and_are_rehashed,
                    the_cache_serves_repeat_validations_and_documents_its_lag,
                    with_the_cache_on_every_revocation_path_takes_effect_at_once,
                    with_the_cache_on_a_session_shows_its_active_organization_at_once,
                    cookies_are_scoped_platform_wide_or_host_only,
                    tampered_cookies_are_refused,
                    configuration_is_validated_and_debug_hides_secrets,
                    malformed_cookies_and_tokens,
                    // security: origins, rate limits, mailed tokens, the audit log
                    origin_check_follows_better_auth_rules,
                    sign_in_is_rate_limited_per_ip_and_path,
                    password_reset_tokens_are_single_use_and_expire,
                    email_verification_tokens_are_single_use_and_expire,
                    the_audit_log_is_append_only,
                    // bad input
                    huge_and_unicode_passwords,
                    unicode_and_malformed_emails_and_names,
                    // JSON views
                    model_types_serialize_as_better_auth_shows_them_without_secrets,
                    // organizations and roles
                    creating_an_organization_creates_its_tenant_owner_and_active_scope,
                    a_request_names_its_tenant_and_the_membership_is_checked_every_time,
                    sub_organizations_are_sub_tenants_and_need_rights_on_the_parent,
                    role_rules_and_last_owner_cases,
                    host_apps_extend_the_policy_with_their_own_resources,
                    platform_admins_manage_every_tenant_of_their_platform_only,
                    operator_access_is_recorded_in_the_platform_log_and_the_tenants,
                    // the organization lifecycle
                    updating_an_organization_needs_the_right_and_the_tenant_follows,
                    deleting_an_organization_deletes_its_tenant_and_everything_of_it,
                    deleting_an_organization_clears_it_from_cached_sessions_at_once,
                    a_deletion_interrupted_between_its_databases_is_finished_by_reconcile,
                    get_full_organization_answers_better_auths_shape_to_members_only,
                    organization_keys_outlive_their_creator_and_die_with_the_organization,
                    // authority and suspension
                    a_refused_sub_organization_leaves_nothing_pending,
                    operator_paths_need_a_name_and_a_reason_and_are_audited,
                    a_suspended_platform_refuses_every_state_change_and_changes_nothing,
                    a_deleted_platform_answers_not_found_to_every_state_change,
                    writes_racing_a_suspension_stop_once_it_returns,
                    // invitations and proof of address
                    listing_invitations_needs_invitation_create_and_hides_owner_invitations,
                    with_required_verification_sign_up_gives_no_session_and_does_not_tell_addresses_apart,
                    reset_and_verification_requests_answer_the_same_for_every_address,
                    an_invitation_that_could_not_be_mailed_is_withdrawn,
                    invite_accept_reject_cancel_and_list,
                    get_invitation_shows_the_invitee_only,
                    invitations_expire_after_48_hours_and_are_limited_per_tenant,
                    pending_invitations_per_tenant_are_limited,
                    with_sign_up_disabled_an_invitation_is_the_only_way_in,
                    // two-factor
                    totp_two_factor_end_to_end,
                    trusted_devices_skip_the_second_factor_for_their_user_only,
                    deletion_links_delete_their_owner_once,
                    // API keys
                    a_tenant_key_mints_the_tenant_scope_and_is_stored_hashed,
                    platform_keys_work_on_their_platform_only_and_die_with_membership,
                    a_key_refused_because_its_owner_left_keeps_its_uses,
                    an_api_key_update_renames_it_and_stamps_updated_at,
                    an_organization_lists_its_own_keys_to_members_who_may_read_them,
                    // the admin plugin's user routes
                    admin_routes_manage_users_sessions_and_passwords,
                    // per-tenant SSO
                    sso_providers_belong_to_their_tenant_admins,
                    a_domain_is_verified_by_one_tenant_at_most_even_concurrently,
                    sign_in_routes_only_to_a_verified_domain,
                    sso_required_refuses_passwords_for_the_domain_in_every_spelling,
                    sso_required_switched_on_before_the_write_refuses_it,
                    an_sso_sign_in_racing_its_providers_removal_links_nothing,
                    a_provider_id_with_accounts_cannot_be_registered,
                    sso_sign_in_links_only_vouched_emails_and_joins_once,
                    sso_secrets_stay_out_of_debug_errors_and_rows,
                    // the cross-tenant matrix
                    cross_tenant_matrix_refuses_every_operation_on_another_tenant,
                    audited_changes_write_their_entry_only_when_the_change_happens,
                ]
            );
        }
        $crate::auth_race_suite!($factory);
    };
}

/// Defines `run!(case)` for [`auth_suite!`](crate::auth_suite): a fresh
/// manual clock and stores from `$factory`, kept until the case ends.
#[doc(hidden)]
#[macro_export]
macro_rules! __auth_run {
    ($factory:path) => {
        macro_rules! run {
            ($case:ident) => {{
                let clock = ::neutrino_core::clock::ManualClock::new();
                let (stores, _guard) = $factory(clock.clone()).await;
                $crate::testkit::$case(&stores, &clock).await;
            }};
        }
    };
}

/// Runs the race suite alone (it is also part of
/// [`auth_suite!`](crate::auth_suite)): `$factory` as for `auth_suite!`.
#[macro_export]
macro_rules! auth_race_suite {
    ($factory:path) => {
        mod auth_race {
            #[allow(unused_imports)]
            use super::*;
            $crate::__auth_race_cases!(
                $factory,
                [
                    wrong_codes_are_evaluated_at_most_five_times_per_challenge,
                    one_totp_code_gives_one_session_across_concurrent_challenges,
                    one_backup_code_gives_one_session_across_concurrent_challenges,
                    one_challenge_gives_at_most_one_session,
                    one_trust_value_signs_in_once_under_concurrency,
                    concurrent_add_member_makes_one_membership,
                    concurrent_accepts_make_one_membership_and_removal_ends_access,
                    accept_racing_cancel_leaves_one_consistent_outcome,
                    concurrent_sign_ins_from_one_address_stay_within_the_limit,
                    a_store_that_cannot_count_atomically_is_refused,
                    a_key_with_n_uses_left_verifies_exactly_n_times_under_concurrency,
                    a_rate_limited_key_verifies_at_most_max_times_per_window_under_concurrency,
                    deleting_an_organization_racing_joins_and_keys_leaves_nothing_usable,
                    concurrent_stops_of_one_impersonation_restore_the_admin_once,
                    concurrent_creations_of_one_address_make_one_user,
                    concurrent_unlinks_never_remove_the_last_account,
                ]
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __auth_race_cases {
    ($factory:path, [$($case:ident),* $(,)?]) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let clock = ::neutrino_core::clock::ManualClock::new();
                let (stores, _guard) = $factory(clock.clone()).await;
                $crate::testkit::$case(&stores, &clock).await;
            }
        )*
    };
}
