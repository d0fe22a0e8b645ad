//! Backups while serving (see [`crate::store::backup`]): one on an admin's
//! demand, and one every `--backup-every`.

use super::AppError;
use crate::domain::{ErrorCode, Rejection, UserError};
use crate::services::Services;
pub use crate::store::backup::BackupReport;

/// Admin: a backup now, into `--backup-dir`. Refused (`BACKUP_UNAVAILABLE`)
/// without one, or when writing it failed (the message says why; the
/// failure is logged too).
pub async fn create(services: &Services) -> Result<Result<BackupReport, Rejection>, AppError> {
    let refuse = |why: String| {
        Ok(Err(Rejection::one(UserError::new(
            ErrorCode::BackupUnavailable,
            &[],
            why,
        ))))
    };
    let Some(backups) = &services.backups else {
        return refuse("this server makes no backups: start it with --backup-dir".into());
    };
    match backups.create(services.clock.clone()).await {
        Ok(report) => {
            tracing::info!(file = %report.file.display(), records = report.records, bytes = report.bytes, "backup made");
            Ok(Ok(report))
        }
        Err(why) => {
            tracing::error!(error = %why, "a backup failed");
            refuse(format!("the backup failed: {why}"))
        }
    }
}

/// Makes a backup every `every` until `stop` fires (the first one `every`
/// after the start); a failure is logged and the next one tried on time.
pub async fn every(
    services: Services,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        // Logged either way by `create`.
        let _ = create(&services).await;
    }
}
