//! The sanity check a disk gets before it is streamed to vCenter.
//!
//! An OVA's disks are POSTed to the lease as `streamVmdk`, so each must be
//! a streamOptimized VMDK: a sparse extent whose header (the first 512-byte
//! sector) carries the `KDMV` magic, compressed grains and stream markers,
//! and whose stream ends in a footer marker, a footer and an end-of-stream
//! marker. vCenter parses the whole stream and refuses a bad one, but only
//! after the VM exists and bytes were sent; the simulator takes anything.
//! Checking the size and the header first refuses a file that cannot be a
//! disk (a stub, a text file, a raw or monolithicSparse image, a gzip file)
//! with a message naming it, before its first byte is sent.
//!
//! Only the header is checked: the rest of the stream is left to vCenter.
//!
//! ```
//! use ova_import::vmdk::{check_size, check_header, VmdkError};
//! assert_eq!(check_size(1024), Err(VmdkError::TooShort { size: 1024 }));
//! let err = check_header(b"# Disk DescriptorFile\nversion=1\n").unwrap_err();
//! assert!(err.to_string().contains("KDMV"));
//! ```

/// A disk sector, the unit of the VMDK format.
const SECTOR: u64 = 512;

/// The smallest streamOptimized VMDK: its header, footer marker, footer and
/// end-of-stream marker, one sector each.
pub const MIN_STREAM_OPTIMIZED_BYTES: u64 = 4 * SECTOR;

/// The bytes of the sparse extent header [`check_header`] reads.
pub const HEADER_BYTES: usize = SECTOR as usize;

/// `flags` bit: grains are compressed.
const FLAG_COMPRESSED: u32 = 1 << 16;
/// `flags` bit: the stream has markers (a streamOptimized extent).
const FLAG_MARKERS: u32 = 1 << 17;
/// `compressAlgorithm` value for deflate, the only one streamOptimized uses.
const COMPRESS_DEFLATE: u16 = 1;

/// Why a file is not a streamOptimized VMDK. The message completes
/// "`<file>` is not a streamOptimized VMDK: …".
///
/// ```
/// use ova_import::vmdk::VmdkError;
/// let text = VmdkError::TooShort { size: 10 }.to_string();
/// assert!(text.starts_with("it is 10 bytes"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VmdkError {
    /// Fewer bytes than any streamOptimized VMDK has.
    #[error(
        "it is {size} bytes, less than the {MIN_STREAM_OPTIMIZED_BYTES} bytes that a \
         streamOptimized VMDK's header, footer marker, footer and end-of-stream marker take"
    )]
    TooShort {
        /// The file's size.
        size: u64,
    },
    /// The first bytes are not a sparse extent header.
    #[error("it does not start with the sparse extent magic \"KDMV\"{hint}")]
    NoMagic {
        /// What the bytes look like instead, when recognisable (starts
        /// with "; ").
        hint: &'static str,
    },
    /// A header of a sparse extent version this importer does not know.
    #[error("its sparse extent header has version {version}, not 1, 2 or 3")]
    Version {
        /// The header's `version`.
        version: u32,
    },
    /// A sparse extent, but not a streamOptimized one.
    #[error(
        "its header has flags {flags:#010x}, without compressed grains and stream markers \
         (it is a monolithicSparse or other sparse VMDK); convert it with \
         `qemu-img convert -O vmdk -o subformat=streamOptimized`"
    )]
    NotStreamOptimized {
        /// The header's `flags`.
        flags: u32,
    },
    /// Compressed with something other than deflate.
    #[error("its header has compressAlgorithm {algorithm}, not 1 (deflate)")]
    Compression {
        /// The header's `compressAlgorithm`.
        algorithm: u16,
    },
    /// A header field no disk can have.
    #[error("its header has {field} {value}, which no disk can have")]
    Field {
        /// The field's name in the VMDK specification.
        field: &'static str,
        /// Its value.
        value: u64,
    },
}

/// Refuses a file too short to be a streamOptimized VMDK; the size is
/// known from the tar header before any byte is read.
///
/// ```
/// use ova_import::vmdk::check_size;
/// assert!(check_size(1 << 20).is_ok());
/// assert!(check_size(0).is_err());
/// ```
pub fn check_size(size: u64) -> Result<(), VmdkError> {
    if size < MIN_STREAM_OPTIMIZED_BYTES {
        return Err(VmdkError::TooShort { size });
    }
    Ok(())
}

/// Checks that `start`, the first bytes of a file (at least
/// [`HEADER_BYTES`] of them for a file that long), is a streamOptimized
/// sparse extent header: the magic, a known version, compressed grains with
/// markers, deflate, and a non-zero capacity and power-of-two grain size.
///
/// ```
/// use ova_import::vmdk::{check_header, VmdkError};
/// let mut header = [0u8; 512];
/// header[..4].copy_from_slice(b"KDMV");
/// header[4] = 3; // version
/// header[8..12].copy_from_slice(&0x0003_0003u32.to_le_bytes()); // flags
/// header[12] = 1; // capacity: one sector
/// header[20] = 128; // grainSize: 128 sectors
/// header[77] = 1; // compressAlgorithm: deflate
/// assert_eq!(check_header(&header), Ok(()));
/// header[77] = 0;
/// assert_eq!(check_header(&header), Err(VmdkError::Compression { algorithm: 0 }));
/// ```
pub fn check_header(start: &[u8]) -> Result<(), VmdkError> {
    if !start.starts_with(b"KDMV") {
        return Err(VmdkError::NoMagic { hint: sniff(start) });
    }
    if start.len() < HEADER_BYTES {
        return Err(VmdkError::TooShort {
            size: start.len() as u64,
        });
    }
    let u16_at = |at: usize| u16::from_le_bytes([start[at], start[at + 1]]);
    let u32_at =
        |at: usize| u32::from_le_bytes([start[at], start[at + 1], start[at + 2], start[at + 3]]);
    let u64_at = |at: usize| u64::from(u32_at(at)) | u64::from(u32_at(at + 4)) << 32;
    let version = u32_at(4);
    if !(1..=3).contains(&version) {
        return Err(VmdkError::Version { version });
    }
    let flags = u32_at(8);
    if flags & (FLAG_COMPRESSED | FLAG_MARKERS) != FLAG_COMPRESSED | FLAG_MARKERS {
        return Err(VmdkError::NotStreamOptimized { flags });
    }
    let algorithm = u16_at(77);
    if algorithm != COMPRESS_DEFLATE {
        return Err(VmdkError::Compression { algorithm });
    }
    let capacity = u64_at(12);
    if capacity == 0 {
        return Err(VmdkError::Field {
            field: "capacity",
            value: capacity,
        });
    }
    let grain_size = u64_at(20);
    if !grain_size.is_power_of_two() {
        return Err(VmdkError::Field {
            field: "grainSize",
            value: grain_size,
        });
    }
    Ok(())
}

/// Names what a file that is no sparse extent looks like, as a hint.
fn sniff(start: &[u8]) -> &'static str {
    if start.starts_with(&[0x1f, 0x8b]) {
        "; it is gzip-compressed (ovf:compression=\"gzip\" is not supported): decompress it"
    } else if start.starts_with(b"# Disk DescriptorFile") {
        "; it is a VMDK descriptor (text), not the disk's data"
    } else if start.starts_with(b"COWD") {
        "; it is an ESX hosted sparse (COWD) extent"
    } else if start.starts_with(b"QFI\xfb") {
        "; it is a qcow2 image: convert it with `qemu-img convert -O vmdk -o subformat=streamOptimized`"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header as qemu-img writes it for a 10 GiB streamOptimized disk.
    fn qemu_header() -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..4].copy_from_slice(b"KDMV");
        h[4..8].copy_from_slice(&3u32.to_le_bytes());
        h[8..12].copy_from_slice(&0x0003_0003u32.to_le_bytes());
        h[12..20].copy_from_slice(&(20u64 << 20).to_le_bytes()); // sectors
        h[20..28].copy_from_slice(&128u64.to_le_bytes());
        h[28..36].copy_from_slice(&1u64.to_le_bytes());
        h[36..44].copy_from_slice(&20u64.to_le_bytes());
        h[44..48].copy_from_slice(&512u32.to_le_bytes());
        h[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
        h[64..72].copy_from_slice(&2688u64.to_le_bytes());
        h[73..77].copy_from_slice(b"\n \r\n");
        h[77..79].copy_from_slice(&1u16.to_le_bytes());
        h
    }

    #[test]
    fn a_stream_optimized_header_passes() {
        assert_eq!(check_header(&qemu_header()), Ok(()));
        // The rest of the stream may follow.
        let mut longer = qemu_header().to_vec();
        longer.extend_from_slice(&[0xaa; 4096]);
        assert_eq!(check_header(&longer), Ok(()));
        assert_eq!(check_size(MIN_STREAM_OPTIMIZED_BYTES), Ok(()));
    }

    #[test]
    fn what_cannot_be_a_stream_optimized_vmdk_is_named() {
        assert_eq!(check_size(1023), Err(VmdkError::TooShort { size: 1023 }));
        assert_eq!(
            check_header(&[0u8; 4096]),
            Err(VmdkError::NoMagic { hint: "" })
        );
        assert_eq!(
            check_header(&qemu_header()[..100]),
            Err(VmdkError::TooShort { size: 100 })
        );
        let gzip = check_header(&[0x1f, 0x8b, 8, 0]).unwrap_err();
        assert!(gzip.to_string().contains("gzip"), "{gzip}");
        let text = check_header(b"# Disk DescriptorFile\n").unwrap_err();
        assert!(text.to_string().contains("descriptor"), "{text}");

        let mut h = qemu_header();
        h[4] = 9;
        assert_eq!(check_header(&h), Err(VmdkError::Version { version: 9 }));

        // monolithicSparse: no compression, no markers.
        let mut h = qemu_header();
        h[8..12].copy_from_slice(&3u32.to_le_bytes());
        let err = check_header(&h).unwrap_err();
        assert_eq!(err, VmdkError::NotStreamOptimized { flags: 3 });
        assert!(
            err.to_string().contains("subformat=streamOptimized"),
            "{err}"
        );

        let mut h = qemu_header();
        h[77] = 0;
        assert_eq!(
            check_header(&h),
            Err(VmdkError::Compression { algorithm: 0 })
        );

        let mut h = qemu_header();
        h[12..20].fill(0);
        assert_eq!(
            check_header(&h),
            Err(VmdkError::Field {
                field: "capacity",
                value: 0
            })
        );

        let mut h = qemu_header();
        h[20..28].copy_from_slice(&100u64.to_le_bytes());
        assert_eq!(
            check_header(&h),
            Err(VmdkError::Field {
                field: "grainSize",
                value: 100
            })
        );
    }
}
