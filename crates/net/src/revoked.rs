//! Names whose certificates no member accepts any more: storage nodes removed from the
//! cluster. A name is never admitted again once removed, so refusing the name refuses every
//! certificate ever issued under it (a CRL by name, without serial numbers to track).
//!
//! The set is shared: the application fills it (a gateway from its metadata, a storage node
//! from what its gateways tell it) and the endpoint that serves checks it on every connection
//! and every request.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// How often a refusal of one revoked name is logged as a warning (the rest at debug level):
/// a removed node left running knocks at every heartbeat.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The revoked names, shared between an endpoint and whoever learns of removals.
#[derive(Clone, Debug, Default)]
pub struct Revoked(Arc<RwLock<BTreeSet<String>>>, Arc<Mutex<HashMap<String, Instant>>>);

impl Revoked {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeSet<String>> {
        // A writer that panicked left a set of names, still the best we know.
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `name`'s certificates are refused.
    pub fn contains(&self, name: &str) -> bool {
        self.read().contains(name)
    }

    /// Add `names`; answers the ones that were not in the set yet. Names are never taken out:
    /// a removed node stays removed.
    pub fn extend<I: IntoIterator<Item = String>>(&self, names: I) -> Vec<String> {
        let mut set = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        names.into_iter().filter(|n| set.insert(n.clone())).collect()
    }

    /// Whether a refusal of `name` should be logged as a warning now: the first, then at
    /// most one a minute (a removed node that keeps trying must not flood the log).
    pub(crate) fn warn_due(&self, name: &str) -> bool {
        let mut last = self.1.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        match last.get(name) {
            Some(t) if now.duration_since(*t) < WARN_EVERY => false,
            _ => {
                last.insert(name.to_owned(), now);
                true
            }
        }
    }

    /// Every revoked name, in order.
    pub fn names(&self) -> Vec<String> {
        self.read().iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_added_once_and_shared_by_clones() {
        let r = Revoked::new();
        let seen_by_endpoint = r.clone();
        assert!(!seen_by_endpoint.contains("n1"));
        assert_eq!(r.extend(["n1".to_owned(), "n2".to_owned()]), vec!["n1", "n2"]);
        assert_eq!(r.extend(["n2".to_owned(), "n3".to_owned()]), vec!["n3"], "only new names are answered");
        assert!(seen_by_endpoint.contains("n1") && seen_by_endpoint.contains("n3"));
        assert_eq!(seen_by_endpoint.names(), vec!["n1", "n2", "n3"]);
        assert_eq!(r.names().len(), 3);
        assert!(r.warn_due("n1"), "the first refusal is a warning");
        assert!(!seen_by_endpoint.warn_due("n1"), "the next ones within a minute are not");
        assert!(r.warn_due("n2"), "each name has its own");
    }
}
