//! Two-factor authentication with TOTP and backup codes, as Better Auth's
//! two-factor plugin does it.
//!
//! * TOTP: RFC 6238 with HMAC-SHA-1, 6 digits, 30 s steps, ±1 step accepted;
//!   the key is the UTF-8 bytes of the secret string (Better Auth's choice),
//!   the `otpauth://` URI carries it in base32.
//! * The secret and the 10 backup codes (`XXXXX-XXXXX`) are stored in the
//!   `twoFactor` table encrypted with XChaCha20-Poly1305 under SHA-256 of the
//!   platform secret, as `hex(nonce ‖ ciphertext ‖ tag)`: Better Auth's
//!   `symmetricEncrypt` format, so either side reads the other's rows.
//! * Sign-in of a user with two-factor on ([`crate::Auth::sign_in_email_2fa`]) gives
//!   a pending challenge instead of a session; [`crate::Auth::verify_totp`] or
//!   [`crate::Auth::verify_backup_code`] completes it. A code is accepted once per
//!   time step (no replay), a backup code once, and 5 wrong codes end the
//!   challenge (`TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE`).
//! * Every one of these rules is decided by the database in the write that
//!   acts on it, so concurrent calls cannot get around them: an attempt is
//!   reserved by a conditional update before the code is evaluated (at most 5
//!   evaluations per challenge); the session is created in one batch with the
//!   challenge's consumption (guarded on the challenge still being there) and
//!   with a unique marker of the TOTP step (`neutrinoUsedCode`), or with the
//!   swap of the encrypted backup-code list guarded on the ciphertext the
//!   code was found in.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use neutrino_core::clock::SharedClock;
use neutrino_core::ids::UserId;
use neutrino_core::sql::{Dialect, SqlExecutor, Statement, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::audit::{self, AuditEvent, AuditRecord, WriteAudited};
use crate::credential::Credentials;
use crate::date;
use crate::error::{AuthError, Result};
use crate::gate::PlatformGate;
use crate::model::{RequestMeta, Session, SignedIn};
use crate::random::{random_id, random_string};
use crate::rows;
use crate::session::{self, GetSessionOptions, SessionConfig, SessionStore};
use crate::stmt::insert_where;

/// TOTP period.
pub const PERIOD: u64 = 30;
/// TOTP digits.
pub const DIGITS: u32 = 6;
/// Number of backup codes.
pub const BACKUP_CODES: usize = 10;
/// Wrong codes allowed per sign-in challenge.
pub const MAX_ATTEMPTS: u32 = 5;
/// Lifetime of a trusted device (Better Auth's `trustDeviceMaxAge`, 30
/// days): its `trust_device` cookie's Max-Age and its row's.
pub const TRUST_DEVICE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The identifier prefix of trusted-device rows in `verification`.
const TRUST_PREFIX: &str = "trust-device-";
/// Deletes every trusted device of user `?1`.
const FORGET_TRUSTED_DEVICES: &str =
    r#"DELETE FROM "verification" WHERE "value" = ?1 AND "identifier" LIKE 'trust-device-%'"#;
/// Lifetime of a sign-in challenge (Better Auth's `two_factor` cookie, 10 min).
pub const CHALLENGE_TTL: Duration = Duration::from_secs(600);

/// What a password sign-in gives.
#[derive(Debug)]
pub enum SignInOutcome {
    /// Signed in: a session.
    SignedIn(Box<SignedIn>),
    /// The user has two-factor on: complete this challenge.
    TwoFactorRequired(TwoFactorChallenge),
}

/// What [`crate::Auth::sign_in_email_trusting`] gives: the sign-in's outcome
/// and, when a trusted device skipped the second factor, the new value for
/// its `trust_device` cookie (the old value no longer works).
#[derive(Debug)]
pub struct TrustedSignIn {
    /// The sign-in's outcome.
    pub outcome: SignInOutcome,
    /// The trusted device's new cookie value (`<token>!trust-device-…`, to
    /// sign into the cookie), when one was used.
    pub trust_device: Option<String>,
}

/// A pending two-factor sign-in (Better Auth's `2fa-…` identifier, carried in
/// its signed `two_factor` cookie).
#[derive(Clone)]
pub struct TwoFactorChallenge {
    /// The challenge identifier, to send back with the code.
    pub id: String,
}

impl fmt::Debug for TwoFactorChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TwoFactorChallenge")
    }
}

/// What [`crate::Auth::enable_two_factor`] answers: shown once.
#[derive(Clone)]
pub struct TwoFactorSetup {
    /// `otpauth://totp/…` for an authenticator app.
    pub totp_uri: String,
    /// 10 single-use backup codes.
    pub backup_codes: Vec<String>,
}

impl fmt::Debug for TwoFactorSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TwoFactorSetup")
    }
}

/// RFC 4226 HOTP with HMAC-SHA-1 over `key`, `digits` digits, zero-padded.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(key) else {
        // HMAC takes keys of any length; this branch is never taken.
        return String::new();
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[off]) & 0x7f) << 24
        | u32::from(h[off + 1]) << 16
        | u32::from(h[off + 2]) << 8
        | u32::from(h[off + 3]);
    let m = 10u64.pow(digits.min(9));
    format!(
        "{:0width$}",
        u64::from(bin) % m,
        width = digits.min(9) as usize
    )
}

/// RFC 6238 TOTP at `unix_secs` (30 s steps).
pub fn totp(key: &[u8], unix_secs: u64, digits: u32) -> String {
    hotp(key, unix_secs / PERIOD, digits)
}

/// RFC 4648 base32 without padding.
pub fn base32(data: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in data {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(A[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(A[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Better Auth's `symmetricEncrypt`: XChaCha20-Poly1305 under SHA-256(`secret`),
/// `hex(nonce24 ‖ ciphertext ‖ tag16)`.
pub fn symmetric_encrypt(secret: &[u8], plain: &str) -> Result<String> {
    let cipher = XChaCha20Poly1305::new(&Sha256::digest(secret));
    let mut nonce = [0u8; 24];
    crate::random::fill(&mut nonce)?;
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
        .map_err(|_| AuthError::corrupt("encryption input"))?;
    let mut all = nonce.to_vec();
    all.extend(ct);
    Ok(hex::encode(all))
}

/// Reverses [`symmetric_encrypt`]; a tampered or foreign value is `Corrupt`.
pub fn symmetric_decrypt(secret: &[u8], data: &str) -> Result<String> {
    let bad = || AuthError::corrupt("twoFactor encrypted value");
    let raw = hex::decode(data).map_err(|_| bad())?;
    if raw.len() < 24 + 16 {
        return Err(bad());
    }
    let cipher = XChaCha20Poly1305::new(&Sha256::digest(secret));
    let plain = cipher
        .decrypt(XNonce::from_slice(&raw[..24]), &raw[24..])
        .map_err(|_| bad())?;
    String::from_utf8(plain).map_err(|_| bad())
}

fn backup_code() -> Result<String> {
    let s = random_string(10)?;
    Ok(format!("{}-{}", &s[..5], &s[5..]))
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time step (−1, 0, +1 around `now`) in which `code` is valid, if any.
fn matching_step(secret: &str, code: &str, now: SystemTime) -> Option<u64> {
    let step = unix(now) / PERIOD;
    let code = code.trim();
    if code.len() != DIGITS as usize {
        return None;
    }
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| {
            hotp(secret.as_bytes(), *s, DIGITS)
                .as_bytes()
                .ct_eq(code.as_bytes())
                .into()
        })
}

const SELECT_2FA: &str =
    r#"SELECT "id", "secret", "backupCodes", "verified" FROM "twoFactor" WHERE "userId" = ?1"#;

struct Row2fa {
    id: String,
    secret: String,
    codes: Vec<String>,
    verified: bool,
    /// The stored ciphertexts, for writes guarded on them being unchanged.
    enc_secret: String,
    enc_codes: String,
}

/// Two-factor authentication of one auth database: TOTP setup, backup
/// codes, and the sign-in challenge. Holds what it needs (the database, the
/// platform secret that encrypts the stored secrets, the clock, the platform
/// gate, the session store and the credentials for password checks) and
/// never imports [`crate::Auth`]; [`crate::Auth`]'s two-factor methods call it.
pub(crate) struct TwoFactor {
    pub(crate) db: Arc<dyn SqlExecutor>,
    pub(crate) secret: Arc<[u8]>,
    pub(crate) clock: SharedClock,
    pub(crate) gate: Arc<PlatformGate>,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) session_config: SessionConfig,
    pub(crate) credentials: Credentials,
}

impl TwoFactor {
    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    pub(crate) async fn two_factor_enabled(&self, user: &UserId) -> Result<bool> {
        let row = self
            .db
            .query(
                &Statement::new(r#"SELECT "twoFactorEnabled" FROM "user" WHERE "id" = ?1"#)
                    .bind(user.as_str()),
            )
            .await?
            .into_iter()
            .next();
        Ok(match row {
            Some(r) => r.get::<Option<bool>>(0)?.unwrap_or(false),
            None => false,
        })
    }

    /// The user's two-factor row, once setup was verified
    /// (`TWO_FACTOR_NOT_ENABLED` otherwise).
    async fn verified_2fa(&self, user: &UserId) -> Result<Row2fa> {
        self.load_2fa(user)
            .await?
            .filter(|r| r.verified)
            .ok_or(AuthError::TwoFactorNotEnabled)
    }

    /// The start of a sign-in challenge's code check: the platform accepts
    /// writes, an attempt is reserved and the user is not banned.
    async fn attempt(&self, challenge: &TwoFactorChallenge) -> Result<Challenge> {
        self.gate.ensure_writable().await?;
        let mut ch = self.reserve_attempt(&challenge.id).await?;
        self.refuse_banned(&ch.user).await?;
        // The second step of a password sign-in: refused when a tenant
        // requires SSO for the user's email (the session insert checks it
        // again).
        let email = self
            .db
            .query(
                &Statement::new(r#"SELECT "email" FROM "user" WHERE "id" = ?1"#)
                    .bind(ch.user.as_str()),
            )
            .await?
            .into_iter()
            .next()
            .ok_or(AuthError::InvalidCode)?;
        ch.email = email.get(0)?;
        crate::sso::ensure_password_allowed(&*self.db, &ch.email).await?;
        Ok(ch)
    }

    async fn load_2fa(&self, user: &UserId) -> Result<Option<Row2fa>> {
        let Some(r) = self
            .db
            .query(&Statement::new(SELECT_2FA).bind(user.as_str()))
            .await?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let enc_secret: String = r.get(1)?;
        let enc_codes: String = r.get(2)?;
        let secret = symmetric_decrypt(&self.secret, &enc_secret)?;
        let codes: Vec<String> =
            serde_json::from_str(&symmetric_decrypt(&self.secret, &enc_codes)?)
                .map_err(|_| AuthError::corrupt("twoFactor.backupCodes"))?;
        let verified: Option<bool> = r.get(3)?;
        Ok(Some(Row2fa {
            id: r.get(0)?,
            secret,
            codes,
            verified: verified.unwrap_or(true),
            enc_secret,
            enc_codes,
        }))
    }

    /// `session_user` for a call that writes: once the store
    /// is writable.
    async fn writing_user(&self, token: &str) -> Result<(UserId, String, String)> {
        self.gate.ensure_writable().await?;
        self.session_user(token).await
    }

    /// [`TwoFactor::writing_user`] for a call that also needs the account
    /// password: checked before anything is written.
    async fn proven_user(&self, token: &str, password: &str) -> Result<(UserId, String, String)> {
        let caller = self.writing_user(token).await?;
        self.credentials.check(&caller.0, password).await?;
        Ok(caller)
    }

    /// The caller behind `token` (read from the database) as its user's ID
    /// and email and the session's ID.
    async fn session_user(&self, token: &str) -> Result<(UserId, String, String)> {
        let s = self
            .sessions
            .get(token, GetSessionOptions::default())
            .await?
            .ok_or(AuthError::Unauthorized)?;
        Ok((s.user.id, s.user.email.clone(), s.session.id.clone()))
    }

    /// Better Auth's `POST /two-factor/enable` (TOTP): checks the password and
    /// stores a new encrypted secret and backup codes, not yet verified; the
    /// first code accepted by [`TwoFactor::verify_two_factor_setup`] turns
    /// two-factor on.
    pub(crate) async fn enable_two_factor(
        &self,
        token: &str,
        password: &str,
        issuer: &str,
        meta: &RequestMeta,
    ) -> Result<TwoFactorSetup> {
        let (user, email, session_id) = self.proven_user(token, password).await?;
        let secret = random_string(32)?;
        let codes = (0..BACKUP_CODES)
            .map(|_| backup_code())
            .collect::<Result<Vec<_>>>()?;
        let enc_secret = symmetric_encrypt(&self.secret, &secret)?;
        let enc_codes = symmetric_encrypt(
            &self.secret,
            &serde_json::to_string(&codes).map_err(|_| AuthError::corrupt("backup codes"))?,
        )?;
        let now = self.now();
        self.db
            .write_audited(vec![
                Statement::new(FORGET_TRUSTED_DEVICES).bind(user.as_str()),
                Statement::new(r#"DELETE FROM "twoFactor" WHERE "userId" = ?1"#)
                    .bind(user.as_str()),
                Statement::new(
                    r#"INSERT INTO "twoFactor" ("id", "secret", "backupCodes", "userId", "verified", "failedVerificationCount") VALUES (?1, ?2, ?3, ?4, 0, 0)"#,
                )
                .bind(random_id()?)
                .bind(enc_secret)
                .bind(enc_codes)
                .bind(user.as_str())], audit::insert(
                    AuditEvent::BackupCodesGenerated,
                    AuditRecord {
                        detail: Some("two-factor setup started".into()),
                        ..AuditRecord::in_session(user.as_str(), &session_id)
                    },
                    meta,
                    now,
                )?)
            .await?;
        Ok(TwoFactorSetup {
            totp_uri: totp_uri(&secret, issuer, &email),
            backup_codes: codes,
        })
    }

    /// Accepts the first TOTP code of a new setup: two-factor is on from now.
    pub(crate) async fn verify_two_factor_setup(
        &self,
        token: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let (user, _, session_id) = self.writing_user(token).await?;
        let row = self
            .load_2fa(&user)
            .await?
            .ok_or(AuthError::TwoFactorNotEnabled)?;
        let now = self.now();
        let Some(step) = matching_step(&row.secret, code, now) else {
            return Err(AuthError::InvalidCode);
        };
        let writes = vec![
            Statement::new(r#"UPDATE "twoFactor" SET "verified" = 1 WHERE "id" = ?1"#)
                .bind(row.id.as_str()),
            Statement::new(
                r#"UPDATE "user" SET "twoFactorEnabled" = 1, "updatedAt" = ?1 WHERE "id" = ?2"#,
            )
            .bind(date::format(now))
            .bind(user.as_str()),
            used_step_statement(&user, step, now, None),
        ];
        let entry = audit::insert(
            AuditEvent::TwoFactorEnabled,
            AuditRecord::in_session(user.as_str(), &session_id),
            meta,
            now,
        )?;
        match self.db.write_audited(writes, entry).await {
            Ok(_) => {
                // Cached sessions carry the user's `twoFactorEnabled`.
                self.sessions.forget_user(user.as_str());
                Ok(())
            }
            // The step was used meanwhile: one code, one use.
            Err(e) if e.is_already_exists() => Err(AuthError::InvalidCode),
            Err(e) => Err(e.into()),
        }
    }

    /// Better Auth's `POST /two-factor/get-totp-uri`: the `otpauth://` URI of
    /// the user's TOTP secret, once the password is checked. Errors:
    /// `UNAUTHORIZED`, `TWO_FACTOR_NOT_ENABLED` (no setup; checked first, as
    /// Better Auth does, which names it `TOTP_NOT_ENABLED`),
    /// `INVALID_PASSWORD`, `CREDENTIAL_ACCOUNT_NOT_FOUND`.
    pub(crate) async fn totp_uri(
        &self,
        token: &str,
        password: &str,
        issuer: &str,
    ) -> Result<String> {
        let (user, email, _) = self.session_user(token).await?;
        let row = self
            .load_2fa(&user)
            .await?
            .ok_or(AuthError::TwoFactorNotEnabled)?;
        self.credentials.check(&user, password).await?;
        Ok(totp_uri(&row.secret, issuer, &email))
    }

    /// Better Auth's trust token of `identifier` for `user`:
    /// `base64url_nopad(HMAC-SHA-256(secret, "<userId>!<identifier>"))`.
    fn trust_mac(&self, user: &UserId, identifier: &str) -> Result<String> {
        use base64::Engine as _;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .map_err(|e| AuthError::internal("trust device key", e))?;
        mac.update(format!("{user}!{identifier}").as_bytes());
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// A new trusted device of `user`: its identifier and the cookie value
    /// `<token>!<identifier>` (the value Better Auth signs into its
    /// `trust_device` cookie).
    fn new_trust(&self, user: &UserId) -> Result<(String, String)> {
        let identifier = format!("{TRUST_PREFIX}{}", random_string(32)?);
        let value = format!("{}!{identifier}", self.trust_mac(user, &identifier)?);
        Ok((identifier, value))
    }

    /// The identifier a trust cookie value names, if the value is `user`'s
    /// (its token is the MAC of that user and identifier) and names a
    /// trusted-device row: forged values, another user's and other kinds of
    /// rows give `None`.
    fn trusted_identifier(&self, user: &UserId, value: &str) -> Option<String> {
        let (token, identifier) = value.split_once('!')?;
        let rest = identifier.strip_prefix(TRUST_PREFIX)?;
        if rest.is_empty() || rest.len() > 64 || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let want = self.trust_mac(user, identifier).ok()?;
        bool::from(want.as_bytes().ct_eq(token.as_bytes())).then(|| identifier.to_owned())
    }

    /// Trusts the device of session `token` for [`TRUST_DEVICE_TTL`] (Better
    /// Auth's `trustDevice: true` on a verified second factor): a
    /// `trust-device-…` row, and the value for the `trust_device` cookie.
    pub(crate) async fn trust_device(&self, token: &str) -> Result<String> {
        let (user, _, session_id) = self.writing_user(token).await?;
        let (identifier, value) = self.new_trust(&user)?;
        let now = self.now();
        // Only while the session and the user's two-factor setup are there.
        let out = self
            .db
            .execute(
                &Statement::new(
                    r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") SELECT ?1, ?2, ?3, ?4, ?5, ?5 WHERE EXISTS (SELECT 1 FROM "session" WHERE "id" = ?6 AND "userId" = ?3) AND EXISTS (SELECT 1 FROM "user" WHERE "id" = ?3 AND "twoFactorEnabled" = 1)"#,
                )
                .bind(random_id()?)
                .bind(identifier)
                .bind(user.as_str())
                .bind(date::format(now + TRUST_DEVICE_TTL))
                .bind(date::format(now))
                .bind(session_id),
            )
            .await?;
        if out.rows_affected == 0 {
            return Err(AuthError::Unauthorized);
        }
        Ok(value)
    }

    /// The refresh of a trusted device at sign-in: when `cookie` is `user`'s
    /// valid trust value, the statement that moves its row to a new
    /// identifier (acting only while the old row is live and `user`'s, so
    /// one trust value signs in once) and the new row's identifier and
    /// cookie value. `None` when the value is not `user`'s.
    pub(crate) fn refresh_trust(
        &self,
        user: &UserId,
        cookie: &str,
        now: SystemTime,
    ) -> Result<Option<(Statement, String, String)>> {
        let Some(old) = self.trusted_identifier(user, cookie) else {
            return Ok(None);
        };
        let (identifier, value) = self.new_trust(user)?;
        let rename = Statement::new(
            r#"UPDATE "verification" SET "identifier" = ?1, "expiresAt" = ?2, "createdAt" = ?3, "updatedAt" = ?3 WHERE "identifier" = ?4 AND "value" = ?5 AND "expiresAt" > ?3"#,
        )
        .bind(identifier.as_str())
        .bind(date::format(now + TRUST_DEVICE_TTL))
        .bind(date::format(now))
        .bind(old)
        .bind(user.as_str());
        Ok(Some((rename, identifier, value)))
    }

    /// Better Auth's `POST /two-factor/generate-backup-codes`: checks the
    /// password and replaces the backup codes with 10 new ones (the old ones
    /// stop working).
    pub(crate) async fn generate_backup_codes(
        &self,
        token: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<Vec<String>> {
        let (user, _, session_id) = self.proven_user(token, password).await?;
        let row = self
            .load_2fa(&user)
            .await?
            .ok_or(AuthError::TwoFactorNotEnabled)?;
        let codes = (0..BACKUP_CODES)
            .map(|_| backup_code())
            .collect::<Result<Vec<_>>>()?;
        let enc = symmetric_encrypt(
            &self.secret,
            &serde_json::to_string(&codes).map_err(|_| AuthError::corrupt("backup codes"))?,
        )?;
        self.db
            .write_audited(
                vec![
                    Statement::new(r#"UPDATE "twoFactor" SET "backupCodes" = ?1 WHERE "id" = ?2"#)
                        .bind(enc)
                        .bind(row.id.as_str()),
                ],
                audit::insert(
                    AuditEvent::BackupCodesGenerated,
                    AuditRecord::in_session(user.as_str(), &session_id),
                    meta,
                    self.now(),
                )?,
            )
            .await?;
        Ok(codes)
    }

    /// Better Auth's `POST /two-factor/disable`: checks the password and
    /// deletes the user's two-factor row.
    pub(crate) async fn disable_two_factor(
        &self,
        token: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<()> {
        let (user, _, session_id) = self.proven_user(token, password).await?;
        let now = self.now();
        self.db
            .write_audited(
                vec![
                Statement::new(FORGET_TRUSTED_DEVICES).bind(user.as_str()),
                Statement::new(r#"DELETE FROM "twoFactor" WHERE "userId" = ?1"#)
                    .bind(user.as_str()),
                Statement::new(
                    r#"UPDATE "user" SET "twoFactorEnabled" = 0, "updatedAt" = ?1 WHERE "id" = ?2"#,
                )
                .bind(date::format(now))
                .bind(user.as_str())],
                audit::insert(
                    AuditEvent::TwoFactorDisabled,
                    AuditRecord::in_session(user.as_str(), &session_id),
                    meta,
                    now,
                )?,
            )
            .await?;
        self.sessions.forget_user(user.as_str());
        Ok(())
    }

    /// Creates a sign-in challenge for `user` (a `2fa-…` verification row).
    pub(crate) async fn start_two_factor(
        &self,
        user: &UserId,
        remember_me: bool,
        _meta: &RequestMeta,
    ) -> Result<TwoFactorChallenge> {
        let id = format!("2fa-{}", random_string(20)?);
        let now = self.now();
        let value = serde_json::json!({
            "userId": user.as_str(),
            "attempts": 0,
            "rememberMe": remember_me,
        })
        .to_string();
        self.db
            .execute(
                &Statement::new(
                    r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt") VALUES (?1, ?2, ?3, ?4, ?5, ?5)"#,
                )
                .bind(random_id()?)
                .bind(id.as_str())
                .bind(value)
                .bind(date::format(now + CHALLENGE_TTL))
                .bind(date::format(now)),
            )
            .await?;
        Ok(TwoFactorChallenge { id })
    }

    /// Reserves one evaluation of a code on challenge `id`: a conditional
    /// update that counts the attempt only while fewer than
    /// [`MAX_ATTEMPTS`] were made and the challenge is live, checked before
    /// any code is looked at. Unknown or expired: `INVALID_CODE`; out of
    /// attempts: `TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE`.
    async fn reserve_attempt(&self, id: &str) -> Result<Challenge> {
        if !id.starts_with("2fa-") || id.len() > 64 {
            return Err(AuthError::InvalidCode);
        }
        let now = date::format(self.now());
        let row = self
            .db
            .query(
                &Statement::new(match self.db.dialect() {
                    Dialect::Postgres => RESERVE_ATTEMPT_POSTGRES,
                    _ => RESERVE_ATTEMPT,
                })
                .bind(id)
                .bind(now.as_str())
                .bind(MAX_ATTEMPTS),
            )
            .await?
            .into_iter()
            .next();
        let Some(row) = row else {
            let live = self
                .db
                .query(
                    &Statement::new(
                        r#"SELECT 1 FROM "verification" WHERE "identifier" = ?1 AND "expiresAt" > ?2"#,
                    )
                    .bind(id)
                    .bind(now.as_str()),
                )
                .await?;
            return Err(if live.is_empty() {
                AuthError::InvalidCode
            } else {
                AuthError::TooManyAttempts
            });
        };
        let value: String = row.get(0)?;
        let bad = || AuthError::corrupt("verification.value");
        let v: serde_json::Value = serde_json::from_str(&value).map_err(|_| bad())?;
        let user = v
            .get("userId")
            .and_then(|u| u.as_str())
            .and_then(|u| u.parse().ok())
            .ok_or_else(bad)?;
        let attempts = v
            .get("attempts")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(u64::from(MAX_ATTEMPTS));
        let remember = v
            .get("rememberMe")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true);
        Ok(Challenge {
            id: id.to_owned(),
            user,
            attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
            remember,
            email: String::new(),
        })
    }

    /// A reserved attempt whose code was wrong (or already used): audited; the
    /// last one ends the challenge.
    async fn fail_challenge(&self, ch: &Challenge, meta: &RequestMeta) -> Result<AuthError> {
        let now = self.now();
        let audit_stmt = audit::insert(
            AuditEvent::TwoFactorFailed,
            AuditRecord {
                user_id: Some(ch.user.as_str()),
                detail: Some(format!("attempt {}", ch.attempt)),
                ..AuditRecord::default()
            },
            meta,
            now,
        )?;
        if ch.attempt >= MAX_ATTEMPTS {
            self.db
                .write_audited(
                    vec![
                        Statement::new(r#"DELETE FROM "verification" WHERE "identifier" = ?1"#)
                            .bind(ch.id.as_str()),
                    ],
                    audit_stmt,
                )
                .await?;
            return Ok(AuthError::TooManyAttempts);
        }
        self.db.execute(&audit_stmt).await?;
        Ok(AuthError::InvalidCode)
    }

    /// The statements that end challenge `ch` with a new session, all guarded
    /// so that they act only if the challenge is still live and `cond` (SQL
    /// with placeholders from `?1`, bound to `params`) holds: the session,
    /// its audit entry and the challenge's deletion. Returns the session and
    /// the statements; the session statement is the first.
    fn guarded_completion(
        &self,
        ch: &Challenge,
        cond: &str,
        params: Vec<Value>,
        meta: &RequestMeta,
        now: SystemTime,
    ) -> Result<(Session, Vec<Statement>)> {
        let (session, insert_session) =
            session::new_session(&self.session_config, &ch.user, ch.remember, meta, now)?;
        let mut live = vec![Value::from(ch.id.clone()), Value::from(date::format(now))];
        live.extend(params);
        // Never a session when a tenant requires SSO for the user's email
        // (still the one checked) when it is written.
        let pin = live.len() + 1;
        live.push(Value::from(ch.user.as_str()));
        live.push(Value::from(ch.email.as_str()));
        let mut sso = format!(
            r#"EXISTS (SELECT 1 FROM "user" WHERE "id" = ?{pin} AND "email" = ?{})"#,
            pin + 1
        );
        if let Some((guard, params)) = crate::sso::password_allowed_guard(&ch.email, live.len() + 1)
        {
            sso.push_str(" AND ");
            sso.push_str(&guard);
            live.extend(params);
        }
        // Never a session for a banned user, whenever the ban landed.
        live.push(Value::from(ch.user.as_str()));
        let cond = format!(
            "{LIVE_CHALLENGE} AND ({cond}) AND {sso} AND {}",
            session::not_banned(&format!("?{}", live.len()), "?2")
        );
        let insert_session = insert_where(&insert_session, &cond, live)?;
        let made = r#"EXISTS (SELECT 1 FROM "session" WHERE "id" = ?1)"#;
        let audit_stmt = insert_where(
            &audit::insert(
                AuditEvent::SignIn,
                AuditRecord {
                    detail: Some("two-factor".into()),
                    ..AuditRecord::in_session(ch.user.as_str(), &session.id)
                },
                meta,
                now,
            )?,
            made,
            vec![Value::from(session.id.clone())],
        )?;
        let consume = Statement::new(format!(
            r#"DELETE FROM "verification" WHERE "identifier" = ?1 AND {}"#,
            made.replace("?1", "?2")
        ))
        .bind(ch.id.as_str())
        .bind(session.id.as_str());
        Ok((session, vec![insert_session, audit_stmt, consume]))
    }

    /// `BANNED_USER` for a user whose ban is in force: no challenge of theirs
    /// completes (the session insert checks it again).
    async fn refuse_banned(&self, user: &UserId) -> Result<()> {
        let row = self
            .db
            .query(
                &Statement::new(r#"SELECT "banned", "banExpires" FROM "user" WHERE "id" = ?1"#)
                    .bind(user.as_str()),
            )
            .await?
            .into_iter()
            .next();
        if let Some(r) = row {
            let banned: Option<bool> = r.get(0)?;
            let expires: Option<String> = r.get(1)?;
            if session::ban_in_force(banned, expires.as_deref(), self.now()) {
                return Err(AuthError::BannedUser);
            }
        }
        Ok(())
    }

    async fn signed_in(&self, ch: &Challenge, session: Session) -> Result<SignedIn> {
        let user = rows::load_user(&*self.db, &ch.user)
            .await?
            .ok_or(AuthError::UserNotFound)?;
        Ok(SignedIn {
            user,
            session,
            remember_me: ch.remember,
        })
    }

    /// Better Auth's `POST /two-factor/verify-totp` for a sign-in challenge: a
    /// valid, unused code gives the session. Errors: `INVALID_CODE`,
    /// `TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE` (the fifth wrong code; the
    /// challenge is gone).
    ///
    /// Each call first reserves one of the challenge's 5 attempts in the
    /// database; the session is created in one batch with the challenge's
    /// consumption and a unique marker of the code's time step, so one code
    /// gives one session, whatever the number of concurrent challenges.
    pub(crate) async fn verify_totp(
        &self,
        challenge: &TwoFactorChallenge,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<SignedIn> {
        let ch = self.attempt(challenge).await?;
        let row = self.verified_2fa(&ch.user).await?;
        let now = self.now();
        let Some(step) = matching_step(&row.secret, code, now) else {
            return Err(self.fail_challenge(&ch, meta).await?);
        };
        let (session, rest) = self.guarded_completion(
            &ch,
            r#"EXISTS (SELECT 1 FROM "twoFactor" WHERE "id" = ?3 AND "secret" = ?4)"#,
            vec![
                Value::from(row.id.clone()),
                Value::from(row.enc_secret.clone()),
            ],
            meta,
            now,
        )?;
        // The marker first: a step already used aborts the whole batch.
        let mut batch = vec![used_step_statement(&ch.user, step, now, Some(&ch.id))];
        batch.extend(rest);
        match self.db.batch(&batch).await {
            Ok(out) if out.get(1).is_some_and(|o| o.rows_affected == 1) => {
                self.signed_in(&ch, session).await
            }
            // SSO became required, the challenge was consumed meanwhile, or
            // two-factor changed.
            Ok(_) => {
                crate::sso::ensure_password_allowed(&*self.db, &ch.email).await?;
                Err(AuthError::InvalidCode)
            }
            Err(e) if e.is_already_exists() => Err(self.fail_challenge(&ch, meta).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Better Auth's `POST /two-factor/verify-backup-code`: a backup code,
    /// consumed, gives the session.
    ///
    /// The code is removed by one update guarded on the stored ciphertext it
    /// was read from, in the batch that creates the session (retried when
    /// another code of the user was used meanwhile): a code gives one session.
    pub(crate) async fn verify_backup_code(
        &self,
        challenge: &TwoFactorChallenge,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<SignedIn> {
        let code = code.trim();
        let ch = self.attempt(challenge).await?;
        for _ in 0..BACKUP_CODE_RETRIES {
            let row = self.verified_2fa(&ch.user).await?;
            let Some(pos) = row
                .codes
                .iter()
                .position(|c| bool::from(c.as_bytes().ct_eq(code.as_bytes())))
            else {
                return Err(self.fail_challenge(&ch, meta).await?);
            };
            let mut rest = row.codes.clone();
            rest.remove(pos);
            let enc = symmetric_encrypt(
                &self.secret,
                &serde_json::to_string(&rest).map_err(|_| AuthError::corrupt("backup codes"))?,
            )?;
            let now = self.now();
            // The swap acts only on the ciphertext the code was found in and
            // while the challenge is live; the session only if the swap did
            // (the new ciphertext has a fresh nonce: nobody else wrote it).
            let swap = Statement::new(format!(
                r#"UPDATE "twoFactor" SET "backupCodes" = ?1 WHERE "id" = ?2 AND "backupCodes" = ?3 AND {}"#,
                LIVE_CHALLENGE.replace("?1", "?4").replace("?2", "?5")
            ))
            .bind(enc.as_str())
            .bind(row.id.as_str())
            .bind(row.enc_codes.as_str())
            .bind(ch.id.as_str())
            .bind(date::format(now));
            let (session, rest) = self.guarded_completion(
                &ch,
                r#"EXISTS (SELECT 1 FROM "twoFactor" WHERE "id" = ?3 AND "backupCodes" = ?4)"#,
                vec![Value::from(row.id.clone()), Value::from(enc)],
                meta,
                now,
            )?;
            let mut batch = vec![swap];
            batch.extend(rest);
            let out = self.db.batch(&batch).await?;
            if out.get(1).is_some_and(|o| o.rows_affected == 1) {
                return self.signed_in(&ch, session).await;
            }
            // SSO became required meanwhile.
            crate::sso::ensure_password_allowed(&*self.db, &ch.email).await?;
            // Lost a race: the codes changed, or the challenge is gone.
            let live = self
                .db
                .query(
                    &Statement::new(format!(r#"SELECT 1 WHERE {LIVE_CHALLENGE}"#))
                        .bind(ch.id.as_str())
                        .bind(date::format(self.now())),
                )
                .await?;
            if live.is_empty() {
                return Err(AuthError::InvalidCode);
            }
        }
        Err(AuthError::InvalidCode)
    }
}

/// How often a backup code is tried again when other codes of the user were
/// used concurrently.
const BACKUP_CODE_RETRIES: usize = 8;

/// The challenge `?1` exists and has not expired at `?2`.
const LIVE_CHALLENGE: &str =
    r#"EXISTS (SELECT 1 FROM "verification" WHERE "identifier" = ?1 AND "expiresAt" > ?2)"#;

/// Counts one attempt on a live challenge with fewer than `?3` attempts.
const RESERVE_ATTEMPT: &str = r#"UPDATE "verification" SET "value" = json_set("value", '$.attempts', COALESCE(json_extract("value", '$.attempts'), 0) + 1), "updatedAt" = ?2 WHERE "identifier" = ?1 AND "expiresAt" > ?2 AND COALESCE(json_extract("value", '$.attempts'), 0) < ?3 RETURNING "value""#;

/// [`RESERVE_ATTEMPT`] with PostgreSQL's `jsonb` functions.
const RESERVE_ATTEMPT_POSTGRES: &str = r#"UPDATE "verification" SET "value" = jsonb_set("value"::jsonb, '{attempts}', to_jsonb(COALESCE(("value"::jsonb ->> 'attempts')::bigint, 0) + 1))::text, "updatedAt" = ?2 WHERE "identifier" = ?1 AND "expiresAt" > ?2 AND COALESCE(("value"::jsonb ->> 'attempts')::bigint, 0) < ?3 RETURNING "value""#;

/// A sign-in challenge with one attempt reserved.
struct Challenge {
    id: String,
    user: UserId,
    /// This attempt's number, 1 to [`MAX_ATTEMPTS`].
    attempt: u32,
    remember: bool,
    /// The user's email when the attempt was reserved.
    email: String,
}

/// The unique marker of `user`'s time `step`: inserting it twice fails the
/// batch ([`neutrino_core::Error::AlreadyExists`]). With `challenge`, it is
/// inserted only while that challenge is live. It may be purged once the step
/// is out of the ±1 window.
fn used_step_statement(
    user: &UserId,
    step: u64,
    now: SystemTime,
    challenge: Option<&str>,
) -> Statement {
    let key = format!("totp:{user}:{step}");
    let expires = date::format(now + Duration::from_secs(3 * PERIOD));
    match challenge {
        None => {
            Statement::new(r#"INSERT INTO "neutrinoUsedCode" ("key", "expiresAt") VALUES (?1, ?2)"#)
                .bind(key)
                .bind(expires)
        }
        Some(id) => Statement::new(format!(
            r#"INSERT INTO "neutrinoUsedCode" ("key", "expiresAt") SELECT ?1, ?2 WHERE {}"#,
            LIVE_CHALLENGE.replace("?1", "?3").replace("?2", "?4")
        ))
        .bind(key)
        .bind(expires)
        .bind(id)
        .bind(date::format(now)),
    }
}

/// The `otpauth://` URI of `secret` for `email`, as Better Auth writes it.
fn totp_uri(secret: &str, issuer: &str, email: &str) -> String {
    let enc = crate::cookie::encode_uri_component;
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&digits={DIGITS}&period={PERIOD}",
        enc(issuer),
        enc(email),
        base32(secret.as_bytes()),
        form_encode(issuer)
    )
}

/// `value` as a query parameter of an HTML form (what Better Auth's
/// `URLSearchParams` writes): letters, digits and `*-._` as they are, a space
/// as `+`, every other byte percent-encoded.
fn form_encode(value: &str) -> String {
    const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'*')
        .remove(b'-')
        .remove(b'.')
        .remove(b'_');
    value
        .split(' ')
        .map(|part| percent_encoding::utf8_percent_encode(part, FORM).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_encoding_writes_what_url_search_params_writes() {
        assert_eq!(super::form_encode("Better Auth"), "Better+Auth");
        assert_eq!(super::form_encode("a*b-c.d_e"), "a*b-c.d_e");
        assert_eq!(super::form_encode("x!y~z(é)"), "x%21y%7Ez%28%C3%A9%29");
        assert_eq!(super::form_encode("a+b&c=d"), "a%2Bb%26c%3Dd");
    }

    use super::*;

    /// RFC 6238 appendix B, SHA-1, key "12345678901234567890" (8 digits).
    #[test]
    fn rfc_6238_sha1_test_vectors() {
        let key = b"12345678901234567890";
        for (t, want) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp(key, t, 8), want, "T={t}");
            assert_eq!(totp(key, t, 6), want[2..], "T={t}, 6 digits");
        }
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let want = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", i as u64, 6), *w);
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn encryption_round_trips_and_detects_tampering() {
        let secret = b"a secret of at least thirty-two bytes!";
        let enc = symmetric_encrypt(secret, "JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(enc.len(), 2 * (24 + 16 + 16));
        assert_eq!(symmetric_decrypt(secret, &enc).unwrap(), "JBSWY3DPEHPK3PXP");
        assert_ne!(enc, symmetric_encrypt(secret, "JBSWY3DPEHPK3PXP").unwrap());
        let mut bad = enc.clone().into_bytes();
        let last = bad.len() - 1;
        bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
        assert!(symmetric_decrypt(secret, std::str::from_utf8(&bad).unwrap()).is_err());
        assert!(symmetric_decrypt(b"another secret of thirty-two bytes!!", &enc).is_err());
        assert!(symmetric_decrypt(secret, "zz").is_err());
    }

    #[test]
    fn a_code_is_valid_one_step_either_side() {
        let secret = "abcdefghijklmnopqrstuvwxyz012345";
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let step = 1_700_000_000 / PERIOD;
        for (s, ok) in [
            (step - 2, false),
            (step - 1, true),
            (step, true),
            (step + 1, true),
            (step + 2, false),
        ] {
            let code = hotp(secret.as_bytes(), s, DIGITS);
            assert_eq!(matching_step(secret, &code, now).is_some(), ok, "step {s}");
        }
        assert!(matching_step(secret, "12345", now).is_none());
    }
}
