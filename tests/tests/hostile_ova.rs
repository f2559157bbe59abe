//! Hostile and broken OVAs through the whole import, against the vCenter
//! simulator: each is refused with a message that names the archive member
//! or descriptor field and says what is wrong, nothing panics, no VM of the
//! import's name remains (looked up with a separate session), and nothing
//! is written to disk: the test's temporary directory holds the same files
//! before and after, and no path a hostile member name points at exists.
//!
//! The archives are built from a good OVA ([`build_ova`]) whose members are
//! tampered with and written again by [`write_raw_tar`], which writes names
//! `tar` itself refuses. The manifest is recomputed after tampering
//! ([`refresh_manifest`]), so each OVA is refused for its defect, not for a
//! digest mismatch.
//!
//! Unit tests for most of these live in `ova-import/src/archive.rs`,
//! `ovf.rs` and `vmdk.rs`; this is the catalogue through `import_ova`.

// Test helpers outside `#[test]` functions panic on failure like the tests.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ova_import::import::{import_ova, Cleanup, ImportFailure, SilentObserver};
use ova_import::source::OvaSource;
use vsctl_tests::ova::{
    build_ova, read_raw_tar, refresh_manifest, write_raw_tar, DiskSpec, OvaSpec, RawMember,
    SplitMix64, GIB, MIB,
};
use vsctl_tests::{fixtures, Simulator};
use vsphere_client::Client;

/// The member names of the OVA [`good_members`] builds.
const OVF: &str = "bottlerocket-test.ovf";
const DISK1: &str = "bottlerocket-test-disk1.vmdk";
const DISK2: &str = "bottlerocket-test-disk2.vmdk";

/// The members of a small, well-formed Bottlerocket-shaped OVA (descriptor,
/// SHA-256 manifest, two streamOptimized disks of 64 MiB with 64 KiB of
/// data each), built in `dir`.
fn good_members(dir: &Path) -> Vec<RawMember> {
    let mut spec = OvaSpec::bottlerocket("bottlerocket-test");
    for disk in &mut spec.disks {
        *disk = DiskSpec {
            capacity_bytes: 64 * MIB,
            random_bytes: 64 * 1024,
        };
    }
    let built = build_ova(&spec, dir);
    let members = read_raw_tar(&built.path);
    assert_eq!(
        members
            .iter()
            .map(RawMember::name_lossy)
            .collect::<Vec<_>>(),
        [OVF, "bottlerocket-test.mf", DISK1, DISK2]
    );
    members
}

fn member<'a>(members: &'a mut [RawMember], name: &str) -> &'a mut RawMember {
    members
        .iter_mut()
        .find(|m| m.name == name.as_bytes())
        .unwrap_or_else(|| panic!("no member {name}"))
}

fn descriptor(members: &mut [RawMember]) -> String {
    String::from_utf8(member(members, OVF).data.clone()).unwrap()
}

/// Replaces the descriptor's bytes and recomputes the manifest.
fn set_descriptor(members: &mut [RawMember], data: impl Into<Vec<u8>>) {
    member(members, OVF).data = data.into();
    refresh_manifest(members);
}

/// The 1-based line of the first `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).unwrap_or_else(|| panic!("no {needle:?}"));
    text[..at].matches('\n').count() + 1
}

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            found.insert(path.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    found
}

/// When an import is refused: before it created anything on vCenter, or
/// once the VM existed (the lease is then aborted and the VM removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    BeforeAnythingIsCreated,
    AfterTheVmWasCreated,
}

/// What a test tries its hostile OVAs against: a simulator of its own, a
/// session on it, and a temporary directory for the OVAs.
struct Rig {
    sim: Simulator,
    client: Client,
    dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Rig {
        let sim = Simulator::start();
        let client = sim.client().await;
        let dir = tempfile::tempdir().unwrap();
        Rig { sim, client, dir }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path [`Rig::refuse`] writes the OVA of `case` to.
    fn ova(&self, case: &str) -> PathBuf {
        self.dir().join(format!("{case}.ova"))
    }

    /// Writes `members` to [`Rig::ova`]`(case)` and expects its import as
    /// `hostile-<case>` refused (see [`Rig::refuse_file`]).
    async fn refuse(
        &self,
        case: &str,
        members: &[RawMember],
        when: Refused,
        needles: &[&str],
    ) -> ImportFailure {
        let ova = self.ova(case);
        write_raw_tar(&ova, members);
        self.refuse_file(&ova, &format!("hostile-{case}"), when, needles)
            .await
    }

    /// Imports `ova` as `name` and expects it refused `when`, with a
    /// message that starts with the archive's path and holds every one of
    /// `needles`; checks that no VM of that name remains and that nothing
    /// under the test's directory changed.
    async fn refuse_file(
        &self,
        ova: &Path,
        name: &str,
        when: Refused,
        needles: &[&str],
    ) -> ImportFailure {
        let before = tree(self.dir());
        let failure = import_ova(
            &self.client,
            &fixtures::import_request(OvaSource::File(ova.to_path_buf()), name),
            &SilentObserver,
            std::future::pending(),
        )
        .await
        .expect_err("the hostile OVA must be refused");
        let text = failure.to_string();
        assert!(
            text.starts_with(&ova.display().to_string()),
            "{name}: the message does not name the archive: {text}"
        );
        for needle in needles {
            assert!(text.contains(needle), "{name}: no {needle:?} in: {text}");
        }
        match (when, &failure.cleanup) {
            (Refused::BeforeAnythingIsCreated, Cleanup::NothingCreated) => {
                assert!(text.contains("nothing was created on vCenter"), "{text}");
            }
            (
                Refused::AfterTheVmWasCreated,
                Cleanup::Removed {
                    vm: Some(_),
                    lease_aborted: true,
                    ..
                },
            ) => assert!(text.contains("no VM is left on vCenter"), "{text}"),
            (when, cleanup) => {
                panic!("{name}: expected refusal {when:?}, got {cleanup:?}: {text}")
            }
        }
        assert!(
            fixtures::vm_paths(&self.sim.client().await, name)
                .await
                .is_empty(),
            "{name}: a VM of that name remains"
        );
        assert_eq!(
            tree(self.dir()),
            before,
            "{name}: files changed under the test dir"
        );
        failure
    }
}

/// Member names that point outside the archive's directory are refused,
/// whether the first member (the descriptor), the first disk (read before
/// the VM is created) or a later disk (read after) carries one, in the
/// ustar name field or in a pax `path` record; nothing is written where
/// they point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_names_that_escape_the_archive_are_refused() {
    let rig = Rig::start().await;
    let good = good_members(rig.dir());
    // `..` in a name resolves inside the test dir when taken from here.
    let nest = rig.dir().join("a/b");
    std::fs::create_dir_all(&nest).unwrap();
    let outside_tmp = format!("/tmp/vsctl-hostile-{}.vmdk", std::process::id());

    let dots = "it has a '..' component";
    let absolute = "it is an absolute path";
    let early = Refused::BeforeAnythingIsCreated;
    // (member renamed, its new name, in a pax record, when, what is wrong)
    let cases: [(&str, &str, bool, Refused, &str); 7] = [
        (OVF, "../evil.ovf", false, early, dots),
        (DISK1, "disks/../../x.vmdk", false, early, dots),
        (DISK1, "/etc/evil.vmdk", false, early, absolute),
        (DISK1, &outside_tmp, false, early, absolute),
        (DISK1, "..\\evil-windows.vmdk", false, early, dots),
        (DISK1, "../../pax-evil.vmdk", true, early, dots),
        (
            DISK2,
            "../evil-disk2.vmdk",
            false,
            Refused::AfterTheVmWasCreated,
            dots,
        ),
    ];
    for (i, (target, hostile, pax, when, reason)) in cases.into_iter().enumerate() {
        let mut members = good.clone();
        let at = members
            .iter()
            .position(|m| m.name == target.as_bytes())
            .unwrap();
        if pax {
            // The header keeps the harmless name; the pax record replaces it.
            members.insert(at, RawMember::pax(&[("path", hostile)]));
        } else {
            members[at].name = hostile.as_bytes().to_vec();
        }
        let ova = nest.join(format!("escape-{i}.ova"));
        write_raw_tar(&ova, &members);
        let failure = rig
            .refuse_file(
                &ova,
                &format!("hostile-name-{i}"),
                when,
                &[
                    &format!("member {hostile:?} has an unsafe name ({reason})"),
                    "the archive is refused",
                ],
            )
            .await;
        assert!(
            matches!(failure.error, ova_import::import::ImportError::Archive(_)),
            "{failure}"
        );
    }

    let cwd = std::env::current_dir().unwrap();
    for (_, hostile, ..) in cases {
        for base in [nest.as_path(), cwd.as_path(), Path::new("/")] {
            let path = base.join(hostile.replace('\\', "/"));
            assert!(!path.exists(), "{} exists", path.display());
        }
    }
}

/// A DOCTYPE is refused before anything in it is used: an external entity
/// naming `/etc/passwd`, an external DTD, a parameter entity fetching a
/// DTD and a billion-laughs expansion all fail with the DOCTYPE's line, and
/// the message holds nothing the entities would have produced. An entity
/// reference without a DOCTYPE is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dtd_or_entity_in_the_descriptor_is_refused_and_nothing_is_expanded() {
    let rig = Rig::start().await;
    let mut good = good_members(rig.dir());
    let text = descriptor(&mut good);
    let declaration = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    assert!(text.starts_with(declaration));
    let info = "<Info>A virtual machine</Info>";
    let with_doctype = |doctype: &str, info_text: &str| {
        let body = text[declaration.len()..].replace(info, &format!("<Info>{info_text}</Info>"));
        format!("{declaration}{doctype}\n{body}")
    };
    let laughs = {
        let mut dtd = String::from("<!DOCTYPE Envelope [\n<!ENTITY lol0 \"lol\">\n");
        for level in 1..10 {
            let previous = format!("&lol{};", level - 1).repeat(10);
            dtd.push_str(&format!("<!ENTITY lol{level} \"{previous}\">\n"));
        }
        dtd.push_str("]>");
        dtd
    };
    let plain = "A virtual machine";
    let cases = [
        (
            "xxe",
            with_doctype(
                "<!DOCTYPE Envelope [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>",
                "&xxe;",
            ),
        ),
        (
            "external-dtd",
            with_doctype("<!DOCTYPE Envelope SYSTEM \"file:///etc/passwd\">", plain),
        ),
        (
            "parameter-entity",
            with_doctype(
                "<!DOCTYPE Envelope [<!ENTITY % dtd SYSTEM \"http://127.0.0.1:9/evil.dtd\"> %dtd;]>",
                plain,
            ),
        ),
        ("billion-laughs", with_doctype(&laughs, "&lol9;")),
    ];
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let passwd_line = passwd.lines().next().unwrap_or("root:x:0:0");
    for (case, xml) in cases {
        let mut members = good.clone();
        set_descriptor(&mut members, xml.into_bytes());
        let failure = rig
            .refuse(
                case,
                &members,
                Refused::BeforeAnythingIsCreated,
                &[
                    &format!("{OVF}: line 2: <!DOCTYPE> is not allowed"),
                    "remove the DOCTYPE declaration",
                ],
            )
            .await;
        let message = failure.to_string();
        assert!(!message.contains(passwd_line), "{case}: {message}");
        assert!(!message.contains("root:"), "{case}: {message}");
        assert!(!message.contains("lollol"), "{case}: {message}");
    }

    // No DOCTYPE: an entity reference that only a DTD could define.
    let mut members = good.clone();
    let xml = text.replace(info, "<Info>&xxe;</Info>");
    let line = line_of(&xml, "&xxe;");
    set_descriptor(&mut members, xml.into_bytes());
    rig.refuse(
        "undefined-entity",
        &members,
        Refused::BeforeAnythingIsCreated,
        &[&format!(
            "{OVF}: line {line}: undefined entity reference &xxe;"
        )],
    )
    .await;
}

/// A descriptor naming a file the archive lacks, whether the member was
/// left out or the href names another: refused once the archive has been
/// read through (after the VM was created, which is then removed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_naming_a_file_the_archive_lacks_is_refused() {
    let rig = Rig::start().await;
    let good = good_members(rig.dir());

    let mut members = good.clone();
    members.retain(|m| m.name != DISK2.as_bytes());
    refresh_manifest(&mut members);
    rig.refuse(
        "left-out",
        &members,
        Refused::AfterTheVmWasCreated,
        &[&format!(
            ": the descriptor lists {DISK2}, which is not in the archive"
        )],
    )
    .await;

    let mut members = good.clone();
    let xml = descriptor(&mut members).replace(
        &format!("ovf:href=\"{DISK2}\""),
        "ovf:href=\"ghost-disk.vmdk\"",
    );
    set_descriptor(&mut members, xml.into_bytes());
    rig.refuse(
        "ghost",
        &members,
        Refused::AfterTheVmWasCreated,
        &[": the descriptor lists ghost-disk.vmdk, which is not in the archive"],
    )
    .await;
}

/// Replaces the References `ovf:size` of `file` in the descriptor of
/// `members` (and recomputes the manifest).
fn declare_size(members: &mut [RawMember], file: &str, size: u64) {
    let xml = descriptor(members);
    let start = xml
        .find(&format!("ovf:href=\"{file}\""))
        .unwrap_or_else(|| panic!("no References entry for {file}"));
    let element = &xml[start..start + xml[start..].find("/>").unwrap()];
    let value = start + element.find("ovf:size=\"").unwrap() + "ovf:size=\"".len();
    let value_end = value + xml[value..].find('"').unwrap();
    let xml = format!("{}{size}{}", &xml[..value], &xml[value_end..]);
    set_descriptor(members, xml.into_bytes());
}

/// The message a References `ovf:size` that is not the member's size gets.
fn size_mismatch(file: &str, declared: u64, actual: u64) -> String {
    format!(
        ": {file}: References ovf:size declares {declared} bytes but the archive holds {actual}"
    )
}

/// A References `ovf:size` that disagrees with the tar header's size for
/// that member is refused before the member's first byte is sent: the
/// first disk's before the VM is created, a later one's after (the VM is
/// then removed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_references_size_that_disagrees_with_the_archive_is_refused() {
    let rig = Rig::start().await;
    let good = good_members(rig.dir());
    for (case, file, delta, when) in [
        ("size-1", DISK1, 512i64, Refused::BeforeAnythingIsCreated),
        ("size-2", DISK2, -1, Refused::AfterTheVmWasCreated),
    ] {
        let mut members = good.clone();
        let actual = member(&mut members, file).data.len() as u64;
        let declared = actual.checked_add_signed(delta).unwrap();
        declare_size(&mut members, file, declared);
        rig.refuse(
            case,
            &members,
            when,
            &[&size_mismatch(file, declared, actual)],
        )
        .await;
    }
}

/// A 10 GiB disk whose file is tiny.
///
/// The choice: a large capacity with a small file is legitimate, so it
/// imports. A streamOptimized VMDK stores only the grains that hold data
/// (plus its grain tables), so an empty 10 GiB disk from `qemu-img` is
/// about 1.3 MiB, and vCenter accepts such disks. What is refused is a file
/// that cannot be such a disk: one under the 2 KiB that a streamOptimized
/// VMDK's header, footer marker, footer and end-of-stream marker alone take
/// (refused by its tar size, whatever its bytes, before the VM exists), and
/// one that does not start with a streamOptimized sparse extent header
/// (the `KDMV` magic, compressed grains and markers, deflate; refused
/// before its first byte is sent). A References `ovf:size` of 10 GiB for a
/// 1 KiB member is refused as a size lie. The import checks the header
/// only: a valid header followed by garbage is left to vCenter, which
/// parses the whole stream (the simulator does not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_gib_disk_in_a_tiny_file_imports_only_when_it_is_a_real_sparse_vmdk() {
    let rig = Rig::start().await;
    let mut spec = OvaSpec::bottlerocket("bottlerocket-test");
    spec.disks = vec![DiskSpec {
        capacity_bytes: 10 * GIB,
        random_bytes: 0,
    }];
    let built = build_ova(&spec, rig.dir());
    let real = &built.disk_files[0];
    assert!(real.size < 2 * MIB, "{} bytes", real.size);
    let report = import_ova(
        &rig.client,
        &fixtures::import_request(OvaSource::File(built.path.clone()), "sparse-10g"),
        &SilentObserver,
        std::future::pending(),
    )
    .await
    .expect("a real sparse 10 GiB disk imports");
    assert_eq!(report.bytes, real.size);
    assert_eq!(
        fixtures::vm_paths(&rig.sim.client().await, "sparse-10g")
            .await
            .len(),
        1
    );

    let mut good = read_raw_tar(&built.path);
    let vmdk = member(&mut good, DISK1).data.clone();
    let mut random = vec![0u8; 1024];
    SplitMix64::new(6).fill(&mut random);
    let too_short = "it is 1024 bytes, less than the 2048 bytes";
    let cases: [(&str, Vec<u8>, Refused, &str); 3] = [
        // Too short to be a VMDK: refused by its size, before the VM exists.
        (
            "random-1k",
            random,
            Refused::BeforeAnythingIsCreated,
            too_short,
        ),
        (
            "header-1k",
            vmdk[..1024].to_vec(),
            Refused::BeforeAnythingIsCreated,
            too_short,
        ),
        // Long enough: refused by its header, before any byte is sent.
        (
            "zeros-4k",
            vec![0u8; 4096],
            Refused::AfterTheVmWasCreated,
            "it does not start with the sparse extent magic \"KDMV\"",
        ),
    ];
    for (case, data, when, wrong) in cases {
        let mut members = good.clone();
        let len = data.len() as u64;
        member(&mut members, DISK1).data = data;
        declare_size(&mut members, DISK1, len);
        let needle = format!("{DISK1} is not a streamOptimized VMDK: {wrong}");
        rig.refuse(case, &members, when, &[&needle]).await;
    }

    // The real header, but its grains are not compressed: not streamOptimized.
    let mut members = good.clone();
    member(&mut members, DISK1).data[0x4d] = 0; // compressAlgorithm: none
    refresh_manifest(&mut members);
    rig.refuse(
        "uncompressed",
        &members,
        Refused::AfterTheVmWasCreated,
        &[&format!(
            "{DISK1} is not a streamOptimized VMDK: its header has compressAlgorithm 0"
        )],
    )
    .await;

    // ovf:size lies: 10 GiB declared for a 1 KiB member.
    let mut members = good.clone();
    member(&mut members, DISK1).data = vmdk[..1024].to_vec();
    declare_size(&mut members, DISK1, 10 * GIB);
    rig.refuse(
        "size-lie",
        &members,
        Refused::BeforeAnythingIsCreated,
        &[&size_mismatch(DISK1, 10 * GIB, 1024)],
    )
    .await;
}

/// A descriptor that is not UTF-8 is refused with the encoding named:
/// Latin-1 bytes (with a matching declaration, and the line of the first
/// bad byte), UTF-16 with a byte-order mark, and UTF-16 without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_that_is_not_utf8_is_refused() {
    let rig = Rig::start().await;
    let mut good = good_members(rig.dir());
    let text = descriptor(&mut good);

    let latin1_text = text
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"")
        .replace(
            "<Info>A virtual machine</Info>",
            "<Info>Machine cr\u{e9}\u{e9}e</Info>",
        );
    let line = line_of(&latin1_text, "Machine cr");
    // Every character fits in one Latin-1 byte.
    let latin1: Vec<u8> = latin1_text.chars().map(|c| c as u8).collect();
    let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16be_bom: Vec<u8> = [0xfe, 0xff]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
        .collect();
    let latin1_needle = format!("{OVF}: line {line}: byte");
    let utf16_needle = format!("{OVF}: the file");
    let cases: [(&str, Vec<u8>, &str, &str); 3] = [
        ("latin1", latin1, &latin1_needle, "is not valid UTF-8"),
        ("utf16-no-bom", utf16le, &utf16_needle, "UTF-16"),
        ("utf16-bom", utf16be_bom, &utf16_needle, "UTF-16"),
    ];
    for (case, bytes, where_, what) in cases {
        let mut members = good.clone();
        set_descriptor(&mut members, bytes);
        rig.refuse(
            case,
            &members,
            Refused::BeforeAnythingIsCreated,
            &[where_, what, "OVF descriptors must be UTF-8 encoded"],
        )
        .await;
    }
}

/// Files that are no OVA at all: empty, random bytes, gzip-compressed, and
/// a tar archive without a descriptor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_or_random_file_is_not_an_ova() {
    let rig = Rig::start().await;
    let mut random = vec![0u8; 64 * 1024];
    SplitMix64::new(7).fill(&mut random);
    let mut gzip = vec![0x1f, 0x8b, 0x08, 0x00];
    gzip.extend_from_slice(&random[..4096]);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "empty",
            Vec::new(),
            ": the file is empty, so it is not an OVA archive",
        ),
        ("random", random, " is not a tar/OVA archive"),
        ("gzip", gzip, "; it is gzip-compressed: decompress it first"),
    ];
    for (case, bytes, what) in cases {
        let ova = rig.ova(case);
        std::fs::write(&ova, bytes).unwrap();
        let name = format!("hostile-{case}");
        rig.refuse_file(&ova, &name, Refused::BeforeAnythingIsCreated, &[what])
            .await;
    }
    rig.refuse(
        "no-descriptor",
        &[RawMember::file("notes.txt", b"not an OVA".to_vec())],
        Refused::BeforeAnythingIsCreated,
        &[": no .ovf descriptor in the archive"],
    )
    .await;
}
