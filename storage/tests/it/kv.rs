//! The KV layer: 0G-encoded transactions uploaded as files, replayed in flow order with
//! versions, permissions and access control; queried over `kv_*`; kept across restarts.

use std::time::Duration;

use alloy_primitives::{Address, B256};
use serde_json::{Value, json};
use zg_storage::kv::{AclEntry, AclOp, KeyValueSegment, StreamData, ValueSegment, Write};
use zg_storage::types::{STREAM_DOMAIN, to_base64};
use zg_storage::{ClientError, NodeClient, UploadOptions};
use zg_testkit::storage::{Stack, dev_signer};

const S: B256 = B256::repeat_byte(0x51);
const OTHER: B256 = B256::repeat_byte(0x77);

fn write(key: &str, value: &str) -> Write {
    Write {
        stream: S,
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
    }
}

fn acl(op: AclOp, key: &str, account: Address) -> AclEntry {
    AclEntry {
        op,
        stream: S,
        key: key.as_bytes().to_vec(),
        account,
    }
}

/// A transaction based on `version` that writes `writes`.
fn writes(version: u64, writes: Vec<Write>) -> StreamData {
    StreamData {
        version,
        writes,
        ..Default::default()
    }
}

/// A transaction based on `version` that applies `acls`.
fn acls(version: u64, acls: Vec<AclEntry>) -> StreamData {
    StreamData {
        version,
        acls,
        ..Default::default()
    }
}

/// Uploads `sd` from dev account `who`; returns its seq.
async fn put(stack: &Stack, who: u32, sd: &StreamData) -> u64 {
    put_raw(stack, who, &sd.encode().unwrap(), sd.tags()).await
}

async fn put_raw(stack: &Stack, who: u32, data: &[u8], tags: Vec<u8>) -> u64 {
    let opts = UploadOptions {
        tags,
        ..UploadOptions::default()
    };
    stack.uploader(who).upload(data, &opts).await.unwrap().seq
}

async fn result(c: &NodeClient, seq: u64) -> String {
    for _ in 0..500 {
        let r: Option<String> = c
            .request("kv_getTransactionResult", json!([seq]))
            .await
            .unwrap();
        if let Some(r) = r {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("submission {seq} not replayed");
}

async fn value(c: &NodeClient, key: &str, version: Option<u64>) -> ValueSegment {
    c.request(
        "kv_getValue",
        json!([S, to_base64(key.as_bytes()), 0, 262144, version]),
    )
    .await
    .unwrap()
}

async fn flag(c: &NodeClient, method: &'static str, params: Value) -> bool {
    c.request(method, params).await.unwrap()
}

fn hex(b: &[u8]) -> String {
    format!("0x{}", alloy_primitives::hex::encode(b))
}

fn addr(i: u32) -> Address {
    dev_signer(i).address()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_replays_with_versions_permissions_and_access_control() {
    let mut stack = Stack::kv(vec![S]).await;
    let c = stack.client(0);
    let latest = u64::MAX;

    // the first writer of a new stream becomes its admin
    let s1 = put(
        &stack,
        0,
        &writes(
            latest,
            vec![
                write("a", "1"),
                write("b", "2"),
                write("c", "3"),
                write("a", "one"),
            ],
        ),
    )
    .await;
    assert_eq!(result(&c, s1).await, "Commit");
    let v = value(&c, "a", None).await;
    assert_eq!((v.version, v.data.as_slice(), v.size), (s1, &b"one"[..], 3)); // last write wins
    assert!(flag(&c, "kv_isAdmin", json!([addr(0), S])).await);
    assert!(flag(&c, "kv_IsAdmin", json!([addr(0), S])).await); // the TS SDK's spelling
    assert!(!flag(&c, "kv_isAdmin", json!([addr(1), S])).await);

    // someone else may not write it
    let s2 = put(&stack, 1, &writes(latest, vec![write("a", "intruder")])).await;
    assert_eq!(result(&c, s2).await, "SenderNoWritePermission");

    // the admin grants account 1 the writer role and makes "sp" special
    let s3 = put(
        &stack,
        0,
        &acls(
            latest,
            vec![
                acl(AclOp::GrantWriter, "", addr(1)),
                acl(AclOp::SetKeyToSpecial, "sp", Address::ZERO),
            ],
        ),
    )
    .await;
    assert_eq!(result(&c, s3).await, "Commit");
    assert!(flag(&c, "kv_isWriterOfStream", json!([addr(1), S])).await);
    assert!(flag(&c, "kv_isSpecialKey", json!([S, to_base64(b"sp")])).await);
    assert!(
        !flag(
            &c,
            "kv_hasWritePermission",
            json!([addr(1), S, to_base64(b"sp")])
        )
        .await
    );
    assert!(
        flag(
            &c,
            "kv_hasWritePermission",
            json!([addr(1), S, to_base64(b"a")])
        )
        .await
    );

    // the writer writes normal keys, not the special one; nor may it grant admin
    let s4 = put(&stack, 1, &writes(latest, vec![write("a", "two")])).await;
    assert_eq!(result(&c, s4).await, "Commit");
    let s5 = put(&stack, 1, &writes(latest, vec![write("sp", "x")])).await;
    assert_eq!(
        result(&c, s5).await,
        format!(
            "WritePermissionDenied: stream: {}, key: sp",
            hex(S.as_slice())
        )
    );
    let s6 = put(
        &stack,
        1,
        &acls(latest, vec![acl(AclOp::GrantAdmin, "", addr(2))]),
    )
    .await;
    assert_eq!(
        result(&c, s6).await,
        format!(
            "AccessControlPermissionDenied: operation: GRANT_ADMIN_ROLE, stream: {}, key: NONE, account: {}",
            hex(S.as_slice()),
            hex(addr(2).as_slice())
        )
    );

    // optimistic concurrency: a write based on a version older than the key's fails
    let s7 = put(
        &stack,
        0,
        &StreamData {
            version: s1,
            reads: vec![(S, b"a".to_vec())],
            writes: vec![write("b", "stale")],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(result(&c, s7).await, "VersionConfliction"); // "a" moved on at s4
    let s8 = put(
        &stack,
        0,
        &StreamData {
            version: s4,
            reads: vec![(S, b"a".to_vec())],
            writes: vec![write("b", "fresh"), write("c", "")],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(result(&c, s8).await, "Commit");
    assert_eq!(value(&c, "b", None).await.data, b"fresh");
    // history: the value as of an earlier version
    assert_eq!(value(&c, "a", Some(s3)).await.data, b"one");
    // "c" was deleted: size 0 at its version, skipped by iteration
    let del = value(&c, "c", None).await;
    assert_eq!((del.version, del.size), (s8, 0));
    let never = value(&c, "zz", None).await;
    assert_eq!((never.version, never.size), (0, 0));
    let first: KeyValueSegment = c
        .request("kv_getFirst", json!([S, 0, 262144]))
        .await
        .unwrap();
    assert_eq!(
        (first.key.as_slice(), first.data.as_slice()),
        (&b"a"[..], &b"two"[..])
    );
    let next: KeyValueSegment = c
        .request("kv_getNext", json!([S, to_base64(b"a"), 0, 262144, false]))
        .await
        .unwrap();
    assert_eq!(next.key, b"b");
    let after_b: Option<KeyValueSegment> = c
        .request("kv_getNext", json!([S, to_base64(b"b"), 0, 262144, false]))
        .await
        .unwrap();
    assert_eq!(after_b, None, "the deleted key is skipped");
    let last: KeyValueSegment = c.request("kv_getLast", json!([S, 1, 2])).await.unwrap();
    assert_eq!(
        (last.key.as_slice(), last.data.as_slice(), last.size),
        (&b"b"[..], &b"re"[..], 5)
    );
    let prev: KeyValueSegment = c
        .request("kv_getPrev", json!([S, to_base64(b"c"), 0, 262144, true]))
        .await
        .unwrap();
    assert_eq!(prev.key, b"b");

    // garbage tagged with the stream; a stream this node does not hold (no result)
    let mut tags = STREAM_DOMAIN.to_vec();
    tags.extend_from_slice(S.as_slice());
    // one read whose key is empty (the file's zero padding follows)
    let s9 = put_raw(&stack, 0, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xaa], tags).await;
    assert_eq!(result(&c, s9).await, "DataParseError: Invalid stream data");
    let s10 = put(
        &stack,
        0,
        &writes(
            latest,
            vec![Write {
                stream: OTHER,
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            }],
        ),
    )
    .await;
    let s11 = put(&stack, 0, &writes(latest, vec![write("d", "4")])).await;
    assert_eq!(result(&c, s11).await, "Commit");
    let skipped: Option<String> = c
        .request("kv_getTransactionResult", json!([s10.to_string()]))
        .await
        .unwrap();
    assert_eq!(skipped, None);
    let held: Vec<B256> = c
        .request("kv_getHoldingStreamIds", json!([]))
        .await
        .unwrap();
    assert_eq!(held, vec![S]);

    // bad queries
    for (method, params, what) in [
        ("kv_getValue", json!([S, "", 0, 10]), "key"),
        ("kv_getValue", json!([S, to_base64(b"a"), 0, 262145]), "len"),
        (
            "kv_getValue",
            json!([S, to_base64(b"a"), 4, 1]),
            "start_index",
        ),
        ("kv_getValue", json!([S, "!!", 0, 1]), "key"),
    ] {
        let r: Result<Value, _> = c.request(method, params).await;
        match r {
            Err(ClientError::Refused {
                code: -32602,
                message,
                ..
            }) => {
                assert_eq!(message, format!("Invalid params: {what}"))
            }
            other => panic!("{method} {what}: {other:?}"),
        }
    }
    let r: Result<Value, _> = c.request("kv_getNext", json!([S])).await;
    assert!(matches!(r, Err(ClientError::Refused { code: -32602, .. })));

    // a restart keeps the state and the results
    stack.restart_node(0).await;
    let c = stack.client(0);
    assert_eq!(result(&c, s7).await, "VersionConfliction");
    assert_eq!(value(&c, "d", None).await.data, b"4");
    assert!(flag(&c, "kv_isWriterOfStream", json!([addr(1), S])).await);
}
