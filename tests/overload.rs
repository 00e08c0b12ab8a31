//! Overload (issue 17): a server with --max-connections and --max-requests under 1,000 idle
//! or slow connections and requests that hold their slots (`tests/s3/overload.py`): real
//! clients are still served, RSS stays bounded, and what is over a cap gets 503 SlowDown.

mod common;

use common::{Opts, Server};

#[test]
fn idle_connections_and_held_requests_cost_bounded_memory_and_past_the_caps_clients_get_slow_down() {
    let _g = common::exclusive();
    let flags = ["--max-connections", "1100", "--max-requests", "8", "--header-timeout", "120s"];
    let mut srv = Server::start(Opts { flags: flags.iter().map(|s| (*s).to_owned()).collect(), ..Opts::default() });
    let out = srv.py("overload.py", &[&srv.pid().to_string()]);
    eprintln!("{out}");
    assert!(srv.is_running(), "the server died under load\n{}", srv.log_tail(30));
    let m = srv.metrics();
    assert!(m.get("kintsugi_http_requests_refused_total").copied().unwrap_or(0.0) >= 1.0, "{m:?}");
    srv.run_ok(srv.aws(&["s3", "ls", "s3://load"]), "aws s3 ls after the drill");
}
