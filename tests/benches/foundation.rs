//! Foundation benchmarks against the vCenter simulator on loopback.
//!
//! `cargo bench -p vsctl-tests --bench foundation` prints, for each scenario,
//! the median, p95 and minimum wall time over many runs, and the number of
//! HTTP requests one run sends. `bench/run` calls this and records the output.

use std::time::{Duration, Instant};

use vsctl_tests::fixtures::{cluster_yaml, make_template};
use vsctl_tests::Simulator;
use vsphere_client::mo::{Datastore, DistributedVirtualPortgroup, Network, ResourcePool};
use vsphere_client::property::InventoryQuery;
use vsphere_client::tls::{query_certificate, RootSource};
use vsphere_client::Client;

struct Stats {
    median: Duration,
    p95: Duration,
    min: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p95: at(0.95),
        min: samples[0],
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn report_row(name: &str, runs: usize, s: &Stats, extra: &str) {
    println!(
        "| {name} | {runs} | {} | {} | {} | {extra} |",
        ms(s.median),
        ms(s.p95),
        ms(s.min)
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing
    // useful either way. Scale with VSCTL_BENCH_RUNS.
    let runs: usize = std::env::var("VSCTL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sim = Simulator::start();
    println!("| scenario | runs | median | p95 | min | notes |");
    println!("| --- | --- | --- | --- | --- | --- |");

    runtime.block_on(async {
        let url = sim.server_url();
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            let info = query_certificate(&url, &RootSource::System, Duration::from_secs(5))
                .await
                .expect("certificate");
            samples.push(start.elapsed());
            assert!(!info.thumbprint_sha1.is_empty());
        }
        report_row(
            "certificate query (TCP connect + one TLS handshake), in process",
            runs,
            &stats(samples),
            "1 connection",
        );

        let config = sim.pinned_config();
        let mut samples = Vec::with_capacity(runs);
        let mut requests = 0;
        let mut objects = 0;
        for _ in 0..runs {
            let start = Instant::now();
            let client = Client::connect(&config).await.expect("connect");
            let snapshot = InventoryQuery::new(client.service_content().root_folder.clone())
                .with::<Datastore>()
                .with::<Network>()
                .with::<DistributedVirtualPortgroup>()
                .with::<ResourcePool>()
                .run(&client)
                .await
                .expect("retrieve");
            samples.push(start.elapsed());
            requests = client.request_count();
            objects = snapshot.objects.len();
            client.logout().await.expect("logout");
        }
        report_row(
            "connect + login + one batched retrieval of every datastore, network, port group and pool",
            runs,
            &stats(samples),
            &format!("{requests} HTTP requests, {objects} objects"),
        );
    });

    // Whole-process `vsctl validate` on a config adapted to the simulator
    // (bench/run builds the release binary and sets VSCTL_BIN).
    let Some(vsctl) = std::env::var_os("VSCTL_BIN") else {
        println!("(set VSCTL_BIN to a release vsctl to time `vsctl validate`)");
        return;
    };
    let vsctl = std::path::PathBuf::from(vsctl);
    time_validate(
        &runtime,
        &sim,
        &vsctl,
        runs / 4,
        "default VPX inventory: 4 hosts, 4 VMs",
    );
    // The same against a large inventory: how cost grows with its size.
    let large = Simulator::start_with(vsctl_tests::SimulatorOptions {
        args: [
            "-cluster-hosts",
            "49",
            "-standalone-hosts",
            "1",
            "-vms",
            "500",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    });
    time_validate(
        &runtime,
        &large,
        &vsctl,
        runs / 8,
        "large inventory: 50 hosts, 1,000 VMs",
    );
}

/// Times whole-process `vsctl validate` on a cluster config adapted to
/// `sim` and prints its row.
fn time_validate(
    runtime: &tokio::runtime::Runtime,
    sim: &Simulator,
    vsctl: &std::path::Path,
    runs: usize,
    inventory: &str,
) {
    let file = runtime.block_on(async {
        let client = sim.client().await;
        let (template, disk) = make_template(&client, "DC0_H0_VM1", true, &["os:ubuntu"]).await;
        let file = sim.scratch_dir().join("cluster.yaml");
        std::fs::write(&file, cluster_yaml(sim, &template, disk)).expect("write config");
        file
    });
    let command = |json: bool| {
        let mut c = std::process::Command::new(vsctl);
        c.args(["validate", "--skip-ip-check", "-f"]).arg(&file);
        if json {
            c.arg("--json");
        }
        c.env_clear()
            .env("EKSA_VSPHERE_USERNAME", vsctl_tests::USERNAME)
            .env("EKSA_VSPHERE_PASSWORD", vsctl_tests::PASSWORD);
        c
    };
    let report = command(true).output().expect("run vsctl validate");
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stdout)
    );
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).expect("JSON report");
    let mut samples = Vec::with_capacity(runs.max(1));
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        let out = command(false).output().expect("run vsctl validate");
        samples.push(start.elapsed());
        assert!(out.status.success());
    }
    report_row(
        &format!("vsctl validate -f cluster.yaml --skip-ip-check (whole process; {inventory})"),
        runs.max(1),
        &stats(samples),
        &format!(
            "{} checks, {} requests after login ({} in all)",
            json["checks"].as_array().map(Vec::len).unwrap_or(0),
            json["requests_after_login"],
            json["requests_total"]
        ),
    );
}
