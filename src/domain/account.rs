//! Accounts: the email and password rules, and the failed-log-in window.
//!
//! Pure rules only. Hashing lives in `auth::password`, storage in
//! `store::identity`; here is what makes an email or a password acceptable and
//! when repeated failures start to be refused.

use super::error::{ErrorCode, UserError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A normalised email address: trimmed, lowercase, of a plausible shape.
/// Two spellings that differ only in case or surrounding spaces are one account.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// The longest address accepted (RFC 5321's path limit, less the brackets).
    pub const MAX_LEN: usize = 254;

    /// Normalises and checks an address. Only the shape is checked
    /// (`local@domain.tld`, no spaces or control characters); whether it
    /// receives mail is not this service's business.
    pub fn parse(text: &str) -> Result<Email, String> {
        let email = text.trim().to_lowercase();
        let rule = "an email looks like name@example.com (at most 254 characters, no spaces)";
        if email.is_empty() || email.len() > Self::MAX_LEN {
            return Err(rule.into());
        }
        if email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
        {
            return Err(rule.into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(rule.into());
        };
        let labels_ok = domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty()
            || local.len() > 64
            || domain.contains('@')
            || !domain.contains('.')
            || !labels_ok
        {
            return Err(rule.into());
        }
        Ok(Email(email))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Fewest characters in a password.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Most characters in a password (bounds the hashing work per request).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// The password rule, as told to clients.
pub const PASSWORD_RULE: &str = "a password has 10 to 128 characters, is not one character repeated, and is not the email address";

/// Checks a new password against [`PASSWORD_RULE`].
pub fn check_password(password: &str, email: &Email) -> Result<(), UserError> {
    let chars = password.chars().count();
    let mut distinct = password.chars();
    let first = distinct.next();
    let repeated = first.is_some_and(|c| distinct.all(|d| d == c));
    let is_email = password.trim().to_lowercase() == email.as_str();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) || repeated || is_email {
        return Err(UserError::new(
            ErrorCode::WeakPassword,
            &["password"],
            PASSWORD_RULE,
        ));
    }
    Ok(())
}

/// A stored account of the built-in issuer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The customer id: the `sub` of the account's tokens.
    pub id: String,
    /// The normalised email it signs in with.
    pub email: Email,
    /// The argon2id hash in PHC string form (salt and parameters included).
    pub password_hash: String,
    /// When it signed up.
    pub created_at: DateTime<Utc>,
}

/// The "valid after" time (seconds) that "log out everywhere" at `now` writes
/// over `stored`: the next second, and always past what is stored. Tokens
/// carry `iat` in whole seconds, and a log-in right after a log-out gets an
/// `iat` raised to the stored time (so it is not refused); moving strictly
/// past the stored time means a second log-out in the same second still
/// refuses that token. Every token issued before the write is refused.
pub fn next_valid_after(stored: Option<i64>, now: i64) -> i64 {
    stored
        .map_or(now, |stored| stored.max(now))
        .saturating_add(1)
}

/// How many failures within how long are tolerated before log-ins are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleRule {
    /// Failures tolerated within one window; the next attempt is refused.
    pub max_failures: u32,
    /// How long a window lasts from its first failure.
    pub window: Duration,
}

/// Failed attempts for one key (an email or a client address) in the current window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureWindow {
    /// When the first failure of this window happened.
    pub started_at: DateTime<Utc>,
    /// Failures since then.
    pub failures: u32,
}

impl FailureWindow {
    /// Whether the window is over at `now` (then it counts for nothing).
    pub fn is_over(&self, rule: &ThrottleRule, now: DateTime<Utc>) -> bool {
        now >= self.started_at + rule.window
    }

    /// Until when attempts are refused, if they are at `now`.
    pub fn blocked_until(&self, rule: &ThrottleRule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (!self.is_over(rule, now) && self.failures >= rule.max_failures)
            .then(|| self.started_at + rule.window)
    }

    /// The window after one more failure at `now` (a new window if this one is over).
    pub fn after_failure(
        window: Option<FailureWindow>,
        rule: &ThrottleRule,
        now: DateTime<Utc>,
    ) -> FailureWindow {
        match window {
            Some(w) if !w.is_over(rule, now) => FailureWindow {
                started_at: w.started_at,
                failures: w.failures.saturating_add(1),
            },
            _ => FailureWindow {
                started_at: now,
                failures: 1,
            },
        }
    }

    /// The window with one counted attempt given back (an attempt that was
    /// counted before it was tried, and then succeeded); `None` when empty.
    pub fn forgive_one(self) -> Option<FailureWindow> {
        (self.failures > 1).then(|| FailureWindow {
            failures: self.failures - 1,
            ..self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        let email = Email::parse("  Ann.Lee+shop@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ann.lee+shop@example.com");
        assert_eq!(email, Email::parse("ann.lee+shop@example.com").unwrap());
    }

    #[test]
    fn emails_of_the_wrong_shape_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long = format!("a@{}.com", "b".repeat(260));
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "ann@",
            "ann@localhost",
            "ann@@example.com",
            "ann@exa mple.com",
            "a b@example.com",
            "ann@example..com",
            "ann@-example.com",
            "ann\u{0}@example.com",
            "\"ann\"@example.com",
            long_local.as_str(),
            long.as_str(),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stored_emails_are_validated_when_decoded() {
        assert!(serde_json::from_str::<Email>("\"not an email\"").is_err());
        assert_eq!(
            serde_json::from_str::<Email>("\"A@B.CO\"")
                .unwrap()
                .as_str(),
            "a@b.co"
        );
    }

    #[test]
    fn the_password_rule_says_what_it_wants() {
        let email = Email::parse("ann@example.com").unwrap();
        assert!(check_password("correct horse", &email).is_ok());
        assert!(check_password(&("é".repeat(5) + "abcde"), &email).is_ok());
        for weak in ["short", "aaaaaaaaaaaa", "ANN@example.com", &"ab".repeat(65)] {
            let err = check_password(weak, &email).unwrap_err();
            assert_eq!(err.code, ErrorCode::WeakPassword, "{weak}");
            assert_eq!(err.message, PASSWORD_RULE);
        }
    }

    #[test]
    fn log_out_everywhere_always_moves_past_what_is_stored() {
        assert_eq!(next_valid_after(None, 100), 101);
        assert_eq!(next_valid_after(Some(50), 100), 101);
        // A second log-out in the same second, after a log-in whose token got
        // iat 101: it must refuse that token too.
        assert_eq!(next_valid_after(Some(101), 100), 102);
    }

    #[test]
    fn failures_block_within_the_window_and_recover_after_it() {
        let rule = ThrottleRule {
            max_failures: 2,
            window: Duration::seconds(60),
        };
        let t0 = Utc::now();
        let one = FailureWindow::after_failure(None, &rule, t0);
        assert_eq!(one.blocked_until(&rule, t0), None);
        let two = FailureWindow::after_failure(Some(one), &rule, t0 + Duration::seconds(10));
        assert_eq!(two.failures, 2);
        assert_eq!(
            two.blocked_until(&rule, t0 + Duration::seconds(30)),
            Some(t0 + Duration::seconds(60))
        );
        assert_eq!(two.blocked_until(&rule, t0 + Duration::seconds(60)), None);
        let fresh = FailureWindow::after_failure(Some(two), &rule, t0 + Duration::seconds(61));
        assert_eq!(fresh.failures, 1);
        assert_eq!(fresh.started_at, t0 + Duration::seconds(61));
    }
}
