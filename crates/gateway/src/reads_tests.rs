//! The metadata reads of one S3 request are as of its start (`kintsugi_cluster::serving_request`
//! around the s3s call in `http.rs`): the store's metadata calls made on the request's task carry
//! that moment to the read barrier; calls from other tasks, and after the request, do not.
//! Real RocksDB; the log stands in only for the barrier, recording what each read asked.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use kintsugi_meta::{Applied, Command, CommandLog, MetaError, MetaRead, MetaResult};

use crate::move_gc_tests::store_with;

/// A log that records which barrier each read asked for.
#[derive(Default)]
struct Recording {
    asked: Mutex<Vec<Option<Instant>>>,
}

impl CommandLog for Recording {
    fn submit(&self, cmd: &Command) -> MetaResult<Applied> {
        Err(MetaError::NotCommitted { command: cmd.name(), detail: "not in this test".into() })
    }
    fn read_barrier(&self) -> MetaResult<()> {
        self.asked.lock().expect("lock").push(None);
        Ok(())
    }
    fn read_barrier_since(&self, since: Instant) -> MetaResult<()> {
        self.asked.lock().expect("lock").push(Some(since));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_metadata_calls_read_as_of_its_start_and_no_other_call_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with(dir.path(), |_| {});
    store.meta.create_bucket("b").expect("bucket");
    let log = Arc::new(Recording::default());
    assert!(store.meta.set_log(log.clone()).is_ok());
    let began = Instant::now();
    let s = store.clone();
    kintsugi_cluster::serving_request(began, async move {
        s.meta_call(|m| m.bucket("b")).await.expect("read");
        s.meta_call_with(|m| m.bucket_versioning("b").map_err(crate::GatewayError::from)).await.expect("read");
        // A task the request spawns is not the request.
        let t = s.clone();
        tokio::spawn(async move { t.meta_call(|m| m.bucket("b")).await.expect("read") }).await.expect("task");
    })
    .await;
    store.meta_call(|m| m.bucket("b")).await.expect("read");
    let asked = log.asked.lock().expect("lock").clone();
    assert_eq!(asked, vec![Some(began), Some(began), None, None]);
}
