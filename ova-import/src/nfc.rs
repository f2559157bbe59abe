//! The NFC lease an import uploads through: wait until it is ready, report
//! progress (which also keeps it alive), complete or abort it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vsphere_client::property::{
    property_changes, retrieve_one, ObjectSpec, PropertyFilterSpec, PropertySpec, PropertyWatch,
};
use vsphere_client::soap::Parameters;
use vsphere_client::task::localized_method_fault;
use vsphere_client::{Client, Error, Fault, FaultKind, ManagedObjectReference, Result};

/// `HttpNfcLeaseDeviceUrl`: where one file of the import goes.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeviceUrl {
    /// The device key on the VM.
    #[serde(default)]
    pub key: String,
    /// Matches `OvfFileItem.deviceId`.
    #[serde(default)]
    pub import_key: String,
    /// The upload URL; its host is `*` when it is the server's own.
    pub url: String,
    /// SHA-1 thumbprint of the host serving `url`, when it is an ESXi host.
    pub ssl_thumbprint: Option<String>,
    /// Whether the file is a disk.
    pub disk: Option<bool>,
}

/// `HttpNfcLeaseInfo`: the entity being imported and the upload URLs.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseInfo {
    /// The VM the lease creates.
    pub entity: ManagedObjectReference,
    /// One URL per file.
    #[serde(default, rename = "deviceUrl")]
    pub device_urls: Vec<DeviceUrl>,
    /// Seconds without progress before the server cancels the lease.
    pub lease_timeout: Option<i64>,
}

#[derive(Serialize)]
struct Progress<'a> {
    #[serde(rename = "_this")]
    this: &'a ManagedObjectReference,
    percent: i32,
}

/// An `HttpNfcLease`.
///
/// ```no_run
/// # async fn demo(client: &vsphere_client::Client, lease: vsphere_client::ManagedObjectReference) -> vsphere_client::Result<()> {
/// use std::time::Duration;
/// use ova_import::nfc::HttpNfcLease;
/// let lease = HttpNfcLease::new(lease);
/// let info = lease.wait_ready(client, Duration::from_secs(300)).await?;
/// // ... upload to info.device_urls ...
/// lease.progress(client, 100).await?;
/// lease.complete(client).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct HttpNfcLease {
    obj: ManagedObjectReference,
}

/// `HttpNfcLeaseState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeaseState {
    Initializing,
    Ready,
    Done,
    Error,
}

impl LeaseState {
    fn parse(s: &str) -> Option<LeaseState> {
        Some(match s.trim() {
            "initializing" => LeaseState::Initializing,
            "ready" => LeaseState::Ready,
            "done" => LeaseState::Done,
            "error" => LeaseState::Error,
            _ => return None,
        })
    }
}

impl HttpNfcLease {
    /// The lease `obj` (as `ImportVApp` returned it).
    ///
    /// ```
    /// use vsphere_client::ManagedObjectReference;
    /// let lease = ova_import::nfc::HttpNfcLease::new(ManagedObjectReference::new("HttpNfcLease", "session[1]52"));
    /// assert_eq!(lease.obj().value, "session[1]52");
    /// ```
    pub fn new(obj: ManagedObjectReference) -> HttpNfcLease {
        HttpNfcLease { obj }
    }

    /// The lease's reference.
    pub fn obj(&self) -> &ManagedObjectReference {
        &self.obj
    }

    /// Waits (pushed by `WaitForUpdatesEx`) until the lease leaves
    /// `initializing`, then reads its info. A lease in `error` becomes its
    /// fault; `timeout` bounds the wait.
    pub async fn wait_ready(&self, client: &Client, timeout: Duration) -> Result<LeaseInfo> {
        let spec = PropertyFilterSpec {
            prop_set: vec![PropertySpec::new("HttpNfcLease", &["state", "error"])],
            object_set: vec![ObjectSpec::object(self.obj.clone())],
        };
        let mut watch = PropertyWatch::create(client, &spec).await?;
        let waited = tokio::time::timeout(timeout, self.watch_state(client, &mut watch)).await;
        let destroyed = watch.destroy(client).await;
        match waited {
            Ok(state) => state?,
            Err(_) => {
                return Err(Error::Timeout {
                    method: "HttpNfcLease ready".into(),
                    url: client.url().to_string(),
                    seconds: timeout.as_secs(),
                })
            }
        }
        destroyed?;
        retrieve_one(client, &self.obj, &["info"])
            .await?
            .get("info")
    }

    async fn watch_state(&self, client: &Client, watch: &mut PropertyWatch) -> Result<()> {
        let mut fault: Option<Fault> = None;
        loop {
            let Some(response) = watch.next(client, Duration::from_secs(30)).await? else {
                continue;
            };
            let Some(update_set) = response.returnval() else {
                continue;
            };
            let mut state = None;
            for change in property_changes(update_set) {
                let Some(val) = change.child("val") else {
                    continue;
                };
                match change.child_text("name") {
                    Some("state") => state = LeaseState::parse(&val.text),
                    Some("error") => fault = Some(localized_method_fault(&response, val)),
                    _ => {}
                }
            }
            match state {
                Some(LeaseState::Ready) => return Ok(()),
                Some(LeaseState::Error) | Some(LeaseState::Done) => {
                    let fault = fault.take().unwrap_or_else(|| Fault {
                        kind: FaultKind::Other {
                            type_name: "SystemError".into(),
                        },
                        message: "the lease ended before it was ready".into(),
                    });
                    return Err(Error::Fault {
                        method: format!("HttpNfcLease {}", self.obj.value),
                        fault: Box::new(fault),
                    });
                }
                Some(LeaseState::Initializing) | None => {}
            }
        }
    }

    /// `HttpNfcLeaseProgress`: tells the server how far the upload is,
    /// which also renews the lease.
    pub async fn progress(&self, client: &Client, percent: i32) -> Result<()> {
        client
            .invoke(
                "HttpNfcLeaseProgress",
                &Progress {
                    this: &self.obj,
                    percent: percent.clamp(0, 100),
                },
            )
            .await?;
        Ok(())
    }

    /// `HttpNfcLeaseComplete`: every file is uploaded; the VM is kept.
    pub async fn complete(&self, client: &Client) -> Result<()> {
        client
            .invoke(
                "HttpNfcLeaseComplete",
                &vsphere_client::types::This { this: &self.obj },
            )
            .await?;
        Ok(())
    }

    /// `HttpNfcLeaseAbort` with a `FileFault` naming `file` (when known) and
    /// `message`: vCenter discards what was uploaded.
    pub async fn abort(&self, client: &Client, file: Option<&str>, message: &str) -> Result<()> {
        let fault = match file {
            Some(file) => format!(
                "<fault xsi:type=\"FileFault\"><file>{}</file></fault>",
                xml_text(file, 1024)
            ),
            None => "<fault xsi:type=\"SystemError\"><reason></reason></fault>".to_string(),
        };
        let parameters = Parameters::new().value("_this", &self.obj)?.raw_element(
            "fault",
            "LocalizedMethodFault",
            &format!(
                "{fault}<localizedMessage>{}</localizedMessage>",
                xml_text(message, 1024)
            ),
        );
        client
            .invoke_parameters("HttpNfcLeaseAbort", &parameters)
            .await?;
        Ok(())
    }
}

/// `text` escaped for XML 1.0 and cut to `max` characters: a message built
/// from a server's error page or a member name may hold characters XML
/// cannot carry, and the abort must not be refused for them.
fn xml_text(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .filter(|c| {
            matches!(c, '\t' | '\n' | '\r') || (*c >= ' ' && *c != '\u{fffe}' && *c != '\u{ffff}')
        })
        .take(max)
        .collect();
    quick_xml::escape::escape(clean.as_str()).into_owned()
}

/// Bytes sent so far out of the total, shared between the uploads and the
/// keep-alive, and the percentages reported to the lease.
///
/// ```
/// let counter = ova_import::nfc::TransferProgress::new(200);
/// counter.add(50);
/// assert_eq!(counter.percent(), 25);
/// ```
#[derive(Debug)]
pub struct TransferProgress {
    total: u64,
    sent: AtomicU64,
    reported: Mutex<Vec<i32>>,
}

impl TransferProgress {
    /// Progress over `total` bytes.
    pub fn new(total: u64) -> TransferProgress {
        TransferProgress {
            total,
            sent: AtomicU64::new(0),
            reported: Mutex::new(Vec::new()),
        }
    }

    /// Counts `bytes` more as sent.
    pub fn add(&self, bytes: u64) {
        self.sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The real percentage sent, at most 99: vCenter takes 100 as "done",
    /// which only the caller knows (a declared total can be wrong), so 100
    /// is reported explicitly at the end.
    pub fn percent(&self) -> i32 {
        if self.total == 0 {
            return 0;
        }
        let sent = u128::from(self.sent().min(self.total));
        let pct = (sent * 100 / u128::from(self.total)) as i32;
        pct.min(99)
    }

    /// The percentages reported to the lease so far, in order.
    pub fn reported(&self) -> Vec<i32> {
        self.reported.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn record(&self, percent: i32) {
        if let Ok(mut r) = self.reported.lock() {
            r.push(percent);
        }
    }

    /// Reports `percent` to the lease and records it.
    pub async fn report(&self, client: &Client, lease: &HttpNfcLease, percent: i32) -> Result<()> {
        lease.progress(client, percent).await?;
        self.record(percent);
        Ok(())
    }

    /// Reports the real percentage every `interval` (at least every 10 ms),
    /// forever (run it next to the uploads and drop it when they end). A
    /// failed report is logged and retried at the next tick: the lease only
    /// expires after minutes.
    pub async fn keep_alive(&self, client: &Client, lease: &HttpNfcLease, interval: Duration) {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let percent = self.percent();
            if let Err(e) = self.report(client, lease, percent).await {
                tracing::warn!("lease progress {percent}%: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_real_and_reaches_100_only_at_the_end() {
        let p = TransferProgress::new(1000);
        assert_eq!(p.percent(), 0);
        p.add(500);
        assert_eq!(p.percent(), 50);
        p.add(499);
        assert_eq!(p.percent(), 99);
        p.add(1);
        assert_eq!(p.percent(), 99, "100 is the caller's to report");
        assert_eq!(TransferProgress::new(0).percent(), 0);
        let huge = TransferProgress::new(u64::MAX);
        huge.add(u64::MAX / 2);
        assert_eq!(huge.percent(), 49);
    }

    #[test]
    fn abort_text_is_xml_safe_and_bounded() {
        assert_eq!(xml_text("a<b\u{1}c&", 100), "a&lt;bc&amp;");
        assert_eq!(xml_text(&"x".repeat(5000), 1024).len(), 1024);
    }

    #[test]
    fn lease_info_decodes_the_simulators_answer() {
        let xml = r#"<info><lease type="HttpNfcLease">session[a]lease-1</lease><entity type="VirtualMachine">vm-63</entity><deviceUrl><key>/vm-63/VirtualLsiLogicController0:0/0</key><importKey>/br/VirtualLsiLogicController0:0/0</importKey><url>https://*/nfc/session[a]lease-1/disk-0.vmdk</url><sslThumbprint></sslThumbprint><disk>true</disk><targetId>disk-0.vmdk</targetId><datastoreKey></datastoreKey><fileSize>0</fileSize></deviceUrl><totalDiskCapacityInKB>0</totalDiskCapacityInKB><leaseTimeout>30000</leaseTimeout></info>"#;
        let info: LeaseInfo = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(info.entity.value, "vm-63");
        assert_eq!(info.device_urls.len(), 1);
        assert_eq!(
            info.device_urls[0].url,
            "https://*/nfc/session[a]lease-1/disk-0.vmdk"
        );
        assert_eq!(info.device_urls[0].ssl_thumbprint.as_deref(), Some(""));
        assert_eq!(info.lease_timeout, Some(30000));
    }
}
