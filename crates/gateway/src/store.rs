//! The shared context of one gateway: metadata, disks, codec, counters and
//! the channel to background workers. Passed around as `Arc<Store>`, never global.

use std::collections::HashMap;
use std::sync::Arc;

use kintsugi_disk::Disk;
use kintsugi_erasure::{Codec, CodecId, Layout, Scheme};
use kintsugi_meta::{Coding, DiskId, RocksMeta};
use kintsugi_placement::Candidate;
use tokio::sync::mpsc;

use crate::error::{GatewayError, GwResult};
use crate::metrics::Metrics;

/// Default maximum segment size (rounded down to whole stripes).
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 * 1024 * 1024;

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

/// Tunables of a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Codec layout for new objects.
    pub layout: Layout,
    /// Maximum segment size in bytes.
    pub segment_size: u64,
}

/// Everything a request handler or worker needs.
pub struct Store {
    /// Metadata store.
    pub meta: Arc<RocksMeta>,
    /// Disks by id.
    pub disks: HashMap<DiskId, Arc<Disk>>,
    /// Codec for new objects.
    pub codec: Arc<dyn Codec>,
    /// Layout for new objects.
    pub layout: Layout,
    /// Segment size (a whole number of stripes).
    pub segment_size: u64,
    /// Counters.
    pub metrics: Metrics,
    repair_tx: mpsc::Sender<RepairRequest>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("layout", &self.layout).field("disks", &self.disks.len()).finish()
    }
}

impl Store {
    /// Build a store; returns the receiving end of the repair queue for the repair worker.
    pub fn new(
        meta: Arc<RocksMeta>,
        disks: Vec<Arc<Disk>>,
        codec: Arc<dyn Codec>,
        cfg: StoreConfig,
    ) -> (Arc<Self>, mpsc::Receiver<RepairRequest>) {
        let stripe = cfg.layout.stripe_data_size().max(1);
        let segment_size = (cfg.segment_size / stripe).max(1) * stripe;
        let (repair_tx, repair_rx) = mpsc::channel(1024);
        let store = Store {
            meta,
            disks: disks.into_iter().map(|d| (d.id(), d)).collect(),
            codec,
            layout: cfg.layout,
            segment_size,
            metrics: Metrics::default(),
            repair_tx,
        };
        (Arc::new(store), repair_rx)
    }

    /// Coding record for new manifests.
    pub fn coding(&self) -> Coding {
        Coding {
            codec: self.codec.id().as_u8(),
            k: self.layout.scheme.k,
            m: self.layout.scheme.m,
            chunk_size: self.layout.chunk_size,
        }
    }

    /// Resolve a stored coding record (reusing the store's codec when it matches).
    pub fn coded(&self, c: &Coding) -> GwResult<Coded> {
        if *c == self.coding() {
            return Ok(Coded { layout: self.layout, codec: self.codec.clone() });
        }
        let scheme = Scheme::new(c.k, c.m)?;
        let layout = Layout::new(scheme, c.chunk_size)?;
        let codec = kintsugi_erasure::codec_for(CodecId::from_u8(c.codec)?, scheme)?;
        Ok(Coded { layout, codec })
    }

    /// k+m.
    pub fn total_shards(&self) -> usize {
        self.layout.scheme.total()
    }

    /// A disk by id.
    pub fn disk(&self, id: DiskId) -> GwResult<&Arc<Disk>> {
        self.disks
            .get(&id)
            .ok_or_else(|| GatewayError::Internal(format!("manifest names unknown disk {id}")))
    }

    /// Choose k+m distinct healthy disks for a new segment.
    pub fn place(&self, segment_id: u128) -> GwResult<Vec<DiskId>> {
        let candidates: Vec<Candidate> = self
            .disks
            .values()
            .filter(|d| !d.is_failed())
            .map(|d| Candidate { disk: d.id(), node: d.id(), zone: None, weight: 1 })
            .collect();
        let need = self.total_shards();
        if candidates.len() < need {
            return Err(GatewayError::NotEnoughDisks { healthy: candidates.len(), need });
        }
        kintsugi_placement::place(&segment_id.to_le_bytes(), &candidates, need)
            .map_err(|e| GatewayError::Internal(format!("placement failed: {e}")))
    }

    /// Queue a segment for read-repair (dropped when the queue is full: the next read reports it again).
    pub fn report_damage(&self, req: RepairRequest) {
        if self.repair_tx.try_send(req).is_err() {
            tracing::warn!("read-repair queue full; damage will be reported again on the next read");
        }
    }

    /// Number of failed disks.
    pub fn failed_disks(&self) -> usize {
        self.disks.values().filter(|d| d.is_failed()).count()
    }

    /// Run blocking metadata work that yields gateway errors off the async executor.
    pub async fn meta_call_gw<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&RocksMeta) -> GwResult<T> + Send + 'static,
    ) -> GwResult<T> {
        let meta = self.meta.clone();
        tokio::task::spawn_blocking(move || f(&meta)).await?
    }

    /// Run blocking metadata work off the async executor.
    pub async fn meta_call<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&RocksMeta) -> Result<T, kintsugi_meta::MetaError> + Send + 'static,
    ) -> GwResult<T> {
        let meta = self.meta.clone();
        Ok(tokio::task::spawn_blocking(move || f(&meta)).await??)
    }
}
