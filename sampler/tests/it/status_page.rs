//! The status page in a real browser: headless Chromium loads it from a light client
//! following a cluster where one node serves corrupt cells; the rendered DOM shows the
//! recent anchors with their status and confidence, the quorum members with the bad one
//! flagged, and the throughput; a screenshot lands in the test artifacts.
//! Skipped with a notice without Chromium unless `ZG_REQUIRE_CHROMIUM` is set (CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use zg_sampler::Availability;
use zg_testkit::byzantine::Faults;
use zg_testkit::da::{Cluster, ClusterOptions, TempDir, payload};

use crate::{cert_of, final_result, start_sampler};

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("ZG_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("ZG_REQUIRE_CHROMIUM").is_none(),
        "ZG_REQUIRE_CHROMIUM is set but {} is missing (scripts/setup installs it)",
        path.display()
    );
    eprintln!("notice: no Chromium; the status page browser test is skipped");
    None
}

/// Runs headless Chromium on `url` with `extra` flags; its stdout.
fn headless(browser: &Path, profile: &Path, url: &str, extra: &[&str]) -> String {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_page_renders_anchors_members_and_throughput_in_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let options = ClusterOptions {
        faults: vec![(
            7,
            Faults {
                corrupt_cells: true,
                ..Faults::default()
            },
        )],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start(options).await;
    let dir = TempDir::new("status-page");
    let sampler = start_sampler(&cluster, &dir).await;
    let bad = cluster.node_keys[7].address();
    // Payloads until the light client has asked the corrupting node for a column.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut roots = Vec::new();
    loop {
        let cert = cert_of(
            &cluster
                .put_ok(payload(50_000, 300 + roots.len() as u64))
                .await,
        );
        let r = final_result(&sampler, &cert.data_root).await;
        roots.push((cert.data_root, r.status));
        if r.members.iter().any(|m| m.address == bad) {
            break;
        }
        assert!(Instant::now() < deadline, "the bad node was never asked");
    }

    let url = format!("{}/", sampler.url());
    let profile = dir.0.join("chromium-profile");
    let dom = tokio::task::spawn_blocking({
        let (browser, profile, url) = (browser.clone(), profile.clone(), url.clone());
        move || headless(&browser, &profile, &url, &["--dump-dom"])
    })
    .await
    .unwrap();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the script never rendered:\n{dom}"
    );
    // Every anchor is a row with its status.
    for (root, status) in &roots {
        let status = match status {
            Availability::Available => "available",
            _ => "unavailable",
        };
        assert!(
            dom.contains(&format!("data-root=\"{root}\" data-status=\"{status}\"")),
            "{root} {status} not rendered:\n{dom}"
        );
    }
    assert!(dom.contains("%</td>"), "confidence shown");
    // The bad member is flagged; another member is healthy.
    let bad_row = format!(
        "data-member=\"{}\" data-health=\"misbehaving\"",
        bad.to_string().to_lowercase()
    );
    assert!(dom.contains(&bad_row), "bad member not flagged:\n{dom}");
    assert!(dom.contains("data-health=\"healthy\""), "{dom}");
    // Throughput: the payloads finished within the last minute.
    let minute = dom
        .split("id=\"tp-minute\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.parse::<usize>().ok())
        .expect("throughput rendered");
    assert!(minute >= roots.len(), "{minute} < {}", roots.len());

    // A screenshot in the test artifacts.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("artifacts/status-page.png");
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let page = url.clone();
    tokio::task::spawn_blocking(move || {
        headless(
            &browser,
            &profile,
            &page,
            &[&arg, "--window-size=1280,1100"],
        )
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    eprintln!("status page screenshot: {}", shot.display());

    // The page is served with a restrictive policy; the overview refuses bad queries.
    let http = alloy::transports::http::reqwest::Client::new();
    let r = http.get(&url).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    for q in ["limit=0", "limit=501", "limit=x", "other=1"] {
        let r = http
            .get(format!("{}/v1/overview?{q}", sampler.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{q}");
    }
    sampler.shutdown().await;
    cluster.shutdown().await;
}
