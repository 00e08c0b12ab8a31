//! Client side of Kintsugi's admin API (HTTP + JSON on the gateway, SigV4
//! authenticated), used by `stat` and the `admin` commands.

use anyhow::{Context, Result};
use kintsugi_client::S3Client;
use serde_json::Value;

/// The erasure layout and shard health of an object (Kintsugi endpoints only).
pub async fn object_layout(s3: &S3Client, bucket: &str, key: &str, verify: bool) -> Result<Value> {
    let mut q = vec![("bucket".to_owned(), bucket.to_owned()), ("key".to_owned(), key.to_owned())];
    if verify {
        q.push(("verify".into(), "full".into()));
    }
    let body = s3.admin_get("object", &q).await?;
    serde_json::from_slice(&body).context("admin API sent invalid JSON")
}

/// Print a layout as `stat` shows it.
pub fn print_layout(l: &Value) {
    let k = l["k"].as_u64().unwrap_or(0);
    let m = l["m"].as_u64().unwrap_or(0);
    let segs = l["segments"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    println!("  erasure:       {}+{} ({}), chunk {} bytes, {} segment(s)", k, m, l["codec"].as_str().unwrap_or("?"), l["chunk_size"], segs.len());
    for s in segs {
        if let Some(state) = s["inline"].as_str() {
            println!("  segment {} ({} bytes, id {}): kept with the metadata (inline, no shards), {state}", s["index"], s["len"], s["id"].as_str().unwrap_or("?"));
            continue;
        }
        let healthy = s["healthy"].as_u64().unwrap_or(0);
        let mut survives = match s["domain_losses_survived"].as_u64() {
            Some(n) => format!("survives the loss of any {n} failure domain(s)"),
            None => "NOT READABLE: fewer than k healthy shards".to_owned(),
        };
        if let Some(z) = s.get("zone_losses_survived").and_then(Value::as_u64) {
            survives.push_str(&format!(" or {z} zone(s)"));
        }
        println!("  segment {} ({} bytes, id {}): {healthy}/{} shards healthy, {survives}", s["index"], s["len"], s["id"].as_str().unwrap_or("?"), k + m);
        for sh in s["shards"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let idx = sh["index"].as_u64().unwrap_or(0);
            let kind = if idx < k { "data" } else { "parity" };
            let detail = sh["detail"].as_str().map(|d| format!("  ({d})")).unwrap_or_default();
            println!(
                "    shard {idx:>2} {kind:<6} node {} disk {:>3}  {}{detail}",
                sh["node"].as_str().unwrap_or("?"),
                sh["disk"],
                sh["health"].as_str().unwrap_or("?")
            );
        }
    }
}
