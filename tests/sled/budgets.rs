//! Each cart is stored on its own, so a small change on sled writes about
//! that cart, not all of the viewer's carts.

use crate::helpers::*;
use crate::shop::{add_lines, heavy_lines, note};

#[tokio::test]
async fn a_small_change_writes_about_the_changed_cart_not_all_of_the_viewer_s_carts() {
    let server = TestServer::spawn_with(&["--viewer-write-burst", "1000"]).await;
    let token = guest("writes");
    for cart in ["c0", "c1", "c2", "c3"] {
        let filled = add_lines(&server, &token, cart, heavy_lines(22, cart)).await;
        assert_eq!(codes(&filled), Vec::<String>::new(), "{filled}");
    }
    // Bytes the server process has written (write and pwrite calls).
    let written = || {
        let io = std::fs::read_to_string(format!("/proc/{}/io", server.pid())).unwrap();
        io.lines()
            .find_map(|l| l.strip_prefix("wchar: "))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap()
    };
    let before = written();
    let changes = 40;
    for i in 0..changes {
        let text = format!("note {}", i % 10);
        assert_eq!(
            codes(&note(&server, &token, "small", &text).await),
            Vec::<String>::new()
        );
    }
    let per_change = (written() - before) / changes;
    // The viewer's carts take about 225 KB; every note change rewrote all of
    // them when they were one record. Now it writes the small cart and the
    // owner's index (a few hundred bytes), and sled rewrites the tree leaf
    // they share (up to 16 records) every tenth change to it: about a tenth
    // of the leaf on average (measured: 22.7 KB).
    assert!(
        per_change < 64 * 1024,
        "{per_change} bytes written per change"
    );
}
