//! `docs/config/zg-devnet.toml` is the binary's `--config.example`: every key of its
//! configuration file, with its help, environment variable and default.

#[test]
fn the_documented_keys_are_the_binarys() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_zg-devnet"));
    zg_testkit::config::check_example(bin, &[], "zg-devnet");
}

/// The devnet writes a configuration file per component whose every key is one its
/// binary takes (as `docs/config/`, checked against the binaries, lists them), and a
/// genesis the chain loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_devnet_writes_a_config_per_component() {
    use zg_integration::{Devnet, DevnetConfig};
    let dir = zg_node_kit::TempDir::new("devnet-configs");
    let devnet = Devnet::start(DevnetConfig::ephemeral(dir.0.join("devnet")))
        .await
        .unwrap();
    let out = dir.0.join("configs");
    let files = devnet.write_configs(&out).unwrap();
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/config");
    let mut checked = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let doc = match name.as_str() {
            "chain.toml" => "zg-chain",
            "disperser.toml" => "zg-da-server-disperser",
            "op-plugin.toml" => "zg-op-plugin",
            "sampler.toml" => "zg-sampler",
            n if n.starts_with("node-") && n.ends_with(".toml") => "zg-da-server-node",
            "genesis.json" => {
                let g: zg_chain::Genesis =
                    serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
                assert_eq!(g.da.quorum_size, devnet.config.nodes as u64);
                continue;
            }
            other => panic!("unexpected {other}"),
        };
        let listed = std::fs::read_to_string(docs.join(format!("{doc}.toml"))).unwrap();
        let table: toml::Table = std::fs::read_to_string(f).unwrap().parse().unwrap();
        let mut pairs = Vec::new();
        zg_node_kit::config::flatten("", &table, &mut pairs);
        let keys: Vec<String> = pairs.into_iter().map(|(k, _)| k).collect();
        assert!(keys.len() >= 3, "{name}: {keys:?}");
        for k in keys {
            assert!(
                listed.contains(&format!("# {k} = ")),
                "{name}: `{k}` is not a key of {doc}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 4 + devnet.nodes.len());
    // The key files load (mode 0600) as the nodes' keys.
    let k = zg_da_server::NodeKeys::read(&out.join("keys/node-0.key")).unwrap();
    assert_eq!(k.address(), devnet.nodes[0].service.address());
    devnet.shutdown().await.unwrap();
}
