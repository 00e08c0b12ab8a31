//! The shared context of one gateway: metadata, disks, codec, placement, the data path's
//! counters and the read-repair queue. Passed around as `Arc<Store>`, never global. Worker
//! state (repair, scrub, rebalance) lives with the workers (`Workers`), the cluster map in
//! `ClusterMap`; neither is reached through here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kintsugi_erasure::{Codec, Layout};
use kintsugi_storage::ShardStore;
use parking_lot::RwLock;
use kintsugi_meta::{Coding, DiskId, RocksMeta, NO_DISK};
use kintsugi_placement::{Candidate, Held};
use tokio::sync::mpsc;

use crate::error::{ClusterError, ClusterResult};
use crate::metrics::Metrics;
use crate::space::{DiskReserve, Space};

/// Default maximum segment size (rounded down to whole stripes).
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;
/// Default [`StoreConfig::inline_max`]: objects up to this size are kept with the metadata
/// (BENCHMARKS.md, "Small objects kept with the metadata", has the measurements behind it).
pub const DEFAULT_INLINE_MAX: u64 = 16 * 1024;

/// A segment whose shards need a look by read-repair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairRequest {
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Manifest version the problem was seen in.
    pub version_id: u128,
    /// Segment index in the manifest.
    pub segment: usize,
}

/// A manifest's coding resolved to a layout and a codec instance.
#[derive(Clone, Debug)]
pub struct Coded {
    /// Stripe geometry.
    pub layout: Layout,
    /// Codec.
    pub codec: Arc<dyn Codec>,
}

impl Coded {
    /// The coding record of this layout and codec.
    pub fn coding(&self) -> Coding {
        Coding::new(self.codec.id(), &self.layout)
    }
}

/// Tunables of a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Codec layout for new objects.
    pub layout: Layout,
    /// Maximum segment size in bytes.
    pub segment_size: u64,
    /// Durable shards a segment needs when fewer than k+m failure domains can take shards (default k+1).
    pub write_quorum: Option<usize>,
    /// A shard writer that does not take a chunk for this long is given up (slow or dead node).
    pub write_stall: Duration,
    /// A shard read that has not delivered its chunk after this long gets a parity read beside it.
    pub hedge_after: Duration,
    /// Free space every disk keeps back; a disk below it takes no new shards.
    pub disk_reserve: DiskReserve,
    /// Objects (not parts) of at most this many stored bytes are kept with the metadata as one
    /// inline segment instead of as shards (0: never).
    pub inline_max: u64,
    /// How long a released write hold still claims its segment from the intent sweep
    /// (`writes.rs`; tests shorten it).
    pub write_linger: Duration,
}

impl StoreConfig {
    /// Defaults for `layout`.
    pub fn new(layout: Layout) -> Self {
        Self {
            layout,
            segment_size: DEFAULT_SEGMENT_SIZE,
            write_quorum: None,
            write_stall: Duration::from_secs(10),
            hedge_after: kintsugi_storage::DEFAULT_HEDGE_AFTER,
            disk_reserve: DiskReserve::default(),
            inline_max: DEFAULT_INLINE_MAX,
            write_linger: crate::writes::LINGER,
        }
    }
}

/// Everything a request handler or worker needs.
pub struct Store {
    /// Metadata store.
    pub meta: Arc<RocksMeta>,
    /// Disks by id, local or on storage nodes (the cluster map adds disks as nodes report them).
    disks: RwLock<HashMap<DiskId, Arc<dyn ShardStore>>>,
    /// Codec for new objects.
    pub codec: Arc<dyn Codec>,
    /// Layout for new objects.
    pub layout: Layout,
    /// Segment size (a whole number of stripes).
    pub segment_size: u64,
    /// Durable shards a segment needs when k+m failure domains are not available.
    pub write_quorum: usize,
    /// See [`StoreConfig::write_stall`].
    pub write_stall: Duration,
    /// See [`StoreConfig::hedge_after`].
    pub hedge_after: Duration,
    /// See [`StoreConfig::inline_max`].
    pub inline_max: u64,
    /// The data path's counters.
    pub metrics: Metrics,
    /// Disks an admin is draining or has decommissioned: no new shards go there (placement
    /// reads this; the drain worker and the admin API change it).
    pub drains: RwLock<HashMap<DiskId, kintsugi_meta::DrainRecord>>,
    /// Whether this gateway leads the group's background work and cluster-map records.
    pub leadership: Leadership,
    /// Shard files moves are writing, kept from garbage collection until they commit.
    pub claims: Arc<crate::claims::ShardClaims>,
    /// The disk reserve, and the disks that just ran out of space (placement skips both).
    pub space: Space,
    /// The writes this process may still commit (the intent sweep asks every gateway).
    pub writes: crate::writes::OpenWrites,
    /// Notified by the disk monitor when it finds a disk lost that it had not seen lost (a
    /// failed disk, or a disk of a node found lost): background repair starts a pass then
    /// instead of at its next interval (a notification during a pass starts the next).
    pub losses: tokio::sync::Notify,
    repair_tx: mpsc::Sender<RepairRequest>,
}

/// Whether this gateway is the one that runs the background work and writes the cluster
/// map's records. With several gateways only the metadata group's leader is; alone (one
/// gateway, the embedded store) a gateway always is. Cheap to clone.
#[derive(Clone, Default)]
pub struct Leadership(Arc<std::sync::OnceLock<Arc<dyn Fn() -> bool + Send + Sync>>>);

impl Leadership {
    /// Ask `is_leader` from now on (set once; later calls are ignored).
    pub fn set(&self, is_leader: Arc<dyn Fn() -> bool + Send + Sync>) {
        let _ = self.0.set(is_leader);
    }

    /// Whether this gateway leads now.
    pub fn is_leader(&self) -> bool {
        self.0.get().is_none_or(|f| f())
    }
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Leadership(leader: {})", self.is_leader())
    }
}

/// How many distinct failure domains `domains` names.
pub fn distinct_domains(domains: impl Iterator<Item = u32>) -> usize {
    let mut v: Vec<u32> = domains.collect();
    v.sort_unstable();
    v.dedup();
    v.len()
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("layout", &self.layout).field("disks", &self.disks.read().len()).finish()
    }
}

impl Store {
    /// Build a store; returns the receiving end of the repair queue for the repair worker.
    pub fn new(
        meta: Arc<RocksMeta>,
        disks: Vec<Arc<dyn ShardStore>>,
        codec: Arc<dyn Codec>,
        cfg: StoreConfig,
    ) -> (Arc<Self>, mpsc::Receiver<RepairRequest>) {
        let stripe = cfg.layout.stripe_data_size().max(1);
        let segment_size = (cfg.segment_size / stripe).max(1) * stripe;
        let (repair_tx, repair_rx) = mpsc::channel(1024);
        for d in &disks {
            meta.note_domain(d.id(), d.failure_domain());
        }
        let space = Space::new(cfg.disk_reserve).with_meta(meta.path());
        let store = Store {
            meta,
            disks: RwLock::new(disks.into_iter().map(|d| (d.id(), d)).collect()),
            codec,
            layout: cfg.layout,
            segment_size,
            write_quorum: cfg.write_quorum.unwrap_or(usize::from(cfg.layout.scheme.k) + 1).clamp(usize::from(cfg.layout.scheme.k), cfg.layout.scheme.total()),
            write_stall: cfg.write_stall,
            hedge_after: cfg.hedge_after,
            inline_max: cfg.inline_max,
            metrics: Metrics::default(),
            drains: RwLock::new(HashMap::new()),
            leadership: Leadership::default(),
            claims: Arc::default(),
            space,
            writes: crate::writes::OpenWrites::with_linger(cfg.write_linger),
            losses: tokio::sync::Notify::new(),
            repair_tx,
        };
        (Arc::new(store), repair_rx)
    }

    /// Coding record for new manifests.
    pub fn coding(&self) -> Coding {
        Coding::new(self.codec.id(), &self.layout)
    }

    /// Resolve a stored coding record (reusing the store's codec when it matches).
    pub fn coded(&self, c: &Coding) -> ClusterResult<Coded> {
        if *c == self.coding() {
            return Ok(Coded { layout: self.layout, codec: self.codec.clone() });
        }
        Ok(Coded { layout: c.layout()?, codec: c.codec()? })
    }

    /// Disks of node `node` ("local" in the embedded store), sorted by id.
    pub fn node_disks(&self, node: &str) -> Vec<DiskId> {
        self.all_disks().iter().filter(|d| d.info().node == node).map(|d| d.id()).collect()
    }

    /// Forget a disk that left the cluster map.
    pub fn remove_disk(&self, id: DiskId) {
        self.disks.write().remove(&id);
        self.drains.write().remove(&id);
    }

    /// k+m.
    pub fn total_shards(&self) -> usize {
        self.layout.scheme.total()
    }

    /// A disk by id.
    pub fn disk(&self, id: DiskId) -> ClusterResult<Arc<dyn ShardStore>> {
        self.disks
            .read()
            .get(&id)
            .cloned()
            .ok_or_else(|| ClusterError::Internal(format!("manifest names unknown disk {id}")))
    }

    /// Every disk, sorted by id.
    pub fn all_disks(&self) -> Vec<Arc<dyn ShardStore>> {
        let mut v: Vec<_> = self.disks.read().values().cloned().collect();
        v.sort_by_key(|d| d.id());
        v
    }

    /// Add (or replace) a disk, e.g. when a storage node reports a new one.
    pub fn add_disk(&self, d: Arc<dyn ShardStore>) {
        // The ledger's placement counters need the disk's domain before a shard goes there.
        self.meta.note_domain(d.id(), d.failure_domain());
        self.disks.write().insert(d.id(), d);
    }

    /// Failure domains in service: those with a disk that is neither lost (failed, or its node
    /// lost) nor draining/decommissioned. A node that is only down still counts: it is coming
    /// back, so its place in a segment is kept free for it rather than doubled up elsewhere.
    pub fn domains_in_service(&self) -> usize {
        distinct_domains(self.disks.read().values().filter(|d| !d.lost() && !self.out_of_service(d.id())).map(|d| d.failure_domain()))
    }

    /// The most shards of one segment a failure domain may hold now (see `domain_cap`).
    pub fn domain_cap(&self) -> usize {
        kintsugi_placement::domain_cap(self.total_shards(), self.domains_in_service())
    }

    /// Disks that may take new shards (not in `skip`): usable, in service, and with room above
    /// the disk reserve; and how many were left out only for want of space.
    fn candidates(&self, skip: impl Fn(DiskId) -> bool) -> (Vec<Candidate>, Vec<Candidate>) {
        let mut full = Vec::new();
        let disks = self.disks.read();
        let candidates = disks
            .values()
            .filter(|d| !skip(d.id()) && d.usable() && !self.out_of_service(d.id()))
            .filter_map(|d| {
                let info = d.info();
                let c = Candidate { disk: d.id(), node: d.failure_domain(), zone: d.zone(), weight: self.space.weight(&info) };
                if !self.space.takes_shards(&info) {
                    full.push(c);
                    return None;
                }
                Some(c)
            })
            .collect();
        (candidates, full)
    }

    /// Refused (`MetaFull`) while the metadata directory's file system is below its reserve:
    /// new objects are refused then, so that deletes still work.
    pub fn meta_room(&self) -> ClusterResult<()> {
        match self.space.meta_short() {
            Some((free, reserve)) => Err(ClusterError::MetaFull { dir: self.meta.path().display().to_string(), free, reserve }),
            None => Ok(()),
        }
    }

    /// Disks for the k+m shards of a new segment, by shard index, with [`NO_DISK`] for a shard
    /// that no disk may take now. Never one disk twice; at most [`Store::domain_cap`] shards per
    /// failure domain, so while nodes are down a segment gets one shard per live node and its
    /// last (parity) shards are left unplaced for repair to complete — recorded, counted at
    /// risk, never doubled onto another node. Refused when fewer than the write quorum fit.
    pub fn place(&self, segment_id: u128, exclude: &[DiskId]) -> ClusterResult<Vec<DiskId>> {
        self.meta_room()?;
        let (candidates, full) = self.candidates(|d| exclude.contains(&d));
        let need = self.total_shards();
        let cap = self.domain_cap();
        let chosen = kintsugi_placement::place_around(&segment_id.to_le_bytes(), &candidates, need, cap, &[])
            .map_err(|e| ClusterError::Internal(format!("placement failed: {e}")))?;
        if chosen.len() < self.write_quorum {
            // Full only when space decided it: with room on the full disks the write would be
            // placed (the same rules: one disk per shard, the domain cap).
            if !full.is_empty() {
                let all: Vec<Candidate> = candidates.iter().chain(&full).copied().collect();
                let would = kintsugi_placement::place_around(&segment_id.to_le_bytes(), &all, need, cap, &[]).map_or(0, |c| c.len());
                if would >= self.write_quorum {
                    return Err(ClusterError::StorageFull { room: candidates.len(), full: full.len(), need: self.write_quorum, reserve: self.space.reserve().to_string() });
                }
            }
            let domains = distinct_domains(candidates.iter().map(|c| c.node));
            return Err(ClusterError::NotEnoughDisks { healthy: candidates.len(), domains, need: self.write_quorum });
        }
        Ok((0..need).map(|i| chosen.get(i).copied().unwrap_or(NO_DISK)).collect())
    }

    /// Choose up to `count` more disks for shards of segment `segment_id` whose other shards are
    /// on `used` (of which `healthy` are usable): never a disk in `used`, and never more than
    /// [`Store::domain_cap`] shards of the segment in one failure domain (counting the healthy
    /// ones), least-used domains first. May return fewer (even none): the rest waits for a
    /// domain to come back or be added.
    pub fn place_extra(&self, segment_id: u128, used: &[DiskId], healthy: &[DiskId], count: usize) -> Vec<DiskId> {
        let held: Vec<Held> = {
            let disks = self.disks.read();
            healthy.iter().filter_map(|d| disks.get(d)).map(|d| Held { node: d.failure_domain(), zone: d.zone() }).collect()
        };
        let (candidates, _) = self.candidates(|d| used.contains(&d));
        kintsugi_placement::place_around(&segment_id.to_le_bytes(), &candidates, count, self.domain_cap(), &held).unwrap_or_default()
    }

    /// True while `disk` is draining or decommissioned (it takes no new shards).
    pub fn out_of_service(&self, disk: DiskId) -> bool {
        self.drains.read().contains_key(&disk)
    }

    /// Queue a segment for read-repair (dropped when the queue is full: the next read reports it again).
    pub fn report_damage(&self, req: RepairRequest) {
        if self.repair_tx.try_send(req).is_err() {
            tracing::warn!("read-repair queue full; damage will be reported again on the next read");
        }
    }

    /// Number of disks that cannot take shards now (failed, or on a node that is down).
    pub fn failed_disks(&self) -> usize {
        self.disks.read().values().filter(|d| !d.usable()).count()
    }

    /// Run blocking metadata work that yields errors of the caller's type off the async executor
    /// (its reads as of the request this task serves, if any: [`serving_request`]).
    pub async fn meta_call_with<T: Send + 'static, E: From<tokio::task::JoinError> + Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&RocksMeta) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        let meta = self.meta.clone();
        let since = REQUEST_BEGAN.try_with(|b| *b).ok();
        tokio::task::spawn_blocking(move || kintsugi_meta::reads_as_of(since, || f(&meta))).await?
    }

    /// Run blocking metadata work off the async executor (its reads as of the request this
    /// task serves, if any: [`serving_request`]).
    pub async fn meta_call<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&RocksMeta) -> Result<T, kintsugi_meta::MetaError> + Send + 'static,
    ) -> ClusterResult<T> {
        self.meta_call_with(move |m| f(m).map_err(ClusterError::from)).await
    }
}

tokio::task_local! {
    /// When the S3 request this task serves began ([`serving_request`]).
    static REQUEST_BEGAN: std::time::Instant;
}

/// Run `request`, the handling of one S3 request that began at `began`, with the metadata reads
/// it makes through [`Store::meta_call`] (on this task) serving as of `began`: each needs only
/// what was committed before the request began, so its later reads reuse the confirmation of
/// its first (`kintsugi_meta::reads_as_of`). Work the request spawns on other tasks reads as of
/// its own calls, as background work does.
pub async fn serving_request<F: std::future::Future>(began: std::time::Instant, request: F) -> F::Output {
    REQUEST_BEGAN.scope(began, request).await
}
