//! Write intents (shards being written that nothing references yet) and the
//! garbage queue (shards nothing references any more, deleted after a delay).

use rocksdb::WriteBatch;

use crate::error::MetaResult;
use crate::keys;
use crate::store::{RocksMeta, CF_GARBAGE, CF_INTENTS};
use crate::types::{decode, encode, DiskId, GarbageRecord, IntentRecord, SegmentId};

impl RocksMeta {
    /// Queue shards of `segment` as garbage due at `due_ms`, merged with any
    /// garbage already queued for that segment (e.g. a stale copy left by repair).
    pub(crate) fn batch_add_garbage(&self, b: &mut WriteBatch, segment: SegmentId, mut shards: Vec<(u8, DiskId)>, due_ms: i64) -> MetaResult<()> {
        let k = keys::segment_key(segment);
        let mut due = due_ms;
        if let Some(old) = self.get::<GarbageRecord>(CF_GARBAGE, "garbage", &k)? {
            due = due.max(old.due_ms);
            for s in old.shards {
                if !shards.contains(&s) {
                    shards.push(s);
                }
            }
        }
        b.put_cf(self.cf(CF_GARBAGE)?, k, encode(&GarbageRecord { due_ms: due, shards })?);
        Ok(())
    }

    pub(crate) fn apply_add_intent(&self, segment: SegmentId, shards: &[(u8, DiskId)], started_ms: i64) -> MetaResult<()> {
        let mut shards = shards.to_vec();
        let mut b = WriteBatch::default();
        let k = keys::segment_key(segment);
        let mut started_ms = started_ms;
        if let Some(old) = self.get::<IntentRecord>(CF_INTENTS, "intent", &k)? {
            started_ms = old.started_ms;
            for s in old.shards {
                if !shards.contains(&s) {
                    shards.push(s);
                }
            }
        }
        let rec = IntentRecord { started_ms, shards };
        b.put_cf(self.cf(CF_INTENTS)?, keys::segment_key(segment), encode(&rec)?);
        self.write(b)
    }

    pub(crate) fn apply_intents_to_garbage(&self, segments: &[SegmentId]) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        for s in segments {
            self.batch_intent_to_garbage(&mut b, *s, None)?;
        }
        self.write(b)
    }

    pub(crate) fn apply_give_up_intents(&self, intents: &[(SegmentId, IntentRecord)]) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        for (s, read) in intents {
            self.batch_intent_to_garbage(&mut b, *s, Some(read))?;
        }
        self.write(b)
    }

    /// Turn `segment`'s open intent into garbage due at once — when `as_read` is given, only
    /// while the intent is still exactly that record (one a writer added to since is not the
    /// sweep's to give up).
    fn batch_intent_to_garbage(&self, b: &mut WriteBatch, segment: SegmentId, as_read: Option<&IntentRecord>) -> MetaResult<()> {
        let k = keys::segment_key(segment);
        let Some(rec) = self.get::<IntentRecord>(CF_INTENTS, "intent", &k)? else { return Ok(()) };
        if as_read.is_some_and(|r| *r != rec) {
            return Ok(());
        }
        b.delete_cf(self.cf(CF_INTENTS)?, k);
        self.batch_add_garbage(b, segment, rec.shards, 0)
    }

    /// All open intents (on a restarted single-process server, all are dead).
    pub fn list_intents(&self) -> MetaResult<Vec<(SegmentId, IntentRecord)>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_INTENTS, &[], &[], |k, v| {
            if let Some(seg) = keys::parse_segment_key(k) {
                out.push((seg, decode("intent", v)?));
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Garbage entries due at `now`, at most `max`.
    pub fn due_garbage(&self, now: i64, max: usize) -> MetaResult<Vec<(SegmentId, GarbageRecord)>> {
        self.due_garbage_after(now, None, max)
    }

    /// Garbage entries due at `now` whose segment comes after `after` (in key order), at most
    /// `max`: a pass walks the whole queue page by page, so entries that stay queued (a node
    /// down, a file held) cannot starve the ones behind them.
    pub fn due_garbage_after(&self, now: i64, after: Option<SegmentId>, max: usize) -> MetaResult<Vec<(SegmentId, GarbageRecord)>> {
        let mut out = Vec::new();
        let start = after.map(keys::segment_key);
        self.scan_prefix(CF_GARBAGE, &[], start.as_ref().map_or(&[][..], |s| &s[..]), |k, v| {
            if start.is_some_and(|s| k == s.as_slice()) {
                return Ok(true);
            }
            let rec: GarbageRecord = decode("garbage", v)?;
            if rec.due_ms <= now {
                if let Some(seg) = keys::parse_segment_key(k) {
                    out.push((seg, rec));
                }
            }
            Ok(out.len() < max)
        })?;
        Ok(out)
    }

    /// Number of pending garbage entries.
    pub fn garbage_count(&self) -> MetaResult<u64> {
        self.count_keys(CF_GARBAGE)
    }

    /// Number of open write intents (writes begun and neither committed nor given up).
    pub fn intent_count(&self) -> MetaResult<u64> {
        self.count_keys(CF_INTENTS)
    }

    fn count_keys(&self, cf: &'static str) -> MetaResult<u64> {
        let mut n = 0u64;
        self.scan_prefix(cf, &[], &[], |_, _| {
            n += 1;
            Ok(true)
        })?;
        Ok(n)
    }

    pub(crate) fn apply_remove_garbage_shards(&self, segment: SegmentId, done: &[(u8, DiskId)]) -> MetaResult<()> {
        let k = keys::segment_key(segment);
        let Some(mut rec) = self.get::<GarbageRecord>(CF_GARBAGE, "garbage", &k)? else { return Ok(()) };
        // The entry of an inline segment never names a shard; one that did (a coded segment's,
        // emptied by this pass) has no inline bytes to drop.
        let inline = rec.shards.is_empty();
        rec.shards.retain(|s| !done.contains(s));
        let mut b = WriteBatch::default();
        if rec.shards.is_empty() {
            b.delete_cf(self.cf(CF_GARBAGE)?, k);
            if inline {
                self.batch_drop_inline(&mut b, segment)?;
            }
        } else {
            b.put_cf(self.cf(CF_GARBAGE)?, k, encode(&rec)?);
        }
        self.write(b)
    }

    pub(crate) fn apply_remove_garbage(&self, segment: SegmentId) -> MetaResult<()> {
        let mut b = WriteBatch::default();
        b.delete_cf(self.cf(CF_GARBAGE)?, keys::segment_key(segment));
        self.batch_drop_inline(&mut b, segment)?;
        self.write(b)
    }
}
