//! Identity: guest sessions, sign-up and log-in, token renewal and revocation.
//!
//! Nothing here keeps a session: every mutation answers with a signed token
//! (or refuses with `userErrors`), and the only identity state in the store is
//! accounts and each owner's "valid after" time. Guest carts move into the
//! customer's carts at sign-up or log-in (see [`merge`](super::merge)).

use super::access::{require_admin, require_viewer};
use super::error::{ApiError, ApiResult};
use super::merge::{CartMergeResult, CartMergeStrategy, describe};
use super::types::{UserErrorView, ViewerView, user_errors};
use crate::app::identity::{self, Credentials, LoggedIn, RenewRefused, Session};
use crate::auth::{ClientAddress, Issuer, ViewerKind};
use crate::domain::UserError as DomainError;
use crate::domain::merge::MergeStrategy;
use crate::services::Services;
use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// A token to renew, given as data.
#[derive(InputObject)]
pub struct RenewTokenInput {
    /// A token this server issued; a guest's may have expired (up to
    /// `Viewer.renewableUntil`).
    #[graphql(validator(max_length = 8192))]
    pub token: String,
}

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

    fn session(session: Session) -> AuthPayload {
        AuthPayload {
            token: Some(session.token),
            expires_at: Some(session.expires_at),
            viewer: Some(ViewerView(session.viewer)),
            ..AuthPayload::default()
        }
    }

    /// A log-in's answer: the session and the merge, or why the merge was
    /// refused (the log-in stands).
    fn logged_in(
        services: &Services,
        answer: Result<LoggedIn, DomainError>,
        strategy: MergeStrategy,
    ) -> AuthPayload {
        let LoggedIn { session, merged } = match answer {
            Ok(logged_in) => logged_in,
            Err(error) => return AuthPayload::refused(error),
        };
        let customer = session.viewer.clone();
        let mut payload = AuthPayload::session(session);
        match merged {
            None => {}
            Some(Ok(merged)) => {
                payload.merge = Some(describe(services, &customer, strategy, merged));
            }
            Some(Err(rejection)) => payload.user_errors = user_errors(rejection.into_user_errors()),
        }
        payload
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
    /// Guest sessions from one client address are limited per hour (`THROTTLED`).
    async fn start_guest_session(&self, ctx: &Context<'_>) -> ApiResult<AuthPayload> {
        let services = Services::of(ctx);
        let client = ctx.data_opt::<ClientAddress>();
        Ok(
            match identity::start_guest_session(services, client).await? {
                Ok(session) => AuthPayload::session(session),
                Err(error) => AuthPayload::refused(error),
            },
        )
    }

    /// Creates an account and logs in; with `guestToken`, the guest's carts
    /// move in. Nothing is created when a `userError` is returned. Sign-ups
    /// from one client address are limited per hour (`THROTTLED`).
    async fn sign_up(&self, ctx: &Context<'_>, input: SignUpInput) -> ApiResult<AuthPayload> {
        let services = Services::of(ctx);
        let credentials = Credentials {
            email: &input.email,
            password: &input.password,
            guest_token: input.guest_token.as_deref(),
        };
        let client = ctx.data_opt::<ClientAddress>();
        let answer = identity::sign_up(services, client, credentials).await?;
        Ok(AuthPayload::logged_in(
            services,
            answer,
            MergeStrategy::Combine,
        ))
    }

    /// Logs in; with `guestToken`, the guest's carts move in by `merge`.
    /// An unknown email and a wrong password get the same answer. Repeated
    /// failures for one email or from one address are refused for a while
    /// (`THROTTLED`); an attempt counts before its password is checked, so
    /// attempts sent all at once are throttled like attempts one by one.
    async fn log_in(&self, ctx: &Context<'_>, input: LogInInput) -> ApiResult<AuthPayload> {
        let services = Services::of(ctx);
        let credentials = Credentials {
            email: &input.email,
            password: &input.password,
            guest_token: input.guest_token.as_deref(),
        };
        let strategy = input.merge.into();
        let client = ctx.data_opt::<ClientAddress>();
        let answer = identity::log_in(services, client, credentials, strategy).await?;
        Ok(AuthPayload::logged_in(services, answer, strategy))
    }

    /// A fresh token for the viewer of a valid built-in token: same subject,
    /// kind and roles. A customer's lasts the configured lifetime from now,
    /// but never past the session's maximum age (`--max-session-age` after
    /// the log-in); a token with roles keeps its own expiry. A renewal never
    /// outlives a `logOutEverywhere` that finished before it answered.
    ///
    /// With `input.token`, that token is renewed instead of the bearer (send
    /// it without an `Authorization` header once it has expired): a guest's
    /// may have expired up to the guest cart lifetime ago
    /// (`Viewer.renewableUntil`), so a guest who comes back while its cart
    /// lives gets a token for the same carts. Anything else expired is
    /// refused like a bad bearer token: `UNAUTHENTICATED` (start a new guest
    /// session, or log in again).
    async fn renew_token(
        &self,
        ctx: &Context<'_>,
        input: Option<RenewTokenInput>,
    ) -> ApiResult<AuthPayload> {
        let services = Services::of(ctx);
        let renewed = match &input {
            Some(given) => identity::renew_given(services, &given.token).await?,
            None => identity::renew(services, require_viewer(ctx)?).await?,
        };
        match renewed {
            Ok(session) => Ok(AuthPayload::session(session)),
            Err(RenewRefused::External) => {
                let why = "tokens of the external identity provider are renewed there";
                Err(ApiError::BadUserInput(why.into()))
            }
            Err(RenewRefused::Revoked) => Err(ApiError::TokenRevoked),
            Err(RenewRefused::TooOld) => Err(ApiError::SessionTooOld),
            Err(RenewRefused::Invalid(why)) => Err(ApiError::NotRenewable(why)),
        }
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
        identity::log_out_everywhere(Services::of(ctx), &owner).await?;
        Ok(true)
    }

    /// Makes every token issued to the viewer until now fail (this one
    /// included), on every device: the next request with one is a 401.
    /// Log in again for a new token.
    async fn log_out_everywhere(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let viewer = require_viewer(ctx)?;
        identity::log_out_everywhere(Services::of(ctx), &viewer.owner_key()).await?;
        Ok(true)
    }
}
