//! Power cuts, simulated (issue 18): cartql with its data directory on a
//! filesystem that forgets everything not fsynced ([`lazyfs`]), writers
//! adding to carts, then the cut (SIGKILL, and the unsynced data dropped)
//! and a restart on what survived. Every add the server acknowledged must
//! still be there, and the data directory must start.
//!
//! Needs `/dev/fuse` and root (the filesystem is mounted with mount(2); no
//! `fusermount3` needed), as CI has. Elsewhere the test fails and says
//! why; `CARTQL_SKIP_FUSE_TESTS=1` skips it, saying so.
//!
//! The measurements behind the README's Durability section (relaxed, and
//! process crashes without a power cut, each printing what was lost and
//! how long before the crash the lost writes were acknowledged) are a
//! harness, not a test: `scripts/powercut` (examples/powercut.rs), on the
//! same machinery ([`scenario`]).
//!
//! To add a check (say, that a restarted store never hands out a version
//! number it may already have acknowledged), read [`Round`]: every
//! acknowledgement with its time and the cart it returned, and what each
//! cart holds after the restart. [`Report::reissued`] counts versions
//! acknowledged before a cut and again after it for other contents.

mod lazyfs;
mod scenario;

use lazyfs::DirEntries;
use scenario::{Crash, Scenario, run};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_loses_no_acknowledged_write_to_a_power_cut() {
    let scenario = Scenario {
        durability: "strict",
        crash: Crash::PowerCut(DirEntries::NeedFsync),
        rounds: 4,
        writers: 10,
        large_values: true,
        writing: Duration::from_millis(1500),
    };
    let Some(report) = run(&scenario).await else {
        return;
    };
    println!("{}", report.line(&scenario));
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.unverified, None);
    assert!(report.acknowledged > 200, "{report:?}");
    assert!(
        report.blobs_seen,
        "the large cart did not reach a blob file"
    );
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.reissued, 0, "{report:?}");
    assert_eq!(report.tokens_refused, 0, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_mode_may_lose_the_last_moments_but_never_hands_out_a_version_twice() {
    let scenario = Scenario {
        durability: "relaxed",
        crash: Crash::PowerCut(DirEntries::NeedFsync),
        rounds: 3,
        writers: 8,
        large_values: false,
        writing: Duration::from_millis(1500),
    };
    let Some(report) = run(&scenario).await else {
        return;
    };
    println!("{}", report.line(&scenario));
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(report.unverified, None);
    assert!(report.acknowledged > 200, "{report:?}");
    assert_eq!(report.reissued, 0, "{report:?}");
    assert_eq!(report.tokens_refused, 0, "{report:?}");
}
