//! Cluster certificates expire: members renew theirs over their mTLS link while they run,
//! and a node stopped past its certificate's validity is refused with what to do. Real
//! gateway and storage processes on loopback, with a 30 s validity so that a run sees
//! several generations of certificates. A join whose answer is lost is answered again.

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::KIB;

/// The node's certificate (PEM) as its state directory keeps it.
fn certificate(c: &Cluster, i: usize) -> String {
    let pem = std::fs::read_to_string(c.nodes[i].dir.join("state").join("identity.pem")).expect("identity file");
    pem.split("-----END CERTIFICATE-----").next().expect("a certificate").to_owned()
}

#[test]
fn certificates_expire_and_renew_themselves_while_members_run() {
    let _g = common::slot();
    let flags = ["--ec", "4+2", "--cert-validity", "30s", "--down-after", "3s", "--request-deadline", "3s"];
    let mut c = Cluster::start(7, 1, &flags, Some(65536));
    let objs = common::objects("certs", 77, &[0, 1, 300 * KIB], 12, 600 * KIB);
    let manifest = c.gw.manifest("certs", "certs", &objs);
    let manifest = manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write", manifest]);
    let first: Vec<String> = (0..c.nodes.len()).map(|i| certificate(&c, i)).collect();
    // Node 7 stops now and stays stopped past its certificate's validity.
    c.nodes[6].kill9();

    // Over two and a half validity periods: every certificate issued at the start has expired.
    std::thread::sleep(Duration::from_secs(80));
    for (i, first) in first.iter().enumerate().take(6) {
        let log = c.nodes[i].log();
        let renewals = log.matches("certificate renewed").count();
        assert!(renewals >= 3, "node {} renewed its certificate {renewals} time(s) in 80 s:\n{log}", c.nodes[i].name);
        assert_ne!(&certificate(&c, i), first, "node {} kept its first certificate", c.nodes[i].name);
    }
    assert!(c.gw.log_tail(100_000).contains("the gateway's certificate renewed"), "the gateway never renewed its own certificate");
    // Everything still works on the renewed certificates: heartbeats, writes, reads.
    c.wait_states(&(0..6).map(|i| (i, "up")).collect::<Vec<_>>(), Duration::from_secs(10));
    let more = common::objects("after", 78, &[2 * KIB], 6, 600 * KIB);
    let more_manifest = c.gw.manifest("after", "certs", &more);
    let more_manifest = more_manifest.to_str().expect("utf-8");
    c.gw.py("data.py", &["write", more_manifest]);
    c.gw.py("data.py", &["verify", manifest]);
    c.gw.py("data.py", &["verify", more_manifest]);

    // The node stopped past its validity cannot come back on its old certificate, nor with
    // a token for new nodes (its name is a member's), and it is told what to do.
    let token = c.token.clone();
    let (ok, log) = c.nodes[6].run_once(&token);
    assert!(!ok && log.contains("already a member") && log.contains("join-token --node n7"), "a node with an expired certificate started, or was not told how to come back:\n{log}");
    let st = c.status();
    assert_ne!(Cluster::node_state(&st, &c.nodes[6].name).as_deref(), Some("up"), "{st:#}");

    // A token made for another name does not admit it either.
    let other = c.admin_json(&["join-token", "--node", "n9"]);
    assert_eq!(other["uses"], 1, "a token for one name admits it once: {other}");
    let (ok, log) = c.nodes[6].run_once(other["token"].as_str().expect("token"));
    assert!(!ok && log.contains("only the node named \"n9\""), "a token for n9 admitted n7:\n{log}");

    // A token made for its name re-admits it: a new certificate, the same name and disks.
    let old = certificate(&c, 6);
    let readmit = c.admin_json(&["join-token", "--node", "n7"]);
    assert_eq!(readmit["node"], "n7", "{readmit}");
    c.nodes[6].start(readmit["token"].as_str().expect("token"));
    c.wait_states(&(0..7).map(|i| (i, "up")).collect::<Vec<_>>(), Duration::from_secs(30));
    assert_ne!(certificate(&c, 6), old, "the re-admitted node kept its expired certificate");
    assert!(c.nodes[6].log().contains("re-admitted to the cluster under its name"), "{}", c.nodes[6].log());
    assert!(c.gw.log_tail(100_000).contains("node re-admitted under its name"), "the gateway did not log the re-admission");
    // Its shards serve: with two other nodes stopped, every object still reads back.
    c.nodes[0].kill9();
    c.nodes[1].kill9();
    c.gw.py("data.py", &["verify", manifest]);
    c.gw.py("data.py", &["verify", more_manifest]);
}

#[test]
fn a_join_whose_answer_was_lost_is_answered_again_without_spending_another_use() {
    let _g = common::slot();
    let mut c = Cluster::start(1, 1, &["--ec", "1+1"], Some(65536));
    let once = c.admin_json(&["join-token", "--uses", "1"])["token"].as_str().expect("token").to_owned();
    // The node drops the gateway's first answer, as a lost packet or a timeout would: the
    // gateway has spent the token's one use on it, and the node asks again.
    let i = c.add_node("n2", 1);
    c.nodes[i].start_with_env(&once, &[("KINTSUGI_FAULT_LOSE_JOIN_ANSWERS", "1")]);
    c.wait_states(&[(0, "up"), (i, "up")], Duration::from_secs(30));
    let log = c.nodes[i].log();
    assert!(log.contains("the answer was lost"), "the fault was not injected:\n{log}");
    // The retry spent nothing more: the token admitted one node, and admits no other.
    let j = c.add_node("n3", 1);
    let (ok, log) = c.nodes[j].run_once(&once);
    assert!(!ok && log.contains("used for all the 1 joins"), "a one-use token admitted a second node:\n{log}");

    // A node that gives up (or is killed) after its answer was lost comes back with the same
    // token: the key of the join is kept in its state directory until the join is kept.
    let again = c.admin_json(&["join-token", "--uses", "1"])["token"].as_str().expect("token").to_owned();
    let k = c.add_node("n4", 1);
    let (ok, log) = c.nodes[k].run_once_with_env(&again, &[("KINTSUGI_FAULT_LOSE_JOIN_ANSWERS", "1000"), ("KINTSUGI_JOIN_WAIT", "2")]);
    assert!(!ok && log.contains("the answer was lost"), "the node did not give up after losing its answers:\n{log}");
    c.nodes[k].start(&again);
    c.wait_states(&[(0, "up"), (i, "up"), (k, "up")], Duration::from_secs(30));
    assert!(c.nodes[k].log().contains("joining with the key of an earlier attempt"), "{}", c.nodes[k].log());
    assert!(!c.nodes[k].dir.join("state").join("join-key").exists(), "the joined key's file was kept");
}
