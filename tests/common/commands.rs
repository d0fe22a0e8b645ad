//! The binary run as a command (a sub-command, or a start that is refused)
//! rather than as a test server.

use crate::helpers::*;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `args` and `env`; `CARTQL_JWT_SECRET` is unset
/// unless `env` sets it.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command.args(args).env_remove("CARTQL_JWT_SECRET");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// Runs `cartql` with `args`, the test secret and no `CARTQL_DATABASE_URL`.
pub fn cartql(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("CARTQL_JWT_SECRET", SECRET)
        .env_remove("CARTQL_DATABASE_URL")
        .output()
        .unwrap()
}

/// The command succeeded; its stderr otherwise.
pub fn ok(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The one line of a failed command that says what is wrong (log lines may
/// come before it).
pub fn error_line(output: &Output) -> String {
    assert!(!output.status.success(), "expected a failure");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line: {stderr}");
    errors[0].to_string()
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
