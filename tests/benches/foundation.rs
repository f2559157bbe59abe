//! Foundation benchmarks against the vCenter simulator on loopback.
//!
//! `cargo bench -p vsctl-tests --bench foundation` prints, for each scenario,
//! the median, p95 and minimum wall time over many runs, and the number of
//! HTTP requests one run sends. `bench/run` calls this and records the output.

use std::time::{Duration, Instant};

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

fn report(name: &str, runs: usize, s: &Stats, extra: &str) {
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
        report(
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
        report(
            "connect + login + one batched retrieval of every datastore, network, port group and pool",
            runs,
            &stats(samples),
            &format!("{requests} HTTP requests, {objects} objects"),
        );
    });
}
