//! The cluster's secrets in the replicated metadata (system record `cluster-secrets`): the
//! cluster CA's certificate and key, with which any gateway signs the certificates of the
//! storage nodes and gateways that join, and the two join secrets of older tokens. Set once,
//! by the gateway that formed the group (the first writer wins), and then held by every
//! gateway with the rest of the metadata: in its snapshots, its backups and the log it
//! replays. A gateway keeps a copy in files too (`<meta>/cluster/`), and takes them back from
//! here when those are lost.

use serde::{Deserialize, Serialize};

use crate::error::MetaResult;
use crate::store::{RocksMeta, CF_SYSTEM};

const KEY_SECRETS: &[u8] = b"cluster-secrets";

/// What a gateway needs to act for the cluster: the CA (to sign joins) and the join secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSecrets {
    /// Cluster CA certificate, PEM.
    pub ca_cert_pem: String,
    /// Cluster CA key, PEM.
    pub ca_key_pem: String,
    /// Secret of storage-node join tokens.
    pub node_secret: String,
    /// Secret of gateway join tokens.
    pub gateway_secret: String,
}

impl std::fmt::Debug for ClusterSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecrets(<redacted>)")
    }
}

impl RocksMeta {
    /// Set the cluster's secrets unless they are set (the first writer wins).
    pub(crate) fn apply_put_cluster_secrets(&self, secrets: &ClusterSecrets) -> MetaResult<()> {
        self.set_system_once(KEY_SECRETS, "cluster secrets", secrets)
    }

    /// The cluster's secrets as this replica holds them (`None`: none set yet, as in a group
    /// formed before they were replicated, or the embedded store).
    pub fn local_cluster_secrets(&self) -> MetaResult<Option<ClusterSecrets>> {
        self.guarded(|| self.get(CF_SYSTEM, "cluster secrets", KEY_SECRETS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(n: u8) -> ClusterSecrets {
        ClusterSecrets { ca_cert_pem: format!("cert {n}"), ca_key_pem: format!("key {n}"), node_secret: format!("node {n}"), gateway_secret: format!("gw {n}") }
    }

    #[test]
    fn the_secrets_are_set_once_survive_a_reopen_and_never_print() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        {
            let meta = RocksMeta::open(&path, 0).expect("open");
            assert_eq!(meta.local_cluster_secrets().expect("read"), None);
            meta.put_cluster_secrets(&secrets(1)).expect("first");
            meta.put_cluster_secrets(&secrets(2)).expect("second writes nothing");
            assert_eq!(meta.local_cluster_secrets().expect("read"), Some(secrets(1)), "the first writer wins");
        }
        let meta = RocksMeta::open(&path, 0).expect("reopen");
        let got = meta.local_cluster_secrets().expect("read").expect("kept");
        assert_eq!(got, secrets(1));
        assert_eq!(format!("{got:?}"), "ClusterSecrets(<redacted>)");
        // In the snapshot every gateway is sent.
        let (export, _) = meta.export().expect("export");
        let other = RocksMeta::open(&dir.path().join("other"), 0).expect("open");
        other.import(&export, b"stamp").expect("import");
        assert_eq!(other.local_cluster_secrets().expect("read"), Some(secrets(1)));
    }
}
