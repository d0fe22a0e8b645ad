//! The one place a token is accepted: signature and claims
//! ([`Authenticator`]), then the owner's "valid after" record
//! ([`IdentityStore::valid_after`]). HTTP requests, WebSocket connections and
//! their operations, and `guestToken` inputs all go through it.

use super::{Authenticator, Issuer, TokenError, Viewer};
use crate::clock::Clock;
use crate::domain::ViewerKind;
use crate::store::IdentityStore;
use std::sync::Arc;

/// Why a token was not accepted.
#[derive(Debug)]
pub enum VerifyError {
    /// The token is not valid, or was revoked: HTTP 401 / WebSocket close 4403.
    Invalid(TokenError),
    /// The revocation record could not be read: HTTP 500 / close 1011. The
    /// edge that answers logs the cause, once.
    Unavailable(crate::store::StoreError),
}

/// Verifies tokens; cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    /// Keys and issuers.
    pub authenticator: Arc<Authenticator>,
    store: Arc<dyn IdentityStore>,
    clock: Arc<dyn Clock>,
}

impl Verifier {
    /// A verifier reading revocation records from `store`, judging expiry
    /// on `clock`.
    pub fn new(
        authenticator: Arc<Authenticator>,
        store: Arc<dyn IdentityStore>,
        clock: Arc<dyn Clock>,
    ) -> Verifier {
        Verifier {
            authenticator,
            store,
            clock,
        }
    }

    /// The viewer a token speaks for, if it verifies and is not revoked.
    pub async fn verify(&self, token: &str) -> Result<Viewer, VerifyError> {
        let viewer = self
            .authenticator
            .verify(token, self.clock.now().timestamp())
            .map_err(VerifyError::Invalid)?;
        self.check_not_revoked(&viewer).await?;
        Ok(viewer)
    }

    /// The guest a built-in guest token speaks for (a `guestToken` input).
    pub async fn verify_guest(&self, token: &str) -> Result<Viewer, VerifyError> {
        let viewer = self
            .authenticator
            .keys
            .verify(token.trim(), self.clock.now().timestamp())
            .map_err(VerifyError::Invalid)?;
        if viewer.kind != ViewerKind::Guest || viewer.issuer != Issuer::BuiltIn {
            return Err(VerifyError::Invalid(TokenError::BadClaims(
                "it is not a guest's token".into(),
            )));
        }
        self.check_not_revoked(&viewer).await?;
        Ok(viewer)
    }

    /// The viewer of a built-in token given to `renewToken` as data (not as
    /// the bearer): valid and unrevoked, and either unexpired or a guest's
    /// that expired at most `guest_window` ago. Tokens with roles and
    /// customers' tokens must be unexpired (a customer logs in again).
    pub async fn verify_for_renewal(
        &self,
        token: &str,
        guest_window: chrono::Duration,
    ) -> Result<Viewer, VerifyError> {
        let now = self.clock.now();
        let viewer = self
            .authenticator
            .keys
            .verify_expired_within(token.trim(), now.timestamp(), guest_window.num_seconds())
            .map_err(VerifyError::Invalid)?;
        let may_lapse = viewer.kind == ViewerKind::Guest && viewer.roles.is_empty();
        if !may_lapse && viewer.is_expired(now) {
            return Err(VerifyError::Invalid(TokenError::Expired));
        }
        self.check_not_revoked(&viewer).await?;
        Ok(viewer)
    }

    /// Whether `logOutEverywhere` has revoked the viewer's token since it was
    /// verified (a WebSocket checks before each operation).
    pub async fn check_not_revoked(&self, viewer: &Viewer) -> Result<(), VerifyError> {
        match self.store.valid_after(&viewer.owner_key()).await {
            Ok(after) if viewer.is_revoked_by(after) => {
                Err(VerifyError::Invalid(TokenError::Revoked))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(VerifyError::Unavailable(e)),
        }
    }
}
