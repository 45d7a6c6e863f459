//! The operator's monitoring files (`deploy/grafana/*.json`, `deploy/prometheus/*.yml`)
//! against a running devnet: every metric a dashboard panel or an alert rule queries is
//! one some component exposes, and every dashboard's job is scraped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use alloy::transports::http::reqwest;
use zg_integration::{Devnet, DevnetConfig};

use crate::TempDir;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// The `zg_…` metric names in `text` (PromQL expressions, YAML).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("zg_") {
        let start = i + at;
        let boundary =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if boundary {
            out.insert(text[start..end].to_string());
        }
        i = end.max(start + 3);
    }
    out
}

/// Metric families exposed at `url` (`# TYPE name kind` lines).
async fn families(http: &reqwest::Client, url: &str) -> BTreeSet<String> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}/metrics: {e}"))
        .text()
        .await
        .unwrap();
    let f: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(!f.is_empty(), "{url}/metrics exposes nothing");
    f
}

/// Whether sample name `name` (with `_total`, `_bucket`, `_sum`, `_count`) belongs to
/// one of `families`.
fn exposed(name: &str, families: &BTreeSet<String>) -> bool {
    families.contains(name)
        || ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(|f| families.contains(f)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_alert_queries_metrics_the_devnet_exposes() {
    let dir = TempDir::new("dashboards");
    let mut config = DevnetConfig::ephemeral(dir.0.clone());
    config.archiver = true;
    let devnet = Devnet::start(config).await.unwrap();
    // Traffic through every component (the demo: puts, gets, sampling, storage,
    // compute), so that labelled metrics have their series.
    let endpoints = devnet.demo_endpoints();
    zg_integration::run_demo(&endpoints, |_| {}).await.unwrap();
    let http = reqwest::Client::new();
    let mut exposed_families = BTreeSet::new();
    for url in [
        devnet.chain.rpc_url(),
        format!("http://{}", devnet.disperser.http_addr),
        devnet.plugin.url(),
        devnet.sampler.url(),
        devnet.storage.rpc_url(),
        devnet.compute.url(),
        format!("http://{}", devnet.nodes[0].http_addr),
        devnet.archiver.as_ref().unwrap().url(),
    ] {
        exposed_families.extend(families(&http, &url).await);
    }

    let scrape = std::fs::read_to_string(deploy_dir().join("prometheus/prometheus.yml")).unwrap();
    let alerts = std::fs::read_to_string(deploy_dir().join("prometheus/alerts.yml")).unwrap();
    let mut dashboards = 0;
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(deploy_dir().join("grafana")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        dashboards += 1;
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let uid = d["uid"].as_str().expect("a uid");
        let job = uid.strip_prefix("zg-").expect("uid zg-<job>");
        assert!(
            scrape.contains(&format!("job_name: {job}\n")),
            "{} selects job {job}, which prometheus.yml does not scrape",
            path.display()
        );
        let panels = d["panels"].as_array().expect("panels");
        assert!(
            panels.len() >= 4,
            "{}: {} panels",
            path.display(),
            panels.len()
        );
        for p in panels {
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty());
            for t in targets {
                let expr = t["expr"].as_str().expect("expr");
                let names = metric_names(expr);
                assert!(!names.is_empty(), "{}: no metric in {expr}", path.display());
                for n in names {
                    if !exposed(&n, &exposed_families) {
                        missing.push(format!("{} ({}): {n}", path.display(), p["title"]));
                    }
                }
            }
        }
    }
    assert_eq!(dashboards, 8, "one dashboard per component");
    let alert_metrics = metric_names(&alerts);
    assert!(alert_metrics.len() >= 8, "{alert_metrics:?}");
    for n in alert_metrics {
        assert!(
            exposed(&n, &exposed_families),
            "alerts.yml queries {n}, which no component exposes"
        );
    }
    // The check itself can fail: a name nobody exposes is refused.
    assert!(!exposed(
        "zg_da_node_no_such_metric_total",
        &exposed_families
    ));
    devnet.shutdown().await.unwrap();
}
