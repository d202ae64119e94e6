//! [`Mailer`]: how the host app sends the password-reset, verification and
//! invitation emails; [`RecordingMailer`] keeps them in memory (for tests and
//! development).

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use neutrino_core::BoxError;

/// Which email this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EmailKind {
    /// A password-reset link (`/reset-password/<token>?callbackURL=…`).
    ResetPassword,
    /// An email-verification link (`/verify-email?token=<jwt>&callbackURL=…`).
    VerifyEmail,
    /// An invitation to an organization
    /// (`/accept-invitation/<invitationId>?token=<secret>`): the secret lets the
    /// invitee sign up through it
    /// ([`crate::org::Organizations::sign_up_with_invitation`]); `user_id` is
    /// empty.
    Invitation,
    /// A link that changes the account's address to the recipient's
    /// (`/verify-email?token=<jwt>&callbackURL=…`, sent to the new address by
    /// [`crate::Auth::change_email`]).
    ChangeEmail,
    /// A link that deletes the account once its owner, signed in, opens it
    /// (`/delete-user/callback?token=…&callbackURL=…`, sent by
    /// [`crate::Auth::request_delete_user`] when deletion goes by link).
    DeleteAccount,
}

/// An email to send. It carries a secret token (also inside `url`), so its
/// `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// Which email.
    pub kind: EmailKind,
    /// The recipient.
    pub to: String,
    /// The user's ID.
    pub user_id: String,
    /// The link to put in the message.
    pub url: String,
    /// The token alone, for hosts that build their own link.
    pub token: String,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// Sends emails; implemented by the host app (SMTP, an email API, a queue).
///
/// # Contract
/// * `send` returns once the message is accepted for delivery; an error is
///   reported to the caller as a `Backend` error of the `mailer` (in `AuthError::Store`) (and for password resets is
///   not revealed to the requester).
/// * Implementations must not log the token or URL.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug + 'static {
    /// Sends one email.
    async fn send(&self, email: Email) -> Result<(), BoxError>;
}

/// A [`Mailer`] that keeps every email in memory.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use neutrino::auth::mail::{Email, EmailKind, Mailer, RecordingMailer};
/// let mailer = RecordingMailer::new();
/// mailer.send(Email { kind: EmailKind::VerifyEmail, to: "a@b.co".into(), user_id: "u".into(),
///                     url: "https://x/verify".into(), token: "t".into() }).await.unwrap();
/// assert_eq!(mailer.sent()[0].to, "a@b.co");
/// # }
/// ```
#[derive(Clone, Default)]
pub struct RecordingMailer {
    sent: Arc<Mutex<Vec<Email>>>,
}

impl RecordingMailer {
    /// An empty mailer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every email sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The most recent email of `kind` sent to `to`.
    pub fn last_to(&self, to: &str, kind: EmailKind) -> Option<Email> {
        self.sent()
            .into_iter()
            .rev()
            .find(|e| e.to == to && e.kind == kind)
    }
}

impl fmt::Debug for RecordingMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.sent.lock().map(|v| v.len()).unwrap_or(0);
        f.debug_struct("RecordingMailer").field("sent", &n).finish()
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, email: Email) -> Result<(), BoxError> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(email);
        Ok(())
    }
}
