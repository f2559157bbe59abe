//! `vsctl machine apply` throughput: 20 machines (clone, metadata, power
//! on, IP) with `--parallel 8` and with `--parallel 1`, against the
//! simulator on loopback. The DHCP side is played by the tests' guest
//! simulation, which leases every waiting VM concurrently, as a DHCP server
//! answers every client at once.
//!
//! `cargo bench -p vsctl-tests --bench machines` (`VSCTL_BENCH_RUNS`, default 3).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use capv_shim::bulk::{plan, run, Action};
use capv_shim::reconcile::ApplyOptions;
use ova_import::import::{import_ova, ImportRequest, SilentObserver};
use ova_import::source::OvaSource;
use ova_import::template::TemplateConventions;
use vsctl_tests::guest::{AddressPool, DhcpServer};
use vsctl_tests::ova::{build_ova, OvaSpec};
use vsctl_tests::Simulator;

const MACHINES: usize = 20;

fn yaml(prefix: &str, template: &str) -> String {
    (0..MACHINES)
        .map(|i| {
            format!(
                "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: VSphereMachine
metadata:
  name: {prefix}-{i:02}
spec:
  template: {template}
  resourcePool: /DC0/host/DC0_C0/Resources
  network:
    devices:
    - networkName: VM Network
      dhcp4: true
"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn main() {
    let runs: usize = std::env::var("VSCTL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sim = Simulator::start();
        let client = sim.client().await;
        let ova = build_ova(&OvaSpec::bottlerocket("bottlerocket-bench"), sim.scratch_dir());
        let mut request = ImportRequest::new(OvaSource::File(ova.path));
        request.name = Some("br-bench".into());
        request.pool = Some("/DC0/host/DC0_C0/Resources".into());
        request.template = Some(TemplateConventions::eks_anywhere("bottlerocket", None));
        let template = import_ova(&client, &request, &SilentObserver, std::future::pending())
            .await
            .unwrap()
            .inventory_path;
        let pool = AddressPool::new("10.64.0.10".parse().unwrap(), 16, "10.64.0.1".parse().unwrap());
        let dhcp = DhcpServer::start(&sim, "m", pool).await;
        let wait_for_ip = std::env::var_os("VSCTL_BENCH_NO_IP").is_none();
        println!("| scenario | run | wall | per machine | ready |");
        println!("| --- | --- | --- | --- | --- |");
        let mut totals = [Duration::ZERO; 2];
        for r in 0..runs {
            for (slot, parallel) in [8, 1].into_iter().enumerate() {
                let text = yaml("m", &template);
                let plan = plan(&text, "bench.yaml", None).unwrap();
                let started = Instant::now();
                let results = run(&client, &plan.jobs, &Action::Apply(ApplyOptions { wait_for_ip, ..Default::default() }), parallel, &|_, _| {})
                    .await
                    .unwrap();
                let wall = started.elapsed();
                totals[slot] += wall;
                let ready = results.iter().filter(|r| r.result.is_ok()).count();
                println!(
                    "| {MACHINES} machines, --parallel {parallel} | {} | {:.2} s | {:.0} ms | {ready}/{MACHINES} |",
                    r + 1,
                    wall.as_secs_f64(),
                    wall.as_secs_f64() * 1000.0 / MACHINES as f64
                );
                run(&client, &plan.jobs, &Action::Delete, 8, &|_, _| {}).await.unwrap();
            }
        }
        println!();
        println!(
            "parallel 8 / parallel 1 (sum over {runs} runs): {:.2}",
            totals[0].as_secs_f64() / totals[1].as_secs_f64()
        );
        drop(dhcp);
    });
}
