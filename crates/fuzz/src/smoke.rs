//! A short, deterministic run of every target on stable (part of `make test`): each target's
//! valid seeds, every file of `fuzz/corpus/<target>/` (seeds and the inputs of crashes found
//! and fixed), thousands of mutations of those, and random bytes.

use std::path::PathBuf;
use std::sync::Arc;

use kintsugi_disk::ShardHeader;
use kintsugi_meta::{encode_record, keys, Coding, Command, GarbageRecord, Manifest, SegmentMeta, ShardLabel, ShardLoc};
use kintsugi_net::{encode_frame, JoinToken};

use crate::TARGETS;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Valid inputs of a target, built from the real encoders.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let frame = |f: Vec<u8>| f[4..].to_vec();
    let header = ShardHeader {
        codec: 1,
        k: 4,
        m: 2,
        index: 3,
        chunk_size: 1 << 20,
        segment_no: 7,
        segment_id: 0x1234_5678_9abc_def0_1122_3344_5566_7788,
        owner_id: 42,
        part_number: 2,
        segment_len: 5_000_000,
        data_len: 1_250_000,
        chunks: 2,
        label: Arc::from(&b"label bytes"[..]),
    };
    match target {
        "wire_frame" => vec![
            frame(encode_frame(&kintsugi_storage::Request::Ping).expect("frame")),
            frame(encode_frame(&kintsugi_storage::Request::DeleteShard { disk: 9, segment: 77, index: 1 }).expect("frame")),
            frame(encode_frame(&kintsugi_storage::Request::PutShard { disk: 3, header: header.encode() }).expect("frame")),
            frame(encode_frame(&kintsugi_net::probe::ProbeRequest::Sink { len: 12 }).expect("frame")),
        ],
        "join_token" => vec![JoinToken { gateway: "10.0.0.1:7000".into(), ca_fingerprint: "ab".repeat(32), secret: "s3cr3t-0123456789abcdef".into() }.encode().into_bytes()],
        "shard_header" => {
            let label = ShardLabel {
                bucket: "b".into(),
                key: "k".into(),
                started_ms: 5,
                declared_len: Some(9),
                content_type: Some("text/plain".into()),
                headers: vec![("cache-control".into(), "no-cache".into())],
                user_meta: vec![],
                attrs_dropped: false,
            };
            vec![header.encode(), ShardHeader { label: Arc::from(&[][..]), ..header.clone() }.encode(), label.encode().unwrap_or_default()]
        }
        "meta_record" => {
            let coding = Coding { codec: 1, k: 4, m: 2, chunk_size: 1 << 20 };
            let manifest = Manifest {
                version_id: 1,
                size: 5,
                etag: "etag".into(),
                modified_ms: 1,
                content_type: Some("text/plain".into()),
                headers: vec![("cache-control".into(), "no-cache".into())],
                user_meta: vec![("a".into(), "b".into())],
                parts: 0,
                coding,
                segments: vec![SegmentMeta { id: 10, len: 5, shards: vec![ShardLoc { disk: 1, hash: [7; 32] }; 6] }],
            };
            vec![
                encode_record(&manifest).expect("record"),
                encode_record(&GarbageRecord { due_ms: 5, shards: vec![(0, 1), (3, 4)] }).expect("record"),
                Command::IntentsToGarbage { segments: vec![1, 2, 3] }.encode().expect("command"),
                Command::RemoveGarbage { segment: 9 }.encode().expect("command"),
            ]
        }
        "meta_key" => vec![keys::object_key("bucket", b"some/key"), keys::disk_shard_key(3, 99, 2).to_vec(), keys::part_key("upload-1", 7), keys::segment_key(5).to_vec()],
        "client_xml" => vec![
            br#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Contents><Key>a&amp;b</Key><Size>5</Size></Contents><IsTruncated>false</IsTruncated></ListBucketResult>"#.to_vec(),
            br#"<Error><Code>NoSuchKey</Code><Message>gone &#x41;</Message></Error>"#.to_vec(),
        ],
        "meta_export" => {
            let families: Vec<kintsugi_meta::ExportFamily> = vec![
                ("objects".into(), vec![(keys::object_key("b", b"k"), encode_record(&GarbageRecord { due_ms: 1, shards: vec![(0, 1)] }).expect("record"))]),
                ("system".into(), vec![(b"map-epoch".to_vec(), vec![1, 7])]),
                ("keys".into(), vec![]),
            ];
            // And a streamed export (version 2) of a store holding one bucket.
            let dir = tempfile::tempdir().expect("tempdir");
            let meta = kintsugi_meta::RocksMeta::open(dir.path(), 0).expect("store");
            meta.create_bucket("b").expect("bucket");
            let mut streamed = Vec::new();
            meta.export_to(&mut streamed).expect("streamed export");
            vec![kintsugi_meta::encode_export(&families).expect("export"), kintsugi_meta::encode_export(&[]).expect("export"), streamed]
        }
        "ledger_value" => vec![kintsugi_meta::encode_ledger_value(3, 4096), kintsugi_meta::encode_ledger_value(-1, i64::MAX), [5i64.to_le_bytes(), 9i64.to_le_bytes()].concat()],
        "admin_query" => vec![b"bucket=my%20bucket&key=a%2Fb+c&verify=full".to_vec(), b"node=n1&disk=3&path=%2Fsrv%2Fd%".to_vec(), b"ttl=3600&uses=1&node=n7".to_vec()],
        "shard_body" => {
            use kintsugi_storage::records::{get_record_head, put_record_end, put_record_head, table_record, FAILED_RECORD};
            let failed = encode_frame(&kintsugi_storage::Response::error(kintsugi_storage::ErrorCode::ShardCorrupt, "chunk 1 is corrupt")).expect("frame");
            vec![
                [&put_record_head(3, &[7; 32])[..], b"abc", &put_record_head(0, &[8; 32]), &put_record_end(3)].concat(),
                [&table_record(&[[1; 32], [2; 32]])[..], &get_record_head(3), b"xyz", &[FAILED_RECORD], &failed].concat(),
                [&get_record_head(2)[..], b"hi", &get_record_head(0), &[FAILED_RECORD], &failed].concat(),
                // A PutShard body of a shard whose chunks have at most 256 bytes.
                [&[0xff, 1][..], &put_record_head(200, &[9; 32]), &[7; 200], &put_record_head(300, &[9; 32]), &[7; 300]].concat(),
            ]
        }
        "bucket_policy" => vec![
            br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#.to_vec(),
            br#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::KEY:root"]},"NotAction":["s3:Get*","s3:List?ucket"],"NotResource":"arn:aws:s3:::b/pub/*","Condition":{"ForAnyValue:StringLikeIfExists":{"s3:prefix":["a*","?"]},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","::ffff:0:0/96"]},"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"},"NumericLessThanEquals":{"s3:max-keys":"10"},"Bool":{"aws:SecureTransport":false},"Null":{"s3:x-amz-acl":true}}}}"#.to_vec(),
        ],
        other => panic!("no seeds for {other}"),
    }
}

/// The committed corpus of a target (`fuzz/corpus/<target>/`), if any.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    entries.filter_map(|e| std::fs::read(e.ok()?.path()).ok()).collect()
}

/// One mutation of `input`, as libFuzzer's simplest mutators make them.
fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0, 1, 0x7f, 0x80, 0xff][rng.below(5)];
            }
            2 => v.truncate(rng.below(v.len() + 1)),
            3 => {
                let i = rng.below(v.len() + 1);
                let n = rng.below(8) + 1;
                let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(i..i, fill);
            }
            4 if !v.is_empty() => {
                // A varint or length field set to an extreme: postcard lengths, header sizes.
                let i = rng.below(v.len());
                let end = (i + 5).min(v.len());
                for b in &mut v[i..end] {
                    *b = 0xff;
                }
            }
            5 if !others.is_empty() => {
                let o = &others[rng.below(others.len())];
                let cut = rng.below(v.len() + 1);
                let from = rng.below(o.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&o[from..]);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
        }
    }
    v
}

#[test]
fn every_target_survives_its_seeds_the_corpus_mutations_and_random_bytes() {
    for (name, target) in TARGETS {
        let mut inputs = seeds(name);
        inputs.extend(corpus(name));
        for input in &inputs {
            target(input);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        for round in 0..20_000 {
            let input = if round % 10 == 0 {
                let n = rng.below(300);
                (0..n).map(|_| rng.next() as u8).collect()
            } else {
                let base = &inputs[rng.below(inputs.len())];
                mutate(&mut rng, base, &inputs)
            };
            let caught = std::panic::catch_unwind(|| target(&input));
            assert!(caught.is_ok(), "target {name} panicked on input {:02x?}", input);
        }
    }
}

#[test]
fn the_seeds_decode() {
    // The seeds are valid: a target that refused them all would fuzz nothing but error paths.
    assert!(ShardHeader::decode(&seeds("shard_header")[0]).is_ok());
    assert!(kintsugi_net::decode_frame::<kintsugi_storage::Request>(&seeds("wire_frame")[1]).is_ok());
    assert!(kintsugi_meta::decode_record::<Manifest>("manifest", &seeds("meta_record")[0]).is_ok());
    JoinToken::parse(std::str::from_utf8(&seeds("join_token")[0]).expect("utf-8")).expect("the token seed parses");
    kintsugi_client::xml::parse("seed", &seeds("client_xml")[0]).expect("the XML seed parses");
    assert!(keys::parse_object_key(&seeds("meta_key")[0]).is_some());
    assert_eq!(kintsugi_meta::decode_export(&seeds("meta_export")[0]).expect("the export seed decodes").len(), 3);
    let streamed = &seeds("meta_export")[2];
    kintsugi_meta::check_export(&streamed[..], streamed.len() as u64).expect("the streamed export seed checks");
    assert_eq!(kintsugi_meta::decode_ledger_value(&seeds("ledger_value")[2]).expect("a value from before version bytes"), (5, 9));
    assert_eq!(kintsugi_gateway::admin_query_value(std::str::from_utf8(&seeds("admin_query")[0]).expect("utf-8"), "key").as_deref(), Some("a/b c"));
    let policies: Vec<String> = seeds("bucket_policy").into_iter().map(|d| String::from_utf8(d).expect("utf-8")).collect();
    assert_eq!(kintsugi_gateway::policy_probe(&policies[0], ""), Some(true), "the public seed parses");
    assert_eq!(kintsugi_gateway::policy_probe(&policies[1], "prefix=a"), Some(false), "the conditioned Deny seed parses");
    use kintsugi_storage::records::{read_get_record, read_put_record, read_table, GetRecord, PutRecord};
    let mut capped = &seeds("shard_body")[3][2..];
    assert!(matches!(crate::now(read_put_record(&mut capped, 256)), Ok(PutRecord::Chunk { .. })));
    assert!(crate::now(read_put_record(&mut capped, 256)).is_err(), "a 300-byte chunk of a 256-byte shard chunk size");
    let mut put = &seeds("shard_body")[0][..];
    assert_eq!(crate::now(read_put_record(&mut put, 1024)).expect("the PutShard seed decodes"), PutRecord::Chunk { hash: [7; 32], bytes: b"abc".to_vec() });
    let mut read = &seeds("shard_body")[1][..];
    assert_eq!(crate::now(read_table(&mut read)).expect("the table seed decodes"), vec![[1; 32], [2; 32]]);
    assert_eq!(crate::now(read_get_record(&mut read)).expect("a chunk record"), GetRecord::Chunk(b"xyz".to_vec()));
    assert!(matches!(crate::now(read_get_record(&mut read)), Ok(GetRecord::Failed(kintsugi_storage::Response::Error { .. }))));
}

/// `scripts/fuzz.sh` asks for the seeds as files (`KINTSUGI_FUZZ_SEED_DIR/<target>/seed-N`),
/// libFuzzer's starting corpus.
#[test]
fn write_seeds_when_asked() {
    let Some(dir) = std::env::var_os("KINTSUGI_FUZZ_SEED_DIR") else { return };
    for (name, _) in TARGETS {
        let d = PathBuf::from(&dir).join(name);
        std::fs::create_dir_all(&d).expect("seed dir");
        for (i, seed) in seeds(name).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), seed).expect("write seed");
        }
    }
}
