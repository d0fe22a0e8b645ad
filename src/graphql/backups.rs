//! `createBackup`: a backup of the whole store now, while serving (admin).

use super::access::require_admin;
use super::error::ApiResult;
use super::types::{UserErrorView, user_errors};
use crate::app::backups::{self, BackupReport};
use crate::services::Services;
use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// One backup the server wrote.
#[derive(SimpleObject)]
#[graphql(name = "Backup")]
pub struct BackupView {
    /// Its path on the server (in `--backup-dir`).
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// How many records it holds (what `cartql import` loads).
    pub records: u64,
    /// When the copy began: every change acknowledged before is in it.
    pub started_at: DateTime<Utc>,
    /// When the file was complete (fsynced, under its final name).
    pub finished_at: DateTime<Utc>,
}

impl From<BackupReport> for BackupView {
    fn from(report: BackupReport) -> Self {
        BackupView {
            file: report.file.display().to_string(),
            bytes: report.bytes,
            records: report.records,
            started_at: report.started_at,
            finished_at: report.finished_at,
        }
    }
}

/// What `createBackup` answers.
#[derive(SimpleObject)]
pub struct CreateBackupPayload {
    /// The backup, when it was made.
    pub backup: Option<BackupView>,
    /// `BACKUP_UNAVAILABLE` (no `--backup-dir`, or writing failed).
    pub user_errors: Vec<UserErrorView>,
}

/// The backup mutation.
#[derive(Default)]
pub struct BackupMutation;

#[Object]
impl BackupMutation {
    /// Admin only: writes a backup of the whole store into `--backup-dir`
    /// now, without stopping (one instant of the store: every change
    /// acknowledged before it began is in it, none in part), then deletes
    /// the oldest beyond `--backup-keep`. Restore it with `cartql import`
    /// into an empty store, and check it with `cartql verify --input`.
    async fn create_backup(&self, ctx: &Context<'_>) -> ApiResult<CreateBackupPayload> {
        require_admin(ctx)?;
        Ok(match backups::create(Services::of(ctx)).await? {
            Ok(report) => CreateBackupPayload {
                backup: Some(report.into()),
                user_errors: Vec::new(),
            },
            Err(refused) => CreateBackupPayload {
                backup: None,
                user_errors: user_errors(refused.into_user_errors()),
            },
        })
    }
}
