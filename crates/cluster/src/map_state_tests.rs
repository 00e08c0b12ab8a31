use super::*;

const DOWN: Duration = Duration::from_secs(2);
const LOST: Duration = Duration::from_secs(10);

fn disk(id: DiskId, uuid: u128) -> DiskRecord {
    DiskRecord { id, uuid, path: format!("n:/d{id}") }
}

fn node(name: &str, number: u32, disks: &[DiskId]) -> NodeRecord {
    NodeRecord { name: name.into(), number, addr: format!("127.0.0.1:{}", 7000 + number), disks: disks.to_vec() }
}

/// Two nodes with two disks each (ids 1..=4, uuids 101..=104), disk 9 (uuid 109) retired.
fn two_nodes(now: Instant) -> MapState {
    let disks = [disk(1, 101), disk(2, 102), disk(3, 103), disk(4, 104)];
    MapState::from_records(&[node("a", 1, &[1, 2]), node("b", 2, &[3, 4, 77])], &disks, &[disk(9, 109)], now)
}

#[test]
fn a_start_takes_every_recorded_node_up_with_a_fresh_grace_period() {
    let t0 = Instant::now();
    let m = two_nodes(t0);
    let a = m.node("a").expect("a");
    assert_eq!((a.number, a.state, a.last_seen, a.disks.clone()), (1, NodeState::Up, t0, vec![(1, 101), (2, 102)]));
    assert_eq!(a.addr, Some("127.0.0.1:7001".parse().expect("addr")));
    // Disk 77 is in b's record but not registered: not taken in.
    assert_eq!(m.node("b").expect("b").disks, vec![(3, 103), (4, 104)]);
    assert_eq!(m.records(), vec![node("a", 1, &[1, 2]), node("b", 2, &[3, 4])]);
}

#[test]
fn silence_makes_a_node_down_then_lost_and_a_report_brings_it_back() {
    let t0 = Instant::now();
    let mut m = two_nodes(t0);
    assert!(m.tick(t0 + Duration::from_millis(1999), DOWN, LOST).is_empty());
    m.beat("b", t0 + Duration::from_secs(3), None, None, None);
    let t = m.tick(t0 + DOWN, DOWN, LOST);
    assert_eq!(t, vec![Transition { name: "a".into(), from: NodeState::Up, to: NodeState::Down, silent: DOWN }]);
    assert!(m.tick(t0 + Duration::from_secs(4), DOWN, LOST).is_empty(), "a state change is reported once");
    // b reported at 3 s: down 2 s later, lost 10 s later.
    let t = m.tick(t0 + LOST, DOWN, LOST);
    assert_eq!(
        t.iter().map(|t| (t.name.as_str(), t.from, t.to)).collect::<Vec<_>>(),
        vec![("a", NodeState::Down, NodeState::Lost), ("b", NodeState::Up, NodeState::Down)]
    );
    let t = m.tick(t0 + Duration::from_secs(13), DOWN, LOST);
    assert_eq!(t.iter().map(|t| (t.name.as_str(), t.to, t.silent)).collect::<Vec<_>>(), vec![("b", NodeState::Lost, LOST)]);

    let c = m.beat("a", t0 + Duration::from_secs(20), None, None, Some(3));
    assert_eq!(c.came_up, Some(NodeState::Lost));
    let a = m.node("a").expect("a");
    assert_eq!((a.state, a.refused), (NodeState::Up, 3));
    assert_eq!(m.beat("a", t0 + Duration::from_secs(21), None, None, None).came_up, None, "up already");
    assert_eq!(m.node("a").map(|n| n.refused), Some(3), "a report without counters keeps the last");
}

#[test]
fn state_after_counts_the_boundaries_as_reached() {
    assert_eq!(state_after(Duration::ZERO, DOWN, LOST), NodeState::Up);
    assert_eq!(state_after(DOWN, DOWN, LOST), NodeState::Down);
    assert_eq!(state_after(LOST, DOWN, LOST), NodeState::Lost);
    // Equal periods: straight to lost.
    assert_eq!(state_after(DOWN, DOWN, DOWN), NodeState::Lost);
}

#[test]
fn a_report_changes_address_and_zone_only_when_they_differ() {
    let t0 = Instant::now();
    let mut m = two_nodes(t0);
    let same = m.node("a").and_then(|n| n.addr);
    assert_eq!(m.beat("a", t0, same, None, None), BeatChanges::default());
    let moved: SocketAddr = "127.0.0.1:9999".parse().expect("addr");
    assert_eq!(m.beat("a", t0, Some(moved), None, None).addr, Some(moved));
    // An address that did not resolve keeps the last one.
    assert_eq!(m.beat("a", t0, None, None, None).addr, None);
    assert_eq!(m.node("a").and_then(|n| n.addr), Some(moved));

    assert_eq!(m.beat("a", t0, None, Some("east"), None).zone, Some(Some(0)));
    assert_eq!(m.beat("b", t0, None, Some("west"), None).zone, Some(Some(1)));
    assert_eq!(m.beat("b", t0, None, Some("west"), None).zone, None, "unchanged");
    assert_eq!(m.beat("b", t0, None, Some("east"), None).zone, Some(Some(0)), "a label keeps its number");
    assert_eq!(m.beat("b", t0, None, None, None).zone, Some(None), "label dropped");
    assert_eq!(m.node("b").and_then(|n| n.zone.clone()), None);
    assert_eq!(m.beat("nobody", t0, Some(moved), Some("x"), None), BeatChanges::default());
}

#[test]
fn a_node_may_claim_only_its_own_disks_and_never_a_retired_one() {
    let m = two_nodes(Instant::now());
    assert_eq!(m.claim("a", 101), DiskClaim::Own(1));
    assert_eq!(m.claim("a", 103), DiskClaim::OtherNode("b".into()));
    assert_eq!(m.claim("a", 109), DiskClaim::Retired);
    assert_eq!(m.claim("a", 555), DiskClaim::Unknown);
    assert_eq!(m.claim("new", 101), DiskClaim::OtherNode("a".into()));
}

#[test]
fn only_the_leader_registers_a_disk_and_ids_are_never_reused() {
    let m = two_nodes(Instant::now());
    let mut registry = vec![disk(1, 101), disk(2, 102), disk(3, 103), disk(4, 104), disk(5, 105)];
    assert_eq!(m.disk_id(&mut registry, 105, "a", "/x", false), Some(5), "registered: its id, on any gateway");
    assert_eq!(m.disk_id(&mut registry, 200, "a", "/x", false), None, "a follower waits for the leader");
    assert_eq!(registry.len(), 5);
    // Retired disk 9 is above every registered id: the new one is 10.
    assert_eq!(m.disk_id(&mut registry, 200, "a", "/x", true), Some(10));
    assert_eq!(registry.last(), Some(&DiskRecord { id: 10, uuid: 200, path: "a:/x".into() }));
    assert_eq!(m.disk_id(&mut registry, 201, "b", "/y", true), Some(11));
    assert_eq!(m.disk_id(&mut registry, 200, "a", "/x", true), Some(10), "asked again: the same id");
}

#[test]
fn a_new_node_is_admitted_once_and_reports_its_disks() {
    let t0 = Instant::now();
    let mut m = two_nodes(t0);
    assert_eq!(m.next_number(), 3);
    assert!(m.admit("c", 3, None, t0));
    assert!(!m.admit("c", 8, None, t0), "admitted already");
    assert_eq!(m.node("c").map(|n| n.number), Some(3));
    m.add_disk("c", 5, 105);
    m.add_disk("c", 6, 106);
    assert_eq!(m.claim("c", 106), DiskClaim::Own(6));
    assert_eq!(m.unreported("c", &[106, 999]), vec![5]);
    assert_eq!(m.unreported("nobody", &[]), Vec::<DiskId>::new());
    assert_eq!(m.records().last(), Some(&NodeRecord { name: "c".into(), number: 3, addr: String::new(), disks: vec![5, 6] }));
}

#[test]
fn forgetting_retires_the_disks_and_drops_the_node() {
    let mut m = two_nodes(Instant::now());
    m.forget(&[disk(3, 103)], None);
    assert_eq!(m.node("b").map(|n| n.disks.clone()), Some(vec![(4, 104)]));
    assert_eq!(m.claim("b", 103), DiskClaim::Retired);
    m.forget(&[disk(4, 104)], Some("b"));
    assert!(m.node("b").is_none());
    let mut registry = vec![disk(1, 101), disk(2, 102)];
    assert_eq!(m.disk_id(&mut registry, 300, "a", "/z", true), Some(10), "retired 9 still counts");
    m.forget(&[disk(4, 104)], None);
    assert_eq!(m.retired.iter().filter(|(_, u)| *u == 104).count(), 1, "retired once");
}

#[test]
fn reconcile_follows_the_leaders_removals() {
    let t0 = Instant::now();
    let mut m = two_nodes(t0);
    assert!(m.admit("c", 3, None, t0));
    let records = [node("a", 1, &[1, 2]), node("c", 3, &[])];
    // Disk 2 retired; node b emptied and gone from the records; c revoked.
    let out = m.reconcile(&[disk(2, 102), disk(3, 103), disk(4, 104)], &records, |n| n == "c");
    assert_eq!(out.disks, vec![disk(2, 102), disk(3, 103), disk(4, 104)]);
    assert_eq!(out.nodes, vec!["b".to_owned(), "c".to_owned()]);
    assert_eq!(m.nodes().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["a"]);
    assert_eq!(m.claim("a", 102), DiskClaim::Retired);
    assert_eq!(m.reconcile(&[disk(2, 102)], &records, |_| false), Reconciled::default(), "nothing left to do");

    // A node whose disks all went but that is still recorded stays (it may get new disks).
    let mut m = two_nodes(t0);
    let out = m.reconcile(&[disk(3, 103), disk(4, 104)], &[node("a", 1, &[1, 2]), node("b", 2, &[])], |_| false);
    assert_eq!((out.disks.len(), out.nodes.len()), (2, 0));
    assert_eq!(m.node("b").map(|n| n.disks.len()), Some(0));
}

#[test]
fn a_report_measures_silence_at_the_given_moment() {
    let t0 = Instant::now();
    let mut m = two_nodes(t0);
    m.beat("a", t0, None, Some("east"), Some(7));
    let r = m.report(t0 + Duration::from_millis(1500));
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].name.as_str(), r[0].last_heartbeat_ms, r[0].zone.as_deref(), r[0].requests_refused), ("a", 1500, Some("east"), 7));
    assert_eq!((r[1].addr.as_str(), r[1].disks.clone()), ("127.0.0.1:7002", vec![3, 4]));
}
