//! For `bench/import-ova`: opens an import lease through the library for an
//! OVF descriptor, prints `file<TAB>device URL` per file so that curl can
//! upload the same VMDKs raw (the upload ceiling), then, when standard input
//! closes, aborts the lease and destroys the VM.
//!
//! `bench-lease --url URL --thumbprint SHA1 --pool POOL --name NAME DESCRIPTOR.ovf`

use std::io::Read;
use std::time::Duration;

use ova_import::import_spec::{create_import_spec, import_vapp, ImportSpecParams};
use ova_import::nfc::HttpNfcLease;
use ova_import::upload::UploadTarget;
use vsphere_client::finder::{Finder, InventoryKind};
use vsphere_client::{object, Client, ConnectConfig, ServerUrl, TlsPolicy};

const USAGE: &str =
    "usage: bench-lease --url URL --thumbprint SHA1 --pool POOL --name NAME DESCRIPTOR.ovf";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| {
                eprintln!("{USAGE}");
                std::process::exit(2)
            })
    };
    let (url, thumbprint, pool, name) = (
        value("--url"),
        value("--thumbprint"),
        value("--pool"),
        value("--name"),
    );
    let descriptor_path = args.last().cloned().unwrap_or_default();
    let descriptor = std::fs::read_to_string(&descriptor_path)
        .unwrap_or_else(|e| panic!("{descriptor_path}: {e}"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (server, _) = ServerUrl::parse(&url).expect("URL");
        let pin = thumbprint.parse().expect("thumbprint");
        let config = ConnectConfig::new(server, TlsPolicy::Pinned(pin))
            .with_credentials(vsctl_tests::Simulator::credentials());
        let client = Client::connect(&config).await.expect("connect");
        let finder = Finder::load(&client, None).await.expect("inventory");
        let pool = finder
            .find_one(InventoryKind::ResourcePool, &pool)
            .expect("pool");
        let datastore = finder
            .find_one(InventoryKind::Datastore, "*")
            .expect("datastore");
        let params = ImportSpecParams {
            entity_name: name,
            ..Default::default()
        };
        let spec = create_import_spec(&client, &descriptor, &pool.obj, &datastore.obj, &params)
            .await
            .expect("CreateImportSpec");
        let lease = HttpNfcLease::new(
            import_vapp(&client, &pool.obj, &spec, None)
                .await
                .expect("ImportVApp"),
        );
        let info = lease
            .wait_ready(&client, Duration::from_secs(60))
            .await
            .expect("lease ready");
        for item in &spec.file_items {
            let device = info
                .device_urls
                .iter()
                .find(|d| d.import_key == item.device_id)
                .expect("device URL");
            let target = UploadTarget::for_device(&client, device).expect("target");
            println!("{}\t{}", item.path, target.url);
        }
        // Keep the lease alive while curl uploads; stop at end of input.
        let stdin = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        });
        tokio::pin!(stdin);
        loop {
            tokio::select! {
                _ = &mut stdin => break,
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    let _ = lease.progress(&client, 50).await;
                }
            }
        }
        let _ = lease.abort(&client, None, "benchmark done").await;
        let _ = object::destroy(&client, &info.entity).await;
        let _ = client.logout().await;
    });
}
