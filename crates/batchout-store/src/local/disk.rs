//! Whether the store's folder is on a local disk or a network file system,
//! which decides whether a put syncs its data when [`LocalStore::sync_puts`]
//! was not called (ADR 0005, `docs/decisions/0005-local-store-durability.md`).
//!
//! On a network file system (NFS, SMB, Lustre, GPFS, BeeGFS, a FUSE mount)
//! write errors such as a full quota come back only when the data is written
//! back, which is reported by a sync and otherwise lost (std closes files
//! without looking at the result), and a client that crashes loses what it had
//! not written back, while the rename is already on the server. So there a put
//! syncs its data before the rename; on NFS this costs little, since closing
//! the file writes it back anyway. On a local disk neither holds: a full disk
//! fails the write itself, and a crash of the process loses nothing the kernel
//! was given.
//!
//! Only Linux says which file system a folder is on without `unsafe` or a
//! platform crate (`/proc/self/mountinfo`); elsewhere, and whenever the answer
//! is unclear, the store counts as not local and puts sync.

use std::path::Path;

/// The file systems known to keep their data on a disk of this machine (or in
/// its memory).
const LOCAL_TYPES: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "bcachefs", "zfs", "jfs", "reiserfs", "nilfs2",
    "tmpfs", "ramfs", "overlay", "vfat", "exfat", "ntfs", "ntfs3", "hfsplus",
];

/// Whether `root` (or, while it does not exist yet, its nearest existing
/// ancestor) is on a file system known to be local.
pub(super) fn is_local(root: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        // Absolute first: the ancestors of a relative root that does not
        // exist yet (`batchout-data`) end in "", which is no folder.
        let Ok(root) = std::path::absolute(root) else {
            return false;
        };
        let Some(path) = root.ancestors().find_map(|dir| dir.canonicalize().ok()) else {
            return false;
        };
        let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        fs_type(&mountinfo, &path).is_some_and(|fs_type| LOCAL_TYPES.contains(&fs_type))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = root;
        false
    }
}

/// The type of the file system that holds `path` (absolute, without links),
/// from the text of `/proc/self/mountinfo`: that of the deepest mount point
/// above it, the last mounted when several share it.
fn fs_type<'m>(mountinfo: &'m str, path: &Path) -> Option<&'m str> {
    let mut found: Option<(usize, &str)> = None;
    for line in mountinfo.lines() {
        // `ID PARENT MAJOR:MINOR ROOT MOUNT-POINT OPTIONS [TAGS…] - TYPE SOURCE …`
        let mut fields = line.split(' ');
        let Some(mount_point) = fields.nth(4).map(unescape) else {
            continue;
        };
        let Some(fs_type) = fields.skip_while(|field| *field != "-").nth(1) else {
            continue;
        };
        let depth = Path::new(&mount_point).components().count();
        if path.starts_with(&mount_point) && found.is_none_or(|(deepest, _)| depth >= deepest) {
            found = Some((depth, fs_type));
        }
    }
    found.map(|(_, fs_type)| fs_type)
}

/// Undoes the octal escapes of mountinfo (`\040` for a space, `\011`, `\012`,
/// `\134`).
fn unescape(field: &str) -> String {
    let mut text = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        text.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|code| u8::from_str_radix(code, 8).ok()) {
            Some(byte) if byte.is_ascii() => {
                text.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            _ => {
                text.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    text.push_str(rest);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
30 27 0:40 / /shared rw,relatime shared:5 - nfs4 server:/export rw,vers=4.2
31 30 0:41 / /shared/fast rw,relatime master:1 - lustre 10.0.0.1@tcp:/fs rw
32 27 0:42 / /mnt/my\\040disk rw - xfs /dev/sdb1 rw
33 27 0:43 / /scratch rw - ext4 /dev/sdc1 rw
34 27 0:44 / /scratch rw - fuse.blobfuse2 blobfuse2 rw
35 27 0:45 / /sharedx rw - tmpfs tmpfs rw
";

    fn fs_of(path: &str) -> Option<&'static str> {
        fs_type(MOUNTINFO, Path::new(path))
    }

    #[test]
    fn the_deepest_mount_above_a_path_gives_its_file_system() {
        assert_eq!(fs_of("/home/me/store"), Some("ext4"));
        assert_eq!(fs_of("/shared/job/store"), Some("nfs4"));
        assert_eq!(fs_of("/shared"), Some("nfs4"));
        assert_eq!(fs_of("/shared/fast/store"), Some("lustre"));
        assert_eq!(
            fs_of("/sharedx/store"),
            Some("tmpfs"),
            "whole components, not a text prefix"
        );
        assert_eq!(fs_of("/mnt/my disk/store"), Some("xfs"), "escaped space");
        assert_eq!(
            fs_of("/scratch/store"),
            Some("fuse.blobfuse2"),
            "the last of two mounts on one point"
        );
    }

    #[test]
    fn mountinfo_escapes_are_undone_and_odd_ones_kept() {
        assert_eq!(unescape(r"/a\040b\011c\012d\134e"), "/a b\tc\nd\\e");
        assert_eq!(unescape(r"/a\04"), r"/a\04");
        assert_eq!(unescape(r"/a\xyz"), r"/a\xyz");
    }

    #[test]
    fn only_file_systems_known_to_be_local_count_as_local() {
        for fs_type in ["ext4", "xfs", "btrfs", "tmpfs", "overlay"] {
            assert!(LOCAL_TYPES.contains(&fs_type), "{fs_type}");
        }
        for fs_type in [
            "nfs", "nfs4", "cifs", "smb3", "lustre", "gpfs", "beegfs", "fuse",
        ] {
            assert!(!LOCAL_TYPES.contains(&fs_type), "{fs_type}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_root_that_does_not_exist_yet_is_judged_by_its_nearest_folder() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let missing = dir.path().join("not/yet/there");
        assert_eq!(is_local(&missing), is_local(dir.path()));
        let relative = Path::new("no-such-folder-here/store");
        assert_eq!(is_local(relative), is_local(Path::new(".")));
        let cwd = std::env::current_dir().expect("the current folder");
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("the mount table");
        let cwd_type = fs_type(&mountinfo, &cwd.canonicalize().expect("canonical"));
        assert_eq!(
            is_local(relative),
            cwd_type.is_some_and(|fs_type| LOCAL_TYPES.contains(&fs_type)),
            "{cwd_type:?}"
        );
    }
}
