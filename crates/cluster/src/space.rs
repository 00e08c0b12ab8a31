//! Full disks: the free space a disk keeps back (`--disk-reserve`), below which it takes no
//! new shards, and the disks that refused a write for want of space (out of placement for a
//! while, whatever their last report said). Keeping the reserve free leaves room on a file
//! system that disks share with the metadata, so that deletes can always be committed; and
//! the metadata directory's own file system keeps the same reserve: below it no new object
//! is written (a gateway whose `--meta` is on a file system of its own).

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use kintsugi_meta::DiskId;
use kintsugi_storage::DiskInfo;
use parking_lot::Mutex;

/// How long a disk that answered "no space left" stays out of placement (its last report of
/// free space may be older than the refusal).
pub const FULL_HOLD: Duration = Duration::from_secs(30);

/// Free space every disk keeps back: a number of bytes, or a share of its capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DiskReserve {
    /// This many bytes.
    Bytes(u64),
    /// This percentage (0–50) of the disk's capacity.
    Percent(f64),
}

impl Default for DiskReserve {
    /// 1 GiB: room for the metadata and the file system's own needs, whatever the disk's size.
    fn default() -> Self {
        DiskReserve::Bytes(1 << 30)
    }
}

impl DiskReserve {
    /// The bytes kept back on a disk of `capacity` bytes.
    pub fn bytes(&self, capacity: u64) -> u64 {
        match *self {
            DiskReserve::Bytes(b) => b,
            DiskReserve::Percent(p) => (capacity as f64 * p / 100.0).ceil() as u64,
        }
    }
}

impl std::fmt::Display for DiskReserve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiskReserve::Bytes(b) => write!(f, "{b} bytes"),
            DiskReserve::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for DiskReserve {
    type Err = String;

    /// `N%` (0–50), or bytes: `N`, `NKiB`, `NMiB`, `NGiB`, `NTiB` (also `K`, `M`, `G`, `T`).
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || format!("{s:?} is not a disk reserve; write a percentage of each disk (e.g. 5%) or a size (e.g. 1GiB, 512MiB, 0)");
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=50.0).contains(&p) {
                return Err(format!("a disk reserve of {p}% is outside 0%..50%"));
            }
            return Ok(DiskReserve::Percent(p));
        }
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "ki" | "kib" => 10,
            "m" | "mi" | "mib" => 20,
            "g" | "gi" | "gib" => 30,
            "t" | "ti" | "tib" => 40,
            _ => return Err(bad()),
        };
        n.checked_mul(1 << shift).map(DiskReserve::Bytes).ok_or_else(bad)
    }
}

/// The reserve and the disks that recently ran out of space.
#[derive(Debug, Default)]
pub struct Space {
    reserve: DiskReserve,
    /// Disks that answered "no space left", and when.
    full: Mutex<HashMap<DiskId, Instant>>,
    /// The metadata directory, whose file system keeps the same reserve: below it no new
    /// object is written, so deletes (small metadata writes) always have room.
    meta_dir: Option<std::path::PathBuf>,
    /// The metadata file system's last reading.
    meta_seen: Mutex<Option<MetaReading>>,
}

/// When the metadata file system was read, and its (free, reserve) if it was short.
type MetaReading = (Instant, Option<(u64, u64)>);

/// How long a reading of the metadata file system's free space is used.
const META_READING: Duration = Duration::from_millis(250);

impl Space {
    /// Keep `reserve` free on every disk.
    pub fn new(reserve: DiskReserve) -> Self {
        Self { reserve, ..Self::default() }
    }

    /// Keep the reserve on the file system of the metadata directory `dir` too.
    pub fn with_meta(mut self, dir: &std::path::Path) -> Self {
        self.meta_dir = Some(dir.to_owned());
        self
    }

    /// The metadata file system's (free bytes, reserve) when it has no room above the
    /// reserve; `None` when it has, or cannot be read. Read at most every 250 ms.
    pub fn meta_short(&self) -> Option<(u64, u64)> {
        let dir = self.meta_dir.as_ref()?;
        let mut seen = self.meta_seen.lock();
        if let Some((at, short)) = *seen {
            if at.elapsed() < META_READING {
                return short;
            }
        }
        let (capacity, free) = kintsugi_disk::fs_space(dir);
        let reserve = self.reserve.bytes(capacity);
        let short = (capacity > 0 && free <= reserve).then_some((free, reserve));
        *seen = Some((Instant::now(), short));
        short
    }

    /// The reserve.
    pub fn reserve(&self) -> DiskReserve {
        self.reserve
    }

    /// A write to `disk` failed for want of space: no new shards go there for [`FULL_HOLD`].
    pub fn note_full(&self, disk: DiskId) {
        if self.full.lock().insert(disk, Instant::now()).is_none() {
            tracing::warn!(disk, "disk is out of space: it takes no new shards for now");
        }
    }

    /// Bytes a disk may still take above its reserve (`None`: its capacity is not known yet,
    /// so it is not held back).
    pub fn room(&self, info: &DiskInfo) -> Option<u64> {
        (info.capacity > 0).then(|| info.free.saturating_sub(self.reserve.bytes(info.capacity)))
    }

    /// Whether new shards may go to this disk: it has room above its reserve, and has not
    /// refused a write for want of space in the last [`FULL_HOLD`].
    pub fn takes_shards(&self, info: &DiskInfo) -> bool {
        if self.room(info) == Some(0) {
            return false;
        }
        let mut full = self.full.lock();
        match full.get(&info.id) {
            Some(at) if at.elapsed() < FULL_HOLD => false,
            Some(_) => {
                full.remove(&info.id);
                true
            }
            None => true,
        }
    }

    /// Placement weight of a disk that takes shards: its room in GiB (at least 1).
    pub fn weight(&self, info: &DiskInfo) -> u64 {
        (self.room(info).unwrap_or(info.free) >> 30).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: DiskId, capacity: u64, free: u64) -> DiskInfo {
        DiskInfo { id, node: "local".into(), path: String::new(), capacity, free, failed: false, reachable: true }
    }

    #[test]
    fn reserves_parse_as_sizes_or_percentages() {
        assert_eq!("5%".parse::<DiskReserve>(), Ok(DiskReserve::Percent(5.0)));
        assert_eq!("1GiB".parse::<DiskReserve>(), Ok(DiskReserve::Bytes(1 << 30)));
        assert_eq!("64M".parse::<DiskReserve>(), Ok(DiskReserve::Bytes(64 << 20)));
        assert_eq!("0".parse::<DiskReserve>(), Ok(DiskReserve::Bytes(0)));
        assert!("60%".parse::<DiskReserve>().is_err());
        assert!("lots".parse::<DiskReserve>().is_err());
        assert!("99999999999T".parse::<DiskReserve>().is_err());
        assert_eq!(DiskReserve::Percent(5.0).bytes(1000), 50);
    }

    #[test]
    fn a_disk_below_its_reserve_or_just_out_of_space_takes_no_shards() {
        let space = Space::new(DiskReserve::Bytes(100 << 20));
        assert!(space.takes_shards(&info(1, 10 << 30, 200 << 20)));
        assert!(!space.takes_shards(&info(1, 10 << 30, 100 << 20)), "at the reserve");
        assert!(space.takes_shards(&info(2, 0, 0)), "capacity not reported yet");
        assert_eq!(space.weight(&info(3, 10 << 30, (5 << 30) + (100 << 20))), 5);
        space.note_full(1);
        assert!(!space.takes_shards(&info(1, 10 << 30, 5 << 30)), "refused a write moments ago");
        assert!(space.takes_shards(&info(2, 10 << 30, 5 << 30)));
    }
}
