//! Identity: guest sessions, sign-up and log-in, token renewal and revocation.
//!
//! Nothing here keeps a session: every mutation answers with a signed token
//! (or refuses with `userErrors`), and the only identity state in the store is
//! accounts and each owner's "valid after" time. Guest carts move into the
//! customer's carts at sign-up or log-in (see [`merge`](super::merge)).

use super::error::{ApiError, ApiResult};
use super::merge::{CartMergeResult, CartMergeStrategy, checked_guest, merge_guest_into};
use super::types::{UserErrorView, ViewerView, user_errors};
use super::{require_admin, require_viewer};
use crate::auth::password::PasswordError;
use crate::auth::throttle::Subject;
use crate::auth::token::Grant;
use crate::auth::{ClientAddress, Issuer, Viewer, ViewerKind};
use crate::domain::account::{Account, Email, MAX_PASSWORD_CHARS, check_password};
use crate::domain::merge::MergeStrategy;
use crate::domain::{ErrorCode, UserError as DomainError};
use crate::services::Services;
use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// A token and who it speaks for, or why none was issued.
#[derive(SimpleObject, Default)]
pub struct AuthPayload {
    /// The bearer token to send as `Authorization: Bearer <token>`; `null` when refused.
    pub token: Option<String>,
    /// When the token expires; renew it before then.
    pub expires_at: Option<DateTime<Utc>>,
    /// Who the token speaks for.
    pub viewer: Option<ViewerView>,
    /// What moving the guest's carts did; `null` without `guestToken`, or when the merge was refused.
    pub merge: Option<CartMergeResult>,
    /// Why something was refused. With a token but errors, the log-in
    /// worked and only the cart merge was refused (nothing was merged).
    pub user_errors: Vec<UserErrorView>,
}

impl AuthPayload {
    fn refused(error: DomainError) -> AuthPayload {
        AuthPayload {
            user_errors: user_errors(vec![error]),
            ..AuthPayload::default()
        }
    }
}

/// Creates an account.
#[derive(InputObject)]
pub struct SignUpInput {
    /// Trimmed and lowercased; one account per address.
    pub email: String,
    /// See `WEAK_PASSWORD` for the rule.
    pub password: String,
    /// A guest token whose carts move into the new account.
    pub guest_token: Option<String>,
}

/// Logs in to an account.
#[derive(InputObject)]
pub struct LogInInput {
    /// The account's email (case and surrounding spaces do not matter).
    pub email: String,
    /// The account's password.
    pub password: String,
    /// A guest token whose carts move into the account's carts.
    pub guest_token: Option<String>,
    /// What to do when both have lines in a cart of the same name.
    #[graphql(default_with = "CartMergeStrategy::Combine")]
    pub merge: CartMergeStrategy,
}

/// Whose tokens `revokeTokens` revokes.
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
pub enum TokenOwnerKind {
    /// A customer of the built-in issuer (`signUp`/`logIn`, `cartql token`).
    Customer,
    /// A guest.
    Guest,
    /// A customer of the external identity provider.
    External,
}

/// Names a viewer whose tokens to revoke.
#[derive(InputObject)]
pub struct RevokeTokensInput {
    /// The viewer id (the tokens' `sub`).
    pub subject: String,
    /// Which kind of viewer.
    #[graphql(default_with = "TokenOwnerKind::Customer")]
    pub kind: TokenOwnerKind,
}

/// The identity mutations.
#[derive(Default)]
pub struct IdentityMutation;

#[Object]
impl IdentityMutation {
    /// A new anonymous guest: a signed guest token with a fresh id. Its carts
    /// are resources like anyone's and move to an account at sign-up or log-in.
    async fn start_guest_session(&self, ctx: &Context<'_>) -> ApiResult<AuthPayload> {
        let services = Services::of(ctx);
        if let Some(client) = ctx.data_opt::<ClientAddress>() {
            let key = client.throttle_key();
            let now = services.clock.now();
            let keys = [(Subject::GuestSessionClient, key.as_str())];
            if let Err(until) = services.throttle.reserve(&keys, now).await? {
                return Ok(AuthPayload::refused(throttled(
                    "too many guest sessions from this address",
                    until,
                    now,
                )));
            }
        }
        let subject = ulid::Ulid::new().to_string();
        start_session(ctx, &subject, ViewerKind::Guest, None).await
    }

    /// Creates an account and logs in; with `guestToken`, the guest's carts
    /// move in. Nothing is created when a `userError` is returned. Sign-ups
    /// from one client address are limited per hour (`THROTTLED`).
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> ApiResult<AuthPayload> {
        let id = Services::of(ctx);
        let email = match Email::parse(&input.email) {
            Ok(email) => email,
            Err(why) => {
                let error = DomainError::new(ErrorCode::InvalidEmail, &["email"], why);
                return Ok(AuthPayload::refused(error));
            }
        };
        if let Err(error) = check_password(&input.password, &email) {
            return Ok(AuthPayload::refused(error));
        }
        let guest = match checked_guest(ctx, input.guest_token.as_deref()).await? {
            Ok(guest) => guest,
            Err(error) => return Ok(AuthPayload::refused(error)),
        };
        let taken = || {
            let message = "an account with this email exists; log in instead";
            AuthPayload::refused(DomainError::new(ErrorCode::EmailTaken, &["email"], message))
        };
        // Counted before the email is looked up: EMAIL_TAKEN answers are
        // limited too (they tell which emails have accounts).
        let client = ctx
            .data_opt::<ClientAddress>()
            .map(ClientAddress::throttle_key);
        let keys: Vec<(Subject, &str)> = client
            .iter()
            .map(|c| (Subject::SignUpClient, c.as_str()))
            .collect();
        if let Err(until) = id.throttle.reserve(&keys, id.clock.now()).await? {
            return Ok(AuthPayload::refused(throttled(
                "too many sign-ups from this address",
                until,
                id.clock.now(),
            )));
        }
        if id.store.account(&email).await?.is_some() {
            return Ok(taken());
        }
        let password_hash = match id.passwords.hash(input.password).await {
            Ok(hash) => hash,
            Err(PasswordError::Busy) => {
                // Never tried: the attempt is not held against the address.
                id.throttle.give_back(&keys).await?;
                return Ok(AuthPayload::refused(busy()));
            }
            Err(e) => return Err(e.into()),
        };
        let account = Account {
            id: ulid::Ulid::new().to_string(),
            email,
            password_hash,
            created_at: id.clock.now(),
        };
        if !id.store.create_account(&account).await? {
            return Ok(taken());
        }
        log_in_as(ctx, &account, guest, MergeStrategy::Combine).await
    }

    /// Logs in; with `guestToken`, the guest's carts move in by `merge`.
    /// An unknown email and a wrong password get the same answer. Repeated
    /// failures for one email or from one address are refused for a while
    /// (`THROTTLED`); an attempt counts before its password is checked, so
    /// attempts sent all at once are throttled like attempts one by one.
    async fn log_in(&self, ctx: &Context<'_>, input: LogInInput) -> ApiResult<AuthPayload> {
        let id = Services::of(ctx);
        let email_key = throttle_key(&input.email);
        let client = ctx
            .data_opt::<ClientAddress>()
            .map(ClientAddress::throttle_key);
        let client_keys: Vec<(Subject, &str)> = client
            .iter()
            .map(|c| (Subject::Client, c.as_str()))
            .collect();
        let mut keys = vec![(Subject::Email, email_key.as_str())];
        keys.extend(&client_keys);
        let guest = match checked_guest(ctx, input.guest_token.as_deref()).await? {
            Ok(guest) => guest,
            Err(error) => return Ok(AuthPayload::refused(error)),
        };
        if let Err(until) = id.throttle.reserve(&keys, id.clock.now()).await? {
            return Ok(AuthPayload::refused(throttled(
                "too many failed log-ins for this email or from this address",
                until,
                id.clock.now(),
            )));
        }
        let account = match Email::parse(&input.email) {
            Ok(email) => id.store.account(&email).await?,
            Err(_) => None,
        };
        // No account can have a longer password, so this leaks nothing; it
        // keeps hostile input from reaching the hasher.
        let plausible = input.password.chars().count() <= MAX_PASSWORD_CHARS;
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let matches = plausible
            && match id.passwords.verify(input.password, stored).await {
                Ok(matches) => matches,
                Err(PasswordError::Busy) => {
                    // Never tried: the attempt is not held against anyone.
                    id.throttle.give_back(&keys).await?;
                    return Ok(AuthPayload::refused(busy()));
                }
                Err(e) => return Err(e.into()),
            };
        let Some(account) = account.filter(|_| matches) else {
            let message = "the email or the password is wrong";
            let error = DomainError::new(ErrorCode::InvalidCredentials, &[], message);
            return Ok(AuthPayload::refused(error));
        };
        id.throttle.clear(Subject::Email, &email_key).await?;
        id.throttle.give_back(&client_keys).await?;
        log_in_as(ctx, &account, guest, input.merge.into()).await
    }

    /// A fresh token for the viewer of a valid built-in token: same subject,
    /// kind and roles. A customer's lasts the configured lifetime from now,
    /// but never past the session's maximum age (`--max-session-age` after
    /// the log-in); a token with roles keeps its own expiry. A renewal never
    /// outlives a `logOutEverywhere` that finished before it answered.
    async fn renew_token(&self, ctx: &Context<'_>) -> ApiResult<AuthPayload> {
        let viewer = require_viewer(ctx)?;
        if viewer.issuer == Issuer::External {
            let why = "tokens of the external identity provider are renewed there";
            return Err(ApiError::BadUserInput(why.into()));
        }
        let id = Services::of(ctx);
        // The time is taken before the revocation record is read: a log-out
        // that writes after the read writes a later time than this `iat`.
        let now = id.clock.now().timestamp();
        let valid_after = id.store.valid_after(&viewer.owner_key()).await?;
        if valid_after.is_some_and(|after| viewer.is_revoked_by(after)) {
            return Err(ApiError::TokenRevoked);
        }
        let Some(expires_at) = id.lifetimes.renewal_expiry(viewer, now) else {
            return Err(ApiError::SessionTooOld);
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
        signed(id, &grant)
    }

    /// Admin only: makes every token issued until now to the viewer `subject`
    /// of `kind` fail, as if that viewer had called `logOutEverywhere` (a
    /// stolen token, a dismissed employee's admin token).
    async fn revoke_tokens(&self, ctx: &Context<'_>, input: RevokeTokensInput) -> ApiResult<bool> {
        require_admin(ctx)?;
        crate::auth::token::check_subject(&input.subject)
            .map_err(|e| ApiError::BadUserInput(format!("subject: {e}")))?;
        let (issuer, kind) = match input.kind {
            TokenOwnerKind::Customer => (Issuer::BuiltIn, ViewerKind::Customer),
            TokenOwnerKind::Guest => (Issuer::BuiltIn, ViewerKind::Guest),
            TokenOwnerKind::External => (Issuer::External, ViewerKind::Customer),
        };
        let owner = crate::auth::owner_key(issuer, kind, &input.subject);
        let services = Services::of(ctx);
        services
            .store
            .log_out_everywhere(&owner, services.clock.now().timestamp())
            .await?;
        Ok(true)
    }

    /// Makes every token issued to the viewer until now fail (this one
    /// included), on every device: the next request with one is a 401.
    /// Log in again for a new token.
    async fn log_out_everywhere(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let viewer = require_viewer(ctx)?;
        let services = Services::of(ctx);
        services
            .store
            .log_out_everywhere(&viewer.owner_key(), services.clock.now().timestamp())
            .await?;
        Ok(true)
    }
}

/// `THROTTLED`, saying for how long.
fn throttled(what: &str, until: DateTime<Utc>, now: DateTime<Utc>) -> DomainError {
    let seconds = (until - now).num_seconds().max(1);
    let message = format!("{what}; try again in {seconds} s");
    DomainError::new(ErrorCode::Throttled, &[], message)
}

/// `THROTTLED` when the password hashing queue is full.
fn busy() -> DomainError {
    let message = "the server is busy checking passwords; try again in a few seconds";
    DomainError::new(ErrorCode::Throttled, &[], message)
}

/// Issues a customer token for `subject` (a new session) and merges the
/// guest's carts, if any.
async fn log_in_as(
    ctx: &Context<'_>,
    account: &Account,
    guest: Option<Viewer>,
    strategy: MergeStrategy,
) -> ApiResult<AuthPayload> {
    let mut payload =
        start_session(ctx, &account.id, ViewerKind::Customer, Some(&account.email)).await?;
    if let (Some(guest), Some(customer)) = (guest, &payload.viewer) {
        match merge_guest_into(ctx, &guest, &customer.0, strategy).await? {
            Ok(result) => payload.merge = Some(result),
            Err(errors) => payload.user_errors = user_errors(errors),
        }
    }
    Ok(payload)
}

/// Signs the first token of a session for `subject`. Its `iat` is no earlier
/// than the subject's revocation time, so a log-in right after a
/// `logOutEverywhere` in the same second is not refused.
async fn start_session(
    ctx: &Context<'_>,
    subject: &str,
    kind: ViewerKind,
    email: Option<&Email>,
) -> ApiResult<AuthPayload> {
    let id = Services::of(ctx);
    let now = id.clock.now().timestamp();
    let owner = crate::auth::owner_key(Issuer::BuiltIn, kind, subject);
    let valid_after = id.store.valid_after(&owner).await?;
    let grant = Grant {
        subject,
        kind,
        roles: &[],
        issued_at: valid_after.unwrap_or(now).max(now),
        now,
        expires_at: now.saturating_add(id.lifetimes.of(kind).num_seconds()),
        auth_time: now,
        email,
    };
    signed(id, &grant)
}

/// Signs `grant` and describes the token (the viewer it speaks for is what
/// the grant says, as verifying the token would read it back).
fn signed(id: &Services, grant: &Grant<'_>) -> ApiResult<AuthPayload> {
    let (token, expires_at) = id.keys().sign(grant).map_err(ApiError::internal)?;
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
    Ok(AuthPayload {
        token: Some(token),
        expires_at: Some(expires_at),
        viewer: Some(ViewerView(viewer)),
        ..AuthPayload::default()
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
