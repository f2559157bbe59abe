//! Test OVAs built on the fly.
//!
//! [`build_ova`] writes a Bottlerocket-shaped OVA (an OVF 1.x descriptor, an
//! optional manifest and real streamOptimized VMDKs made by `qemu-img`) into
//! a directory, optionally with a fault: a corrupted disk byte, a truncated
//! archive or a manifest that lists a file the archive lacks.
//!
//! The disks hold seeded pseudo-random data followed by zeros, so the same
//! spec always yields the same raw images (the VMDK container written by
//! `qemu-img` may still differ in its header). Building needs `qemu-img`
//! (Debian/Ubuntu package `qemu-utils`); without it, [`build_ova`] panics
//! with a message saying so.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// One GiB in bytes.
pub const GIB: u64 = 1 << 30;
/// One MiB in bytes.
pub const MIB: u64 = 1 << 20;

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OvaSpec {
    /// The VirtualSystem name, also the stem of every member name
    /// (e.g. `bottlerocket-test` gives `bottlerocket-test.ovf`).
    pub name: String,
    /// The disks, in References order (disk 1 first).
    pub disks: Vec<DiskSpec>,
    /// The network the NIC connects to (e.g. `VM Network`).
    pub network: String,
    /// Which manifest to write, if any.
    pub manifest: ManifestKind,
    /// The order of the archive members.
    pub layout: Layout,
    /// A defect to build in.
    pub fault: OvaFault,
}

/// One virtual disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSpec {
    /// The virtual size in bytes (a multiple of 512).
    pub capacity_bytes: u64,
    /// Pseudo-random (incompressible) data written at the start of the raw
    /// image; the rest is zeros. At most `capacity_bytes`.
    pub random_bytes: u64,
}

/// The manifest (`.mf`) to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    /// No manifest member.
    None,
    /// `SHA1(file)= hex` lines.
    Sha1,
    /// `SHA256(file)= hex` lines.
    Sha256,
    /// `SHA512(file)= hex` lines.
    Sha512,
    /// `SHA2-256(file)= hex` lines (a spelling some tools write).
    Sha2_256Spelling,
}

impl ManifestKind {
    /// The algorithm label written before the parenthesis, or `None`
    /// when no manifest is written.
    pub fn label(self) -> Option<&'static str> {
        match self {
            ManifestKind::None => None,
            ManifestKind::Sha1 => Some("SHA1"),
            ManifestKind::Sha256 => Some("SHA256"),
            ManifestKind::Sha512 => Some("SHA512"),
            ManifestKind::Sha2_256Spelling => Some("SHA2-256"),
        }
    }
}

/// The order of the archive members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The `.ovf`, then the `.mf` (if any), then the disks in References
    /// order (what the OVF specification asks for).
    Standard,
    /// The disks first, then the `.mf` (if any), then the `.ovf`.
    OvfLast,
}

/// A defect built into the OVA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OvaFault {
    /// A well-formed OVA.
    None,
    /// Flip one byte (XOR 0xFF) of VMDK number `disk` (0-based index into
    /// [`OvaSpec::disks`]) at byte `offset`, after the manifest was computed.
    CorruptDiskByte {
        /// Index into [`OvaSpec::disks`], 0-based.
        disk: usize,
        /// Byte offset inside the VMDK file; must be below its size.
        offset: u64,
    },
    /// Cut the finished `.ova` to `keep_bytes` bytes.
    Truncate {
        /// The length of the cut file; at most the full length.
        keep_bytes: u64,
    },
    /// The manifest has an extra entry (see
    /// [`BuiltOva::missing_manifest_entry`]) for a file not in the archive.
    /// Needs a manifest.
    ManifestListsMissingFile,
}

impl OvaSpec {
    /// The default test OVA: two disks (disk 1: 2 GiB, disk 2: 1 GiB, each
    /// with 1 MiB of random data), an LSI Logic SCSI controller, one VMXNET3
    /// NIC on `VM Network`, a SHA256 manifest, standard layout, no fault.
    pub fn bottlerocket(name: &str) -> OvaSpec {
        OvaSpec {
            name: name.to_string(),
            disks: vec![
                DiskSpec {
                    capacity_bytes: 2 * GIB,
                    random_bytes: MIB,
                },
                DiskSpec {
                    capacity_bytes: GIB,
                    random_bytes: MIB,
                },
            ],
            network: "VM Network".to_string(),
            manifest: ManifestKind::Sha256,
            layout: Layout::Standard,
            fault: OvaFault::None,
        }
    }

    /// The member name of the descriptor, `<name>.ovf`.
    pub fn ovf_member(&self) -> String {
        format!("{}.ovf", self.name)
    }

    /// The member name of the manifest, `<name>.mf`.
    pub fn mf_member(&self) -> String {
        format!("{}.mf", self.name)
    }

    /// The member name of disk `index` (0-based), `<name>-disk<index+1>.vmdk`.
    pub fn disk_member(&self, index: usize) -> String {
        format!("{}-disk{}.vmdk", self.name, index + 1)
    }

    /// The file name of the built OVA, `<name>.ova`.
    pub fn ova_file_name(&self) -> String {
        format!("{}.ova", self.name)
    }
}

/// A built OVA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltOva {
    /// The `.ova` file (`<dir>/<name>.ova`).
    pub path: PathBuf,
    /// The member name of the descriptor (e.g. `bottlerocket-test.ovf`).
    pub ovf_name: String,
    /// The member name of the manifest, when one was written.
    pub mf_name: Option<String>,
    /// The disks, in References order.
    pub disk_files: Vec<BuiltDisk>,
    /// The length of the `.ova` file (after any truncation).
    pub total_bytes: u64,
    /// The member names in archive order.
    pub members: Vec<String>,
    /// The descriptor text.
    pub ovf_descriptor: String,
    /// The manifest text, when one was written.
    pub manifest: Option<String>,
    /// The name of the manifest's extra entry
    /// ([`OvaFault::ManifestListsMissingFile`]).
    pub missing_manifest_entry: Option<String>,
}

/// A disk as stored in the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltDisk {
    /// The member name, e.g. `bottlerocket-test-disk1.vmdk`.
    pub name: String,
    /// The VMDK's length in bytes.
    pub size: u64,
    /// The virtual size in bytes.
    pub capacity_bytes: u64,
    /// Lowercase hex SHA-256 of the VMDK as stored in the archive (after
    /// any [`OvaFault::CorruptDiskByte`]).
    pub sha256: String,
}

/// Builds the OVA described by `spec` as `dir/<name>.ova`, using a
/// temporary directory inside `dir` for the raw images and VMDKs.
///
/// Panics with a message saying what failed (this is a test helper),
/// including when `qemu-img` is missing or the spec is inconsistent.
pub fn build_ova(spec: &OvaSpec, dir: &Path) -> BuiltOva {
    check_spec(spec);
    // scripts/setup-simulator installs qemu-utils with the simulator's
    // packages on a fresh machine.
    if std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::launcher();
    }
    let work = tempfile::Builder::new()
        .prefix(".ova-build-")
        .tempdir_in(dir)
        .unwrap_or_else(|e| panic!("cannot create a work directory in {}: {e}", dir.display()));

    // The disks.
    let mut vmdks = Vec::with_capacity(spec.disks.len());
    for (index, disk) in spec.disks.iter().enumerate() {
        let raw = work.path().join(format!("disk{}.raw", index + 1));
        write_raw_image(
            &raw,
            disk.capacity_bytes,
            disk.random_bytes,
            seed_for(spec, index),
        );
        let vmdk = work.path().join(spec.disk_member(index));
        convert_to_stream_optimized(&raw, &vmdk);
        std::fs::remove_file(&raw)
            .unwrap_or_else(|e| panic!("cannot remove {}: {e}", raw.display()));
        vmdks.push(vmdk);
    }
    let sizes: Vec<u64> = vmdks.iter().map(|p| file_len(p)).collect();
    // One read per disk: (SHA-256, manifest digest).
    let needs_second = matches!(spec.manifest, ManifestKind::Sha1 | ManifestKind::Sha512);
    let mut digests: Vec<(String, String)> = vmdks
        .iter()
        .map(|vmdk| {
            if needs_second {
                let mut both = file_digests(vmdk, &[ManifestKind::Sha256, spec.manifest]);
                let second = both.pop().unwrap_or_default();
                (both.pop().unwrap_or_default(), second)
            } else {
                let sha256 = file_digest(vmdk, ManifestKind::Sha256);
                (sha256.clone(), sha256)
            }
        })
        .collect();

    // The descriptor and the manifest (over the bytes as they are now).
    let ovf_descriptor = ovf_descriptor(spec, &sizes);
    let mut missing_manifest_entry = None;
    let manifest = spec.manifest.label().map(|label| {
        let mut text = String::new();
        let ovf_hex = hex_digest(spec.manifest, ovf_descriptor.as_bytes());
        text.push_str(&format!("{label}({})= {ovf_hex}\n", spec.ovf_member()));
        for (index, (_, hex)) in digests.iter().enumerate() {
            text.push_str(&format!("{label}({})= {hex}\n", spec.disk_member(index)));
        }
        if spec.fault == OvaFault::ManifestListsMissingFile {
            let name = spec.disk_member(spec.disks.len());
            let hex = hex_digest(spec.manifest, name.as_bytes());
            text.push_str(&format!("{label}({name})= {hex}\n"));
            missing_manifest_entry = Some(name);
        }
        text
    });

    // Faults applied to the stored bytes.
    if let OvaFault::CorruptDiskByte { disk, offset } = spec.fault {
        flip_byte(&vmdks[disk], offset);
        digests[disk].0 = file_digest(&vmdks[disk], ManifestKind::Sha256);
    }

    let disk_files: Vec<BuiltDisk> = vmdks
        .iter()
        .enumerate()
        .map(|(index, vmdk)| BuiltDisk {
            name: spec.disk_member(index),
            size: file_len(vmdk),
            capacity_bytes: spec.disks[index].capacity_bytes,
            sha256: digests[index].0.clone(),
        })
        .collect();

    // The archive.
    let mut members: Vec<(String, Source)> = Vec::new();
    let ovf_member = (
        spec.ovf_member(),
        Source::Bytes(ovf_descriptor.clone().into_bytes()),
    );
    let mf_member = manifest
        .as_ref()
        .map(|m| (spec.mf_member(), Source::Bytes(m.clone().into_bytes())));
    let disk_members = vmdks
        .iter()
        .enumerate()
        .map(|(index, vmdk)| (spec.disk_member(index), Source::File(vmdk.clone())));
    match spec.layout {
        Layout::Standard => {
            members.push(ovf_member);
            members.extend(mf_member);
            members.extend(disk_members);
        }
        Layout::OvfLast => {
            members.extend(disk_members);
            members.extend(mf_member);
            members.push(ovf_member);
        }
    }
    let path = dir.join(spec.ova_file_name());
    write_tar(&path, &members);

    if let OvaFault::Truncate { keep_bytes } = spec.fault {
        let full = file_len(&path);
        assert!(
            keep_bytes <= full,
            "OvaFault::Truncate keeps {keep_bytes} bytes but {} has only {full}",
            path.display()
        );
        OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(keep_bytes))
            .unwrap_or_else(|e| panic!("cannot truncate {}: {e}", path.display()));
    }

    BuiltOva {
        total_bytes: file_len(&path),
        path,
        ovf_name: spec.ovf_member(),
        mf_name: manifest.as_ref().map(|_| spec.mf_member()),
        disk_files,
        members: members.into_iter().map(|(name, _)| name).collect(),
        ovf_descriptor,
        manifest,
        missing_manifest_entry,
    }
}

fn check_spec(spec: &OvaSpec) {
    assert!(!spec.name.is_empty(), "OvaSpec::name is empty");
    assert!(
        !spec.name.contains(['/', '\\']),
        "OvaSpec::name {:?} must not contain a path separator",
        spec.name
    );
    assert!(!spec.disks.is_empty(), "OvaSpec::disks is empty");
    for (index, disk) in spec.disks.iter().enumerate() {
        assert!(
            disk.capacity_bytes > 0 && disk.capacity_bytes % 512 == 0,
            "disk {index}: capacity_bytes {} must be a positive multiple of 512",
            disk.capacity_bytes
        );
        assert!(
            disk.random_bytes <= disk.capacity_bytes,
            "disk {index}: random_bytes {} exceed capacity_bytes {}",
            disk.random_bytes,
            disk.capacity_bytes
        );
    }
    match spec.fault {
        OvaFault::CorruptDiskByte { disk, .. } => assert!(
            disk < spec.disks.len(),
            "OvaFault::CorruptDiskByte names disk {disk} but the spec has {} (0-based)",
            spec.disks.len()
        ),
        OvaFault::ManifestListsMissingFile => assert!(
            spec.manifest != ManifestKind::None,
            "OvaFault::ManifestListsMissingFile needs a manifest (ManifestKind::None given)"
        ),
        OvaFault::None | OvaFault::Truncate { .. } => {}
    }
}

/// A seed that depends on the OVA name and the disk index.
fn seed_for(spec: &OvaSpec, index: usize) -> u64 {
    let mut seed = 0xcbf2_9ce4_8422_2325_u64; // FNV-1a offset basis
    for byte in spec.name.bytes().chain((index as u64).to_le_bytes()) {
        seed ^= u64::from(byte);
        seed = seed.wrapping_mul(0x0000_0100_0000_01b3);
    }
    seed
}

/// SplitMix64: fast, seedable, good enough to defeat compression.
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }
}

/// Writes a sparse raw image of `capacity` bytes whose first `random`
/// bytes are pseudo-random.
fn write_raw_image(path: &Path, capacity: u64, random: u64, seed: u64) {
    const CHUNK: usize = 8 << 20;
    let file =
        File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    file.set_len(capacity)
        .unwrap_or_else(|e| panic!("cannot size {} to {capacity} bytes: {e}", path.display()));
    let mut out = BufWriter::with_capacity(CHUNK, file);
    let mut rng = SplitMix64::new(seed);
    let mut buf = vec![0u8; CHUNK];
    let mut left = random;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        rng.fill(&mut buf[..n]);
        out.write_all(&buf[..n])
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        left -= n as u64;
    }
    out.flush()
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Runs `qemu-img convert` to a streamOptimized VMDK.
fn convert_to_stream_optimized(raw: &Path, vmdk: &Path) {
    let output = Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "vmdk", "-o"])
        .arg("subformat=streamOptimized,adapter_type=lsilogic")
        .arg(raw)
        .arg(vmdk)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                panic!(
                    "qemu-img not found: install qemu-utils (e.g. `apt-get install qemu-utils`) to build test OVAs"
                )
            }
            panic!("cannot run qemu-img: {e}")
        });
    assert!(
        output.status.success(),
        "qemu-img convert {} -> {} failed ({}): {}",
        raw.display(),
        vmdk.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
}

/// The OVF descriptor for `spec` with the given VMDK sizes.
fn ovf_descriptor(spec: &OvaSpec, vmdk_sizes: &[u64]) -> String {
    let name = xml_escape(&spec.name);
    let network = xml_escape(&spec.network);
    let mut xml = String::new();
    xml.push_str(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!-- Test OVA generated by vsctl-tests -->\n",
        "<Envelope vmw:buildId=\"vsctl-tests\"",
        " xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"",
        " xmlns:cim=\"http://schemas.dmtf.org/wbem/wscim/1/common\"",
        " xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\"",
        " xmlns:rasd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData\"",
        " xmlns:vmw=\"http://www.vmware.com/schema/ovf\"",
        " xmlns:vssd=\"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData\"",
        " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
    ));

    xml.push_str("  <References>\n");
    for (index, size) in vmdk_sizes.iter().enumerate() {
        xml.push_str(&format!(
            "    <File ovf:href=\"{}\" ovf:id=\"file{}\" ovf:size=\"{size}\"/>\n",
            xml_escape(&spec.disk_member(index)),
            index + 1
        ));
    }
    xml.push_str("  </References>\n");

    xml.push_str("  <DiskSection>\n    <Info>Virtual disk information</Info>\n");
    for (index, disk) in spec.disks.iter().enumerate() {
        let (capacity, units) = if disk.capacity_bytes % GIB == 0 {
            (disk.capacity_bytes / GIB, "byte * 2^30")
        } else {
            (disk.capacity_bytes, "byte")
        };
        xml.push_str(&format!(
            "    <Disk ovf:capacity=\"{capacity}\" ovf:capacityAllocationUnits=\"{units}\" ovf:diskId=\"vmdisk{n}\" ovf:fileRef=\"file{n}\" ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized\"/>\n",
            n = index + 1
        ));
    }
    xml.push_str("  </DiskSection>\n");

    xml.push_str(&format!(
        concat!(
            "  <NetworkSection>\n",
            "    <Info>The list of logical networks</Info>\n",
            "    <Network ovf:name=\"{network}\">\n",
            "      <Description>The {network} network</Description>\n",
            "    </Network>\n",
            "  </NetworkSection>\n",
            "  <VirtualSystem ovf:id=\"{name}\">\n",
            "    <Info>A virtual machine</Info>\n",
            "    <Name>{name}</Name>\n",
            "    <OperatingSystemSection ovf:id=\"101\" vmw:osType=\"other3xLinux64Guest\">\n",
            "      <Info>The kind of installed guest operating system</Info>\n",
            "      <Description>Other 3.x or later Linux (64-bit)</Description>\n",
            "    </OperatingSystemSection>\n",
            "    <VirtualHardwareSection>\n",
            "      <Info>Virtual hardware requirements</Info>\n",
            "      <System>\n",
            "        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>\n",
            "        <vssd:InstanceID>0</vssd:InstanceID>\n",
            "        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>\n",
            "        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>\n",
            "      </System>\n",
        ),
        network = network,
        name = name,
    ));

    let mut item = |body: &str| {
        xml.push_str("      <Item>\n");
        xml.push_str(body);
        xml.push_str("      </Item>\n");
    };
    item(concat!(
        "        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>\n",
        "        <rasd:Description>Number of Virtual CPUs</rasd:Description>\n",
        "        <rasd:ElementName>2 virtual CPU(s)</rasd:ElementName>\n",
        "        <rasd:InstanceID>1</rasd:InstanceID>\n",
        "        <rasd:ResourceType>3</rasd:ResourceType>\n",
        "        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>\n",
    ));
    item(concat!(
        "        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>\n",
        "        <rasd:Description>Memory Size</rasd:Description>\n",
        "        <rasd:ElementName>4096MB of memory</rasd:ElementName>\n",
        "        <rasd:InstanceID>2</rasd:InstanceID>\n",
        "        <rasd:ResourceType>4</rasd:ResourceType>\n",
        "        <rasd:VirtualQuantity>4096</rasd:VirtualQuantity>\n",
    ));
    item(concat!(
        "        <rasd:Address>0</rasd:Address>\n",
        "        <rasd:Description>SCSI Controller</rasd:Description>\n",
        "        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>\n",
        "        <rasd:InstanceID>3</rasd:InstanceID>\n",
        "        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>\n",
        "        <rasd:ResourceType>6</rasd:ResourceType>\n",
    ));
    let mut next_id = 4;
    for index in 0..spec.disks.len() {
        item(&format!(
            concat!(
                "        <rasd:AddressOnParent>{unit}</rasd:AddressOnParent>\n",
                "        <rasd:ElementName>Hard Disk {n}</rasd:ElementName>\n",
                "        <rasd:HostResource>ovf:/disk/vmdisk{n}</rasd:HostResource>\n",
                "        <rasd:InstanceID>{id}</rasd:InstanceID>\n",
                "        <rasd:Parent>3</rasd:Parent>\n",
                "        <rasd:ResourceType>17</rasd:ResourceType>\n",
            ),
            // SCSI unit 7 is the controller's own.
            unit = if index >= 7 { index + 1 } else { index },
            n = index + 1,
            id = next_id,
        ));
        next_id += 1;
    }
    item(&format!(
        concat!(
            "        <rasd:AddressOnParent>7</rasd:AddressOnParent>\n",
            "        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n",
            "        <rasd:Connection>{network}</rasd:Connection>\n",
            "        <rasd:Description>VmxNet3 ethernet adapter on &quot;{network}&quot;</rasd:Description>\n",
            "        <rasd:ElementName>Network adapter 1</rasd:ElementName>\n",
            "        <rasd:InstanceID>{id}</rasd:InstanceID>\n",
            "        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>\n",
            "        <rasd:ResourceType>10</rasd:ResourceType>\n",
        ),
        network = network,
        id = next_id,
    ));
    next_id += 1;
    item(&format!(
        concat!(
            "        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>\n",
            "        <rasd:ElementName>Video card</rasd:ElementName>\n",
            "        <rasd:InstanceID>{id}</rasd:InstanceID>\n",
            "        <rasd:ResourceType>24</rasd:ResourceType>\n",
        ),
        id = next_id,
    ));
    xml.push_str(concat!(
        "      <vmw:Config ovf:required=\"false\" vmw:key=\"firmware\" vmw:value=\"efi\"/>\n",
        "      <vmw:Config ovf:required=\"false\" vmw:key=\"tools.syncTimeWithHost\" vmw:value=\"false\"/>\n",
        "      <vmw:Config ovf:required=\"false\" vmw:key=\"powerOpInfo.powerOffType\" vmw:value=\"soft\"/>\n",
        "    </VirtualHardwareSection>\n",
        "  </VirtualSystem>\n",
        "</Envelope>\n",
    ));
    xml
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

enum Hasher {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(kind: ManifestKind) -> Hasher {
        match kind {
            ManifestKind::Sha1 => Hasher::Sha1(Sha1::new()),
            ManifestKind::Sha512 => Hasher::Sha512(Sha512::new()),
            ManifestKind::None | ManifestKind::Sha256 | ManifestKind::Sha2_256Spelling => {
                Hasher::Sha256(Sha256::new())
            }
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    fn hex(self) -> String {
        match self {
            Hasher::Sha1(h) => to_hex(&h.finalize()),
            Hasher::Sha256(h) => to_hex(&h.finalize()),
            Hasher::Sha512(h) => to_hex(&h.finalize()),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex digest of `data` with the manifest's algorithm (SHA-256
/// for [`ManifestKind::None`]).
pub fn hex_digest(kind: ManifestKind, data: &[u8]) -> String {
    let mut hasher = Hasher::new(kind);
    hasher.update(data);
    hasher.hex()
}

/// Lowercase hex digest of a file with the manifest's algorithm (SHA-256
/// for [`ManifestKind::None`]), read in chunks.
pub fn file_digest(path: &Path, kind: ManifestKind) -> String {
    file_digests(path, &[kind]).pop().unwrap_or_default()
}

/// Hex digests of a file with several algorithms, in one read.
fn file_digests(path: &Path, kinds: &[ManifestKind]) -> Vec<String> {
    let mut file =
        File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut hashers: Vec<Hasher> = kinds.iter().map(|&kind| Hasher::new(kind)).collect();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        for hasher in &mut hashers {
            hasher.update(&buf[..n]);
        }
    }
    hashers.into_iter().map(Hasher::hex).collect()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()))
        .len()
}

fn flip_byte(path: &Path, offset: u64) {
    let len = file_len(path);
    assert!(
        offset < len,
        "OvaFault::CorruptDiskByte offset {offset} is past the end of {} ({len} bytes)",
        path.display()
    );
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut byte))
        .and_then(|_| file.seek(SeekFrom::Start(offset)))
        .and_then(|_| file.write_all(&[byte[0] ^ 0xff]))
        .unwrap_or_else(|e| panic!("cannot corrupt {} at {offset}: {e}", path.display()));
}

enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Writes a ustar archive with fixed owner, mode and time.
fn write_tar(path: &Path, members: &[(String, Source)]) {
    let file =
        File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    builder.mode(tar::HeaderMode::Deterministic);
    for (name, source) in members {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        let result = match source {
            Source::Bytes(bytes) => {
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, name, bytes.as_slice())
            }
            Source::File(file) => {
                header.set_size(file_len(file));
                let reader = File::open(file)
                    .unwrap_or_else(|e| panic!("cannot open {}: {e}", file.display()));
                builder.append_data(&mut header, name, BufReader::with_capacity(1 << 20, reader))
            }
        };
        result.unwrap_or_else(|e| panic!("cannot add {name} to {}: {e}", path.display()));
    }
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .unwrap_or_else(|e| panic!("cannot finish {}: {e}", path.display()));
}

/// One tar member as [`write_raw_tar`] writes it: the name field is taken
/// byte for byte, so a test can write names the `tar` crate (and `tar`
/// itself) refuse, such as `../evil.ovf` or `/etc/evil.vmdk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMember {
    /// The header's name field (at most 100 bytes, not checked for safety).
    pub name: Vec<u8>,
    /// The header's typeflag: `b'0'` for a regular file, `b'x'` for a pax
    /// extended header that applies to the next member.
    pub typeflag: u8,
    /// The member's data.
    pub data: Vec<u8>,
}

impl RawMember {
    /// A regular file.
    pub fn file(name: impl Into<Vec<u8>>, data: impl Into<Vec<u8>>) -> RawMember {
        RawMember {
            name: name.into(),
            typeflag: b'0',
            data: data.into(),
        }
    }

    /// A pax extended header (`typeflag` `x`) holding `records` (e.g.
    /// `("path", "../evil.vmdk")`), each encoded as `<len> <key>=<value>\n`.
    /// It applies to the member after it.
    pub fn pax(records: &[(&str, &str)]) -> RawMember {
        let mut data = Vec::new();
        for (key, value) in records {
            let body = format!(" {key}={value}\n");
            // The length counts its own digits.
            let mut len = body.len() + 1;
            while format!("{len}").len() + body.len() != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        RawMember {
            name: b"PaxHeaders/member".to_vec(),
            typeflag: b'x',
            data,
        }
    }

    /// The name as text (invalid UTF-8 replaced), for messages and lookups.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// Size of a tar block: headers are one, data is padded to whole ones.
const TAR_BLOCK: usize = 512;

/// One ustar header block for `member`, with a correct checksum.
fn raw_header(member: &RawMember) -> [u8; TAR_BLOCK] {
    assert!(
        member.name.len() <= 100,
        "RawMember name {:?} is over the 100 bytes of the ustar name field",
        member.name_lossy()
    );
    let mut header = [0u8; TAR_BLOCK];
    header[..member.name.len()].copy_from_slice(&member.name);
    header[100..108].copy_from_slice(b"0000644\0"); // mode
    header[108..116].copy_from_slice(b"0000000\0"); // uid
    header[116..124].copy_from_slice(b"0000000\0"); // gid
    header[124..136].copy_from_slice(format!("{:011o}\0", member.data.len()).as_bytes());
    header[136..148].copy_from_slice(format!("{:011o}\0", 1_700_000_000u64).as_bytes());
    header[156] = member.typeflag;
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    // The checksum is taken with its own field as spaces.
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    header
}

/// Writes `members` to `path` as a ustar archive: a header with a correct
/// checksum per member, its data padded to whole 512-byte blocks, and the
/// two-block end-of-archive marker. Names are written as given, unchecked.
///
/// Panics with a message saying what failed (this is a test helper).
pub fn write_raw_tar(path: &Path, members: &[RawMember]) {
    let file =
        File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for member in members {
        let padding = member.data.len().next_multiple_of(TAR_BLOCK) - member.data.len();
        out.write_all(&raw_header(member))
            .and_then(|()| out.write_all(&member.data))
            .and_then(|()| out.write_all(&vec![0u8; padding]))
            .unwrap_or_else(|e| {
                panic!(
                    "cannot write member {} to {}: {e}",
                    member.name_lossy(),
                    path.display()
                )
            });
    }
    out.write_all(&[0u8; 2 * TAR_BLOCK])
        .and_then(|()| out.flush())
        .unwrap_or_else(|e| panic!("cannot finish {}: {e}", path.display()));
}

/// The members of the tar archive at `path` (e.g. a [`build_ova`] result),
/// in archive order with their data, ready to be tampered with and written
/// again by [`write_raw_tar`].
///
/// Panics with a message saying what failed (this is a test helper).
pub fn read_raw_tar(path: &Path) -> Vec<RawMember> {
    let fail = |e: std::io::Error| -> ! { panic!("cannot read {} as tar: {e}", path.display()) };
    let file = File::open(path).unwrap_or_else(|e| fail(e));
    let mut archive = tar::Archive::new(BufReader::new(file));
    let mut members = Vec::new();
    for entry in archive.entries().unwrap_or_else(|e| fail(e)) {
        let mut entry = entry.unwrap_or_else(|e| fail(e));
        let name = entry.path_bytes().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap_or_else(|e| fail(e));
        members.push(RawMember::file(name, data));
    }
    members
}

/// Rewrites the manifest member (the one named `*.mf`) of `members` so it
/// matches them again after tampering: each line's digest is recomputed
/// over the member of that name with the line's own algorithm, and lines
/// for names no longer in `members` are dropped. Without a manifest member
/// nothing changes.
///
/// A hostile OVA built this way is refused for what was done to it, not
/// for a digest mismatch.
pub fn refresh_manifest(members: &mut [RawMember]) {
    let Some(mf) = members.iter().position(|m| m.name.ends_with(b".mf")) else {
        return;
    };
    let old = String::from_utf8_lossy(&members[mf].data).into_owned();
    let mut text = String::new();
    for line in old.lines() {
        let parsed = line
            .split_once('(')
            .and_then(|(label, rest)| rest.split_once(")= ").map(|(name, _)| (label, name)));
        let Some((label, name)) = parsed else {
            panic!("refresh_manifest: cannot parse manifest line {line:?}")
        };
        let kind = match label {
            "SHA1" => ManifestKind::Sha1,
            "SHA256" => ManifestKind::Sha256,
            "SHA512" => ManifestKind::Sha512,
            "SHA2-256" => ManifestKind::Sha2_256Spelling,
            other => panic!("refresh_manifest: unknown algorithm {other:?} in {line:?}"),
        };
        if let Some(member) = members.iter().find(|m| m.name == name.as_bytes()) {
            let hex = hex_digest(kind, &member.data);
            text.push_str(&format!("{label}({name})= {hex}\n"));
        }
    }
    members[mf].data = text.into_bytes();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Members of an archive in order, with their bytes.
    fn read_members(path: &Path) -> Vec<(String, Vec<u8>)> {
        read_raw_tar(path)
            .into_iter()
            .map(|member| (member.name_lossy(), member.data))
            .collect()
    }

    /// Manifest lines as name → (label, hex).
    fn parse_manifest(text: &str) -> HashMap<String, (String, String)> {
        text.lines()
            .map(|line| {
                let (left, hex) = line.split_once(")= ").expect("manifest line");
                let (label, name) = left.split_once('(').expect("manifest line");
                (name.to_string(), (label.to_string(), hex.to_string()))
            })
            .collect()
    }

    fn small(name: &str) -> OvaSpec {
        let mut spec = OvaSpec::bottlerocket(name);
        spec.disks = vec![
            DiskSpec {
                capacity_bytes: 64 * MIB,
                random_bytes: 256 * 1024,
            },
            DiskSpec {
                capacity_bytes: 3 * MIB + 512,
                random_bytes: 1000,
            },
        ];
        spec
    }

    #[test]
    fn default_spec_builds_a_valid_ova() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = OvaSpec::bottlerocket("bottlerocket-test");
        let built = build_ova(&spec, dir.path());
        assert_eq!(built.path, dir.path().join("bottlerocket-test.ova"));
        assert_eq!(built.total_bytes, file_len(&built.path));

        let members = read_members(&built.path);
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "bottlerocket-test.ovf",
                "bottlerocket-test.mf",
                "bottlerocket-test-disk1.vmdk",
                "bottlerocket-test-disk2.vmdk"
            ]
        );
        assert_eq!(built.members, names);
        assert_eq!(built.ovf_name, "bottlerocket-test.ovf");

        // The manifest covers the descriptor and both disks, as stored.
        let manifest = String::from_utf8(members[1].1.clone()).expect("utf-8 manifest");
        assert_eq!(Some(&manifest), built.manifest.as_ref());
        let entries = parse_manifest(&manifest);
        assert_eq!(entries.len(), 3);
        for (name, data) in members.iter().filter(|(n, _)| !n.ends_with(".mf")) {
            let (label, hex) = &entries[name];
            assert_eq!(label, "SHA256");
            assert_eq!(hex, &hex_digest(ManifestKind::Sha256, data), "{name}");
        }

        // The descriptor names the stored sizes and the expected hardware.
        let ovf = String::from_utf8(members[0].1.clone()).expect("utf-8 ovf");
        for (index, disk) in built.disk_files.iter().enumerate() {
            let data = &members[2 + index].1;
            assert_eq!(disk.size, data.len() as u64);
            assert_eq!(disk.sha256, hex_digest(ManifestKind::Sha256, data));
            assert!(ovf.contains(&format!(
                "ovf:href=\"{}\" ovf:id=\"file{}\" ovf:size=\"{}\"",
                disk.name,
                index + 1,
                disk.size
            )));
            // 1 MiB of random data does not compress.
            assert!(disk.size > MIB, "{} is {} bytes", disk.name, disk.size);
        }
        assert_eq!(built.disk_files[0].capacity_bytes, 2 * GIB);
        assert_eq!(built.disk_files[1].capacity_bytes, GIB);
        for needle in [
            "ovf:capacity=\"2\" ovf:capacityAllocationUnits=\"byte * 2^30\"",
            "ovf:capacity=\"1\" ovf:capacityAllocationUnits=\"byte * 2^30\"",
            "<rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>",
            "<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>",
            "<rasd:Connection>VM Network</rasd:Connection>",
            "<rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource>",
            "<vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>",
            "<rasd:VirtualQuantity>4096</rasd:VirtualQuantity>",
            "<Network ovf:name=\"VM Network\">",
            "<VirtualSystem ovf:id=\"bottlerocket-test\">",
        ] {
            assert!(ovf.contains(needle), "descriptor lacks {needle}:\n{ovf}");
        }
        assert!(!ovf.to_lowercase().contains("nvme"));

        // qemu-img sees streamOptimized VMDKs of the right virtual size.
        for (index, disk) in built.disk_files.iter().enumerate() {
            let path = dir.path().join(&disk.name);
            std::fs::write(&path, &members[2 + index].1).expect("extract disk");
            let output = Command::new("qemu-img")
                .args(["info", "--output=json"])
                .arg(&path)
                .output()
                .expect("qemu-img info");
            assert!(output.status.success());
            let info: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("qemu-img json");
            assert_eq!(info["format"], "vmdk");
            assert_eq!(info["virtual-size"], disk.capacity_bytes);
            assert_eq!(
                info["format-specific"]["data"]["create-type"],
                "streamOptimized"
            );
        }

        // No work files are left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".ova-build-"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn disk_data_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = small("roundtrip");
        let built = build_ova(&spec, dir.path());
        let members = read_members(&built.path);
        let vmdk = dir.path().join("d.vmdk");
        std::fs::write(&vmdk, &members[3].1).expect("extract");
        let raw = dir.path().join("d.raw");
        let status = Command::new("qemu-img")
            .args(["convert", "-O", "raw"])
            .arg(&vmdk)
            .arg(&raw)
            .status()
            .expect("qemu-img convert");
        assert!(status.success());
        let data = std::fs::read(&raw).expect("read raw");
        assert_eq!(data.len() as u64, 3 * MIB + 512);
        let mut expected = vec![0u8; 1000];
        SplitMix64::new(seed_for(&spec, 1)).fill(&mut expected);
        assert_eq!(&data[..1000], expected.as_slice());
        assert!(data[1000..].iter().all(|&b| b == 0));
        // A capacity that is not whole GiB is given in bytes.
        assert!(built
            .ovf_descriptor
            .contains("ovf:capacity=\"3146240\" ovf:capacityAllocationUnits=\"byte\""));
    }

    #[test]
    fn manifest_kinds() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (kind, label, hex_len) in [
            (ManifestKind::Sha1, "SHA1", 40),
            (ManifestKind::Sha512, "SHA512", 128),
            (ManifestKind::Sha2_256Spelling, "SHA2-256", 64),
        ] {
            let mut spec = small(&format!("kind-{label}"));
            spec.manifest = kind;
            let built = build_ova(&spec, dir.path());
            let members = read_members(&built.path);
            let entries = parse_manifest(built.manifest.as_deref().expect("manifest"));
            for (name, data) in members.iter().filter(|(n, _)| !n.ends_with(".mf")) {
                let (l, hex) = &entries[name];
                assert_eq!(l, label);
                assert_eq!(hex.len(), hex_len);
                assert_eq!(hex, &hex_digest(kind, data));
            }
        }
        let mut spec = small("no-manifest");
        spec.manifest = ManifestKind::None;
        let built = build_ova(&spec, dir.path());
        assert_eq!(built.mf_name, None);
        let names: Vec<String> = read_members(&built.path).into_iter().map(|m| m.0).collect();
        assert_eq!(
            names,
            [
                "no-manifest.ovf",
                "no-manifest-disk1.vmdk",
                "no-manifest-disk2.vmdk"
            ]
        );
    }

    #[test]
    fn ovf_last_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec = small("last");
        spec.layout = Layout::OvfLast;
        let built = build_ova(&spec, dir.path());
        let names: Vec<String> = read_members(&built.path).into_iter().map(|m| m.0).collect();
        assert_eq!(
            names,
            ["last-disk1.vmdk", "last-disk2.vmdk", "last.mf", "last.ovf"]
        );
        assert_eq!(built.members, names);
    }

    #[test]
    fn corrupt_disk_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec = small("corrupt");
        spec.fault = OvaFault::CorruptDiskByte {
            disk: 1,
            offset: 5000,
        };
        let built = build_ova(&spec, dir.path());
        let members = read_members(&built.path);
        let entries = parse_manifest(built.manifest.as_deref().expect("manifest"));
        let (name, data) = &members[3];
        assert_eq!(name, "corrupt-disk2.vmdk");
        let stored = hex_digest(ManifestKind::Sha256, data);
        assert_eq!(stored, built.disk_files[1].sha256);
        assert_ne!(entries[name].1, stored, "the manifest must not match");
        // The other disk is intact.
        assert_eq!(
            entries["corrupt-disk1.vmdk"].1,
            hex_digest(ManifestKind::Sha256, &members[2].1)
        );
    }

    #[test]
    fn truncate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec = small("cut");
        spec.fault = OvaFault::Truncate { keep_bytes: 12345 };
        let built = build_ova(&spec, dir.path());
        assert_eq!(built.total_bytes, 12345);
        assert_eq!(file_len(&built.path), 12345);
    }

    #[test]
    fn manifest_lists_missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec = small("extra");
        spec.fault = OvaFault::ManifestListsMissingFile;
        let built = build_ova(&spec, dir.path());
        let missing = built.missing_manifest_entry.clone().expect("extra entry");
        assert_eq!(missing, "extra-disk3.vmdk");
        let entries = parse_manifest(built.manifest.as_deref().expect("manifest"));
        assert_eq!(entries.len(), 4);
        assert!(entries.contains_key(&missing));
        let names: Vec<String> = read_members(&built.path).into_iter().map(|m| m.0).collect();
        assert!(!names.contains(&missing));
    }

    #[test]
    #[should_panic(expected = "needs a manifest")]
    fn missing_file_fault_needs_a_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec = small("bad");
        spec.manifest = ManifestKind::None;
        spec.fault = OvaFault::ManifestListsMissingFile;
        build_ova(&spec, dir.path());
    }

    #[test]
    fn raw_tar_keeps_hostile_names_with_valid_checksums() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raw.tar");
        write_raw_tar(
            &path,
            &[
                RawMember::file("../evil.ovf", "<Envelope/>"),
                RawMember::pax(&[("path", "a/../../b.vmdk")]),
                RawMember::file("plain.vmdk", vec![7u8; 600]),
            ],
        );
        // The tar crate checks every header's checksum as it reads.
        let members = read_raw_tar(&path);
        let names: Vec<String> = members.iter().map(RawMember::name_lossy).collect();
        assert_eq!(names, ["../evil.ovf", "a/../../b.vmdk"]);
        assert_eq!(members[1].data, vec![7u8; 600]);
        // Header and padded data per member, then the end-of-archive marker.
        assert_eq!(
            file_len(&path),
            (512 + 512) + (512 + 512) + (512 + 1024) + 1024
        );
        assert_eq!(
            RawMember::pax(&[("path", "a/../../b.vmdk")]).data,
            b"23 path=a/../../b.vmdk\n"
        );
    }

    #[test]
    fn refresh_manifest_recomputes_and_drops_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spec = small("refresh");
        spec.manifest = ManifestKind::Sha512;
        let built = build_ova(&spec, dir.path());
        let mut members = read_raw_tar(&built.path);
        members[0].data.extend_from_slice(b"<!-- tampered -->");
        members.retain(|m| m.name != b"refresh-disk2.vmdk");
        refresh_manifest(&mut members);
        let entries = parse_manifest(&String::from_utf8(members[1].data.clone()).expect("utf-8"));
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries["refresh.ovf"],
            (
                "SHA512".to_string(),
                hex_digest(ManifestKind::Sha512, &members[0].data)
            )
        );
        assert!(!entries.contains_key("refresh-disk2.vmdk"));
    }

    #[test]
    fn prng_is_seeded() {
        let mut a = vec![0u8; 37];
        let mut b = vec![0u8; 37];
        SplitMix64::new(7).fill(&mut a);
        SplitMix64::new(7).fill(&mut b);
        assert_eq!(a, b);
        SplitMix64::new(8).fill(&mut b);
        assert_ne!(a, b);
    }
}
