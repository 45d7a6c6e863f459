//! One trace per put across processes: the op-plugin, the disperser and every DA node run
//! as their own processes with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP/HTTP
//! collector in this test, and a put's spans (op-plugin → disperser → each node's store
//! → aggregation → anchoring) arrive in one trace, linked parent to child across the
//! process boundaries, with the stage durations as attributes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::transports::http::reqwest;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use parking_lot::Mutex;
use prost::Message;
use zg_integration::DevnetConfig;
use zg_integration::demo::batcher_body;

use crate::{ProcessStack, TempDir};

/// A span as the collector received it.
#[derive(Clone, Debug)]
struct Got {
    service: String,
    trace: Vec<u8>,
    id: Vec<u8>,
    parent: Vec<u8>,
    name: String,
    attributes: HashMap<String, String>,
}

type Spans = Arc<Mutex<Vec<Got>>>;

fn text(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    }
}

async fn collect(State(spans): State<Spans>, body: Bytes) -> &'static str {
    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut out = spans.lock();
    for rs in req.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|a| a.key == "service.name"))
            .map(|a| text(&a.value))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for s in ss.spans {
                out.push(Got {
                    service: service.clone(),
                    trace: s.trace_id,
                    id: s.span_id,
                    parent: s.parent_span_id,
                    name: s.name,
                    attributes: s
                        .attributes
                        .iter()
                        .map(|a| (a.key.clone(), text(&a.value)))
                        .collect(),
                });
            }
        }
    }
    ""
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_is_one_trace_across_processes() {
    let spans: Spans = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/v1/traces", post(collect))
        .with_state(spans.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = TempDir::new("it-traces");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.block_time = Duration::from_millis(500);
    config.nodes = 4;
    let stack = ProcessStack::start_with_env(
        env!("CARGO_BIN_EXE_zg-devnet"),
        config,
        &[],
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector),
            ("OTEL_BSP_SCHEDULE_DELAY", "200".into()),
        ],
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let body = batcher_body(200_000);
    let r = http
        .post(format!("{}/put", stack.plugin_url()))
        .body(body)
        .timeout(Duration::from_secs(180))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // The put's trace: every stage, each node's store, linked across processes.
    let names = [
        "op-plugin.put",
        "disperser.request",
        "disperser.pipeline",
        "disperser.encode",
        "disperser.certify",
        "disperser.aggregate",
        "disperser.anchor",
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let (trace, all) = loop {
        let got = spans.lock().clone();
        let root = got.iter().find(|s| s.name == "op-plugin.put").cloned();
        if let Some(root) = root {
            let mine: Vec<Got> = got.into_iter().filter(|s| s.trace == root.trace).collect();
            let have: HashSet<&str> = mine.iter().map(|s| s.name.as_str()).collect();
            let nodes = mine.iter().filter(|s| s.name == "da-node.store").count();
            if names.iter().all(|n| have.contains(n)) && nodes == 4 {
                break (root.trace.clone(), mine);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the put's trace is incomplete: {:#?}",
            spans
                .lock()
                .iter()
                .map(|s| (&s.service, &s.name))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_id: HashMap<&[u8], &Got> = all.iter().map(|s| (s.id.as_slice(), s)).collect();
    let one = |name: &str| all.iter().find(|s| s.name == name).unwrap();
    let parent_of = |s: &Got| by_id.get(s.parent.as_slice()).map(|p| p.name.as_str());
    // Across the HTTP boundary: the disperser's request is the op-plugin put's child.
    let put = one("op-plugin.put");
    assert_eq!(put.service, "plugin");
    assert!(put.parent.is_empty(), "the put is the trace's root");
    let request = one("disperser.request");
    assert_eq!(request.service, "disperser");
    assert_eq!(parent_of(request), Some("op-plugin.put"));
    assert_eq!(
        parent_of(one("disperser.pipeline")),
        Some("disperser.request")
    );
    for stage in ["disperser.encode", "disperser.certify", "disperser.anchor"] {
        assert_eq!(parent_of(one(stage)), Some("disperser.pipeline"), "{stage}");
    }
    assert_eq!(
        parent_of(one("disperser.aggregate")),
        Some("disperser.certify")
    );
    // Across libp2p: each node's store is a child of the disperser's store to it.
    let mut services = HashSet::new();
    for s in all.iter().filter(|s| s.name == "da-node.store") {
        assert_eq!(parent_of(s), Some("disperser.store"), "{s:?}");
        assert_eq!(s.attributes["result"], "signed");
        services.insert(s.service.clone());
    }
    assert_eq!(
        services.len(),
        4,
        "one span from each node process: {services:?}"
    );
    // The stage durations as attributes.
    let pipeline = one("disperser.pipeline");
    for a in ["encode_ms", "certify_ms", "anchor_ms"] {
        assert!(
            pipeline.attributes[a].parse::<u64>().is_ok(),
            "{a}: {pipeline:?}"
        );
    }
    assert!(put.attributes["put_ms"].parse::<u64>().unwrap() > 0);
    assert!(
        one("disperser.encode").attributes["blobs"]
            .parse::<u32>()
            .unwrap()
            >= 2
    );
    assert!(!trace.is_empty());
    assert!(stack.shutdown(), "every process exits cleanly");
}
