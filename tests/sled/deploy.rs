//! `deploy/cartql.service` as systemd reads it: `systemd-analyze verify`
//! finds nothing to say, and `systemd-analyze security` (offline, from the
//! file) scores its sandbox. Debian's `systemd` package has the tool;
//! scripts/test and .ci/run install it.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../../deploy/cartql.service");

/// The unit as installed here: `ExecStart` names the binary under test (verify
/// checks that the command exists and is executable).
fn unit_in(dir: &Path) -> std::path::PathBuf {
    let installed = UNIT.replace(
        "ExecStart=/usr/local/bin/cartql",
        &format!("ExecStart={}", env!("CARGO_BIN_EXE_cartql")),
    );
    assert_ne!(installed, UNIT, "the unit starts /usr/local/bin/cartql");
    let path = dir.join("cartql.service");
    std::fs::write(&path, installed).unwrap();
    path
}

fn systemd_analyze(args: &[&str], unit: &Path) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .arg(unit)
        .output()
        .expect("systemd-analyze runs (Debian's systemd package; scripts/test installs it)")
}

#[test]
fn systemd_verifies_the_unit_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());
    let output = systemd_analyze(&["verify", "--man=no"], &unit);
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert_eq!(said.trim(), "", "verify has something to say");
}

#[test]
fn the_sandbox_scores_ok_and_the_stop_outlasts_the_shutdown_grace() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());
    let output = systemd_analyze(&["security", "--offline=true", "--no-pager"], &unit);
    let report = String::from_utf8_lossy(&output.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for cartql.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in: {report}"));
    // README "Run it as a service" states the score (1.4 when written).
    assert!(score <= 2.0, "exposure {score}:\n{report}");
    for line in [
        "DynamicUser=yes",
        "StateDirectoryMode=0700",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "Restart=on-failure",
        "EnvironmentFile=-/etc/cartql/cartql.env",
    ] {
        assert!(UNIT.lines().any(|l| l == line), "{line}");
    }
    // systemd waits longer than cartql's default --shutdown-grace (30 s) plus
    // its flush before it sends SIGKILL.
    let stop: u64 = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.strip_suffix('s'))
        .and_then(|v| v.parse().ok())
        .expect("TimeoutStopSec=<n>s");
    assert!(stop > 30, "{stop}");
}
