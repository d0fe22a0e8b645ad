//! Identity: guest sessions, sign-up and log-in, renewal and log-out.
//!
//! Nothing here keeps a session: each operation answers with a signed token
//! or refuses. The only identity state in the store is accounts and each
//! owner's "valid after" time. Every attempt that can be repeated to learn
//! something (a guest session, a sign-up, a log-in) is counted before
//! anything is looked up, in one throttle step, and given back when it was
//! never tried (the password queue was full) or when it succeeded.

use super::carts::{self, Merged};
use super::{AppError, Caller};
use crate::auth::password::PasswordError;
use crate::auth::token::Grant;
use crate::auth::verifier::VerifyError;
use crate::auth::{ClientAddress, Issuer, TokenError, Viewer, ViewerKind};
use crate::domain::account::{Account, Email, MAX_PASSWORD_CHARS, check_password};
use crate::domain::merge::MergeStrategy;
use crate::domain::rate::throttled;
use crate::domain::{ErrorCode, OwnerKey, Rejection, UserError};
use crate::services::Services;
use crate::store::throttle::Subject;
use chrono::{DateTime, Utc};

/// A signed token and who it speaks for.
#[derive(Clone, Debug)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Who it speaks for, as verifying it would read it back.
    pub viewer: Viewer,
}

/// A log-in (or sign-up) that worked, and what moving the guest's carts did.
#[derive(Debug)]
pub struct LoggedIn {
    /// The customer's new session.
    pub session: Session,
    /// With a guest token: the merge, or why it was refused (then nothing
    /// was merged, but the log-in stands).
    pub merged: Option<Result<Merged, Rejection>>,
}

/// An email and password as the client sent them, with an optional guest
/// token whose carts move in.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// As typed: trimmed and lowercased here.
    pub email: &'a str,
    /// As typed.
    pub password: &'a str,
    /// A guest token (from a guest session).
    pub guest_token: Option<&'a str>,
}

/// Why a token was not renewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenewRefused {
    /// The token is the external identity provider's: renewed there.
    External,
    /// `logOutEverywhere` revoked it.
    Revoked,
    /// The session is past its maximum age.
    TooOld,
    /// A token given as data was not accepted (see [`renew_given`]).
    Invalid(crate::auth::TokenError),
}

/// A new anonymous guest with a fresh id. Guest sessions from one client
/// address are limited per hour.
pub async fn start_guest_session(
    services: &Services,
    client: Option<&ClientAddress>,
) -> Result<Result<Session, UserError>, AppError> {
    let key = client.map(ClientAddress::throttle_key);
    let keys: Vec<(Subject, &str)> = key
        .iter()
        .map(|k| (Subject::GuestSessionClient, k.as_str()))
        .collect();
    if let Err(refused) =
        reserve(services, &keys, "too many guest sessions from this address").await?
    {
        return Ok(Err(refused));
    }
    let subject = ulid::Ulid::new().to_string();
    start_session(services, &subject, ViewerKind::Guest, None)
        .await
        .map(Ok)
}

/// Creates an account and logs in; with a guest token, the guest's carts
/// move in (combined). Nothing is created when it is refused. `EMAIL_TAKEN`
/// answers are counted like any sign-up: they tell which emails have
/// accounts.
pub async fn sign_up(
    services: &Services,
    client: Option<&ClientAddress>,
    credentials: Credentials<'_>,
) -> Result<Result<LoggedIn, UserError>, AppError> {
    let email = match Email::parse(credentials.email) {
        Ok(email) => email,
        Err(why) => {
            return Ok(Err(UserError::new(
                ErrorCode::InvalidEmail,
                &["email"],
                why,
            )));
        }
    };
    if let Err(error) = check_password(credentials.password, &email) {
        return Ok(Err(error));
    }
    let guest = match checked_guest(services, credentials.guest_token).await? {
        Ok(guest) => guest,
        Err(error) => return Ok(Err(error)),
    };
    let taken = || {
        let message = "an account with this email exists; log in instead";
        UserError::new(ErrorCode::EmailTaken, &["email"], message)
    };
    let key = client.map(ClientAddress::throttle_key);
    let keys: Vec<(Subject, &str)> = key
        .iter()
        .map(|k| (Subject::SignUpClient, k.as_str()))
        .collect();
    if let Err(refused) = reserve(services, &keys, "too many sign-ups from this address").await? {
        return Ok(Err(refused));
    }
    if services.store.account(&email).await?.is_some() {
        return Ok(Err(taken()));
    }
    let password_hash = match services
        .passwords
        .hash(credentials.password.to_string())
        .await
    {
        Ok(hash) => hash,
        Err(PasswordError::Busy) => {
            // Never tried: the attempt is not held against the address.
            services.throttle.give_back(&keys).await?;
            return Ok(Err(busy()));
        }
        Err(e) => return Err(e.into()),
    };
    let account = Account {
        id: ulid::Ulid::new().to_string(),
        email,
        password_hash,
        created_at: services.clock.now(),
    };
    if !services.store.create_account(&account).await? {
        return Ok(Err(taken()));
    }
    log_in_as(services, client, &account, guest, MergeStrategy::Combine)
        .await
        .map(Ok)
}

/// Logs in; with a guest token, the guest's carts move in by `strategy`.
/// An unknown email and a wrong password get the same answer. Failures for
/// one email or from one address are limited; an attempt counts before its
/// password is checked, so attempts sent all at once are throttled like
/// attempts one by one. Success forgets the email's failures.
pub async fn log_in(
    services: &Services,
    client: Option<&ClientAddress>,
    credentials: Credentials<'_>,
    strategy: MergeStrategy,
) -> Result<Result<LoggedIn, UserError>, AppError> {
    let email_key = throttle_key(credentials.email);
    let client_key = client.map(ClientAddress::throttle_key);
    let client_keys: Vec<(Subject, &str)> = client_key
        .iter()
        .map(|c| (Subject::Client, c.as_str()))
        .collect();
    let mut keys = vec![(Subject::Email, email_key.as_str())];
    keys.extend(&client_keys);
    let guest = match checked_guest(services, credentials.guest_token).await? {
        Ok(guest) => guest,
        Err(error) => return Ok(Err(error)),
    };
    let why = "too many failed log-ins for this email or from this address";
    if let Err(refused) = reserve(services, &keys, why).await? {
        return Ok(Err(refused));
    }
    let account = match Email::parse(credentials.email) {
        Ok(email) => services.store.account(&email).await?,
        Err(_) => None,
    };
    // No account can have a longer password, so this leaks nothing; it
    // keeps hostile input from reaching the hasher.
    let plausible = credentials.password.chars().count() <= MAX_PASSWORD_CHARS;
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let matches = plausible
        && match services
            .passwords
            .verify(credentials.password.to_string(), stored)
            .await
        {
            Ok(matches) => matches,
            Err(PasswordError::Busy) => {
                // Never tried: the attempt is not held against anyone.
                services.throttle.give_back(&keys).await?;
                return Ok(Err(busy()));
            }
            Err(e) => return Err(e.into()),
        };
    let Some(account) = account.filter(|_| matches) else {
        let message = "the email or the password is wrong";
        return Ok(Err(UserError::new(
            ErrorCode::InvalidCredentials,
            &[],
            message,
        )));
    };
    services.throttle.clear(Subject::Email, &email_key).await?;
    services.throttle.give_back(&client_keys).await?;
    log_in_as(services, client, &account, guest, strategy)
        .await
        .map(Ok)
}

/// A fresh token for the viewer of a valid built-in token: same subject,
/// kind and roles. A customer's lasts the configured lifetime from now, but
/// never past the session's maximum age; a token with roles keeps its own
/// expiry. A renewal never outlives a log-out everywhere that finished
/// before it answered.
pub async fn renew(
    services: &Services,
    viewer: &Viewer,
) -> Result<Result<Session, RenewRefused>, AppError> {
    if viewer.issuer == Issuer::External {
        return Ok(Err(RenewRefused::External));
    }
    // The time is taken before the revocation record is read: a log-out
    // that writes after the read writes a later time than this `iat`.
    let now = services.clock.now().timestamp();
    let valid_after = services.store.valid_after(&viewer.owner_key()).await?;
    if viewer.is_revoked_by(valid_after) {
        return Ok(Err(RenewRefused::Revoked));
    }
    let Some(expires_at) = services.lifetimes.renewal_expiry(viewer, now) else {
        return Ok(Err(RenewRefused::TooOld));
    };
    let grant = Grant {
        subject: &viewer.id,
        kind: viewer.kind,
        roles: &viewer.roles,
        issued_at: valid_after.unwrap_or(now).max(now),
        now,
        expires_at,
        auth_time: viewer.auth_time.unwrap_or(now),
        email: viewer.email.as_ref(),
    };
    signed(services, &grant).map(Ok)
}

/// [`renew`] for a built-in token given as data rather than as the bearer:
/// a guest's may have expired up to the guest renewal window ago (the guest
/// cart lifetime), so a guest who comes back while its cart lives reaches
/// it; others must be unexpired. Revoked tokens are refused either way.
pub async fn renew_given(
    services: &Services,
    token: &str,
) -> Result<Result<Session, RenewRefused>, AppError> {
    let window = services.lifetimes.guest_renewal_window;
    match services.verifier.verify_for_renewal(token, window).await {
        Ok(viewer) => renew(services, &viewer).await,
        Err(VerifyError::Invalid(TokenError::Revoked)) => Ok(Err(RenewRefused::Revoked)),
        Err(VerifyError::Invalid(why)) => Ok(Err(RenewRefused::Invalid(why))),
        Err(VerifyError::Unavailable(e)) => Err(AppError::RevocationUnavailable(e)),
    }
}

/// Makes every token issued to `owner` until now fail, on every device.
pub async fn log_out_everywhere(services: &Services, owner: &OwnerKey) -> Result<(), AppError> {
    let now = services.clock.now().timestamp();
    services.store.log_out_everywhere(owner, now).await?;
    Ok(())
}

/// The guest a guest token speaks for: a valid, unrevoked built-in guest
/// token, or `INVALID_GUEST_TOKEN` (the inner `Err`).
pub async fn checked_guest(
    services: &Services,
    token: Option<&str>,
) -> Result<Result<Option<Viewer>, UserError>, AppError> {
    let Some(token) = token else {
        return Ok(Ok(None));
    };
    match services.verifier.verify_guest(token).await {
        Ok(guest) => Ok(Ok(Some(guest))),
        Err(VerifyError::Invalid(why)) => Ok(Err(UserError::new(
            ErrorCode::InvalidGuestToken,
            &["guestToken"],
            format!("the guest token cannot be used: {why}"),
        ))),
        Err(VerifyError::Unavailable(e)) => Err(AppError::RevocationUnavailable(e)),
    }
}

/// Counts one attempt for each of `keys`; `THROTTLED` saying `what` and how
/// long to wait when one of them is blocked (then nothing is counted).
async fn reserve(
    services: &Services,
    keys: &[(Subject, &str)],
    what: &str,
) -> Result<Result<(), UserError>, AppError> {
    let now = services.clock.now();
    Ok(services
        .throttle
        .reserve(keys, now)
        .await?
        .map_err(|until| throttled(what, until - now)))
}

/// `THROTTLED` when the password hashing queue is full.
fn busy() -> UserError {
    let message = "the server is busy checking passwords; try again in a few seconds";
    UserError::new(ErrorCode::Throttled, &[], message)
}

/// Starts a customer session for `account` and merges the guest's carts, if
/// any.
async fn log_in_as(
    services: &Services,
    client: Option<&ClientAddress>,
    account: &Account,
    guest: Option<Viewer>,
    strategy: MergeStrategy,
) -> Result<LoggedIn, AppError> {
    let session = start_session(
        services,
        &account.id,
        ViewerKind::Customer,
        Some(&account.email),
    )
    .await?;
    let merged = match guest {
        None => None,
        Some(guest) => {
            let caller = Caller {
                viewer: &session.viewer,
                client,
            };
            Some(carts::merge_guest(services, caller, &guest, strategy).await?)
        }
    };
    Ok(LoggedIn { session, merged })
}

/// Signs the first token of a session for `subject`. Its `iat` is no earlier
/// than the subject's revocation time, so a log-in right after a log-out
/// everywhere in the same second is not refused.
async fn start_session(
    services: &Services,
    subject: &str,
    kind: ViewerKind,
    email: Option<&Email>,
) -> Result<Session, AppError> {
    let now = services.clock.now().timestamp();
    let owner = crate::auth::owner_key(Issuer::BuiltIn, kind, subject);
    let valid_after = services.store.valid_after(&owner).await?;
    let grant = Grant {
        subject,
        kind,
        roles: &[],
        issued_at: valid_after.unwrap_or(now).max(now),
        now,
        expires_at: now.saturating_add(services.lifetimes.of(kind).num_seconds()),
        auth_time: now,
        email,
    };
    signed(services, &grant)
}

/// Signs `grant`; the viewer is what the grant says, as verifying the token
/// would read it back.
fn signed(services: &Services, grant: &Grant<'_>) -> Result<Session, AppError> {
    let (token, expires_at) = services.keys().sign(grant).map_err(AppError::Sign)?;
    let viewer = Viewer {
        id: grant.subject.to_string(),
        kind: grant.kind,
        roles: grant.roles.to_vec(),
        expires_at,
        issued_at: Some(grant.issued_at.max(grant.now)),
        auth_time: Some(grant.auth_time),
        issuer: Issuer::BuiltIn,
        email: grant.email.cloned(),
    };
    Ok(Session {
        token,
        expires_at,
        viewer,
    })
}

/// The email as throttling counts it: normalised like [`Email::parse`] does,
/// and bounded so hostile input cannot grow the counters.
fn throttle_key(email: &str) -> String {
    email
        .trim()
        .to_lowercase()
        .chars()
        .take(Email::MAX_LEN + 1)
        .collect()
}
