// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Loading storage functions and running them without I/O.

use std::{
    mem::MaybeUninit,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::Path,
};

use std::sync::Mutex;

use libbpf_rs::{
    skel::{OpenSkel, SkelBuilder},
    ObjectBuilder, PrintLevel,
};

use crate::{
    skeletons, sys,
    uapi::{rnvme_md, Verdict, RNVME_SCRATCH_SIZE},
    Error, Result,
};

/// A loaded storage function (a `BPF_PROG_TYPE_RNVME` program). It stays
/// loaded while this lives (and while a tag or a pin refers to it).
#[derive(Debug)]
pub struct StorageFunction {
    name: String,
    fd: OwnedFd,
}

/// libbpf's messages (warnings and the verifier log) during the current
/// load, instead of on standard error. Loads are serialised by this lock.
static LIBBPF_LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn collect_libbpf_log(level: PrintLevel, msg: String) {
    if level != PrintLevel::Debug || stats_wanted() {
        if let Ok(mut log) = LIBBPF_LOG.lock() {
            log.extend(msg.lines().map(str::to_string));
        }
    }
}

/// RNVME_VERIFIER_STATS set: print the verifier's statistics of every load.
fn stats_wanted() -> bool {
    std::env::var_os("RNVME_VERIFIER_STATS").is_some()
}

/// Runs `f` (a load) with libbpf's log collected; on error, the cause gets
/// the log's most telling line: the verifier's reason, or libbpf's last word.
fn with_libbpf_log<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    static LOADING: Mutex<()> = Mutex::new(());
    let _serial = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let level = if stats_wanted() {
        PrintLevel::Debug
    } else {
        PrintLevel::Warn
    };
    libbpf_rs::set_print(Some((level, collect_libbpf_log)));
    let r = f();
    libbpf_rs::set_print(None);
    let log = std::mem::take(&mut *LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner()));
    // RNVME_VERIFIER_LOG=N: the last N lines of the log on a refusal, for
    // whoever writes a function (bpf/README.md).
    if let (Err(_), Some(n)) = (&r, std::env::var("RNVME_VERIFIER_LOG").ok()) {
        let n = n.parse().unwrap_or(60);
        for line in &log[log.len().saturating_sub(n)..] {
            eprintln!("verifier: {line}");
        }
    }
    if r.is_ok() && stats_wanted() {
        let stats = ["processed ", "verification time", "stack depth"];
        for line in log
            .iter()
            .filter(|l| stats.iter().any(|s| l.starts_with(s)))
        {
            eprintln!("verifier: {line}");
        }
    }
    r.map_err(|e| match e {
        Error::Load { name, cause } => match telling_line(&log) {
            Some(line) => Error::Load {
                name,
                cause: format!("{cause}: {line}"),
            },
            None => Error::Load { name, cause },
        },
        other => other,
    })
}

/// The verifier's reason (the last line of its log before the statistics),
/// else libbpf's last message.
fn telling_line(log: &[String]) -> Option<String> {
    let verifier = log
        .iter()
        .skip_while(|l| !l.contains("-- BEGIN PROG LOAD LOG --"))
        .skip(1)
        .take_while(|l| !l.contains("-- END PROG LOAD LOG --"))
        .filter(|l| {
            let l = l.trim();
            !l.is_empty()
                && !l.starts_with("processed ")
                && !l.starts_with("verification time")
                && !l.starts_with("stack depth")
        })
        .last();
    verifier
        .or_else(|| log.iter().rev().find(|l| !l.trim().is_empty()))
        .map(|l| l.trim().trim_start_matches("libbpf: ").to_string())
}

/// Loads the built-in function whose skeleton module, builder and program
/// are given, as a storage function.
macro_rules! load_skeleton {
    ($module:ident, $builder:ident, $prog:ident) => {{
        let load = |cause: String| Error::Load {
            name: stringify!($module).to_string(),
            cause,
        };
        let mut storage = MaybeUninit::uninit();
        let mut open = skeletons::$module::$builder::default()
            .open(&mut storage)
            .map_err(|e| load(e.to_string()))?;
        sys::set_storage_function_type(&mut open.progs.$prog).map_err(|e| load(e.to_string()))?;
        let skel = open.load().map_err(|e| load(e.to_string()))?;
        let fd = skel
            .progs
            .$prog
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| load(e.to_string()))?;
        Ok::<_, Error>(fd)
    }};
}

/// Loads a function and returns its program fd.
type Loader = fn() -> Result<OwnedFd>;

/// The built-in functions: `bpf/<name>.bpf.c`, loaded through their
/// libbpf-cargo skeletons.
const BUILTIN: &[(&str, Loader)] = &[
    ("bptree", || {
        load_skeleton!(bptree, BptreeSkelBuilder, bptree)
    }),
    ("chain", || load_skeleton!(chain, ChainSkelBuilder, chain)),
    ("scan", || load_skeleton!(scan, ScanSkelBuilder, scan)),
    ("rocksdb", || {
        load_skeleton!(rocksdb, RocksdbSkelBuilder, rocksdb)
    }),
    ("sqlite", || {
        load_skeleton!(sqlite, SqliteSkelBuilder, sqlite)
    }),
];

/// The names of the built-in storage functions.
pub fn builtin_functions() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

/// The result of running a function on a block with `BPF_PROG_TEST_RUN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// The verdict, if the return value is one.
    pub verdict: Option<Verdict>,
    /// The return value as is.
    pub retval: u32,
    /// On [`Verdict::Next`]: where the function wants to read next.
    pub next_offset: u64,
    /// On [`Verdict::Next`]: how many bytes (0 = as many as this read).
    pub next_len: u32,
    /// On [`Verdict::Next`]: the index of the file to read (the run's file
    /// is 0).
    pub next_file: u32,
}

impl StorageFunction {
    /// Loads the one program of BPF object `object` as a storage function.
    /// A function the verifier refuses is an [`Error::Load`].
    pub fn from_object(name: &str, object: &[u8]) -> Result<Self> {
        with_libbpf_log(|| Self::load_object(name, object))
    }

    fn load_object(name: &str, object: &[u8]) -> Result<Self> {
        let load = |cause: String| Error::Load {
            name: name.to_string(),
            cause,
        };
        let mut open = ObjectBuilder::default()
            .open_memory(object)
            .map_err(|e| load(e.to_string()))?;
        let mut programs = 0;
        for mut prog in open.progs_mut() {
            sys::set_storage_function_type(&mut prog).map_err(|e| load(e.to_string()))?;
            programs += 1;
        }
        if programs != 1 {
            return Err(load(format!("the object has {programs} programs, not one")));
        }
        let object = open.load().map_err(|e| load(e.to_string()))?;
        let fd = object
            .progs()
            .next()
            .ok_or_else(|| load("no program after load".into()))?
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| load(e.to_string()))?;
        Ok(Self {
            name: name.to_string(),
            fd,
        })
    }

    /// Loads the built-in function `name` (see [`builtin_functions`]).
    pub fn builtin(name: &str) -> Result<Self> {
        let (_, load) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::UnknownFunction(name.to_string()))?;
        Ok(Self {
            name: name.to_string(),
            fd: with_libbpf_log(load)?,
        })
    }

    /// Loads the storage function in BPF object file `path`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let object = std::fs::read(path).map_err(|e| Error::Load {
            name: name.clone(),
            cause: e.to_string(),
        })?;
        Self::from_object(&name, &object)
    }

    /// Opens the function pinned at `path` (see [`StorageFunction::pin`]).
    /// The module checks that it is a storage function when it is attached.
    pub fn from_pinned(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            Error::Load {
                name: name.clone(),
                cause: "path contains a NUL byte".into(),
            }
        })?;
        let fd = sys::pinned(&c).map_err(|cause| Error::Pin {
            path: path.to_path_buf(),
            cause,
        })?;
        Ok(Self { name, fd })
    }

    /// Pins the function at `path` in a BPF file system (bpffs), so that it
    /// stays loaded after this process and can be attached by path.
    pub fn pin(&self, path: &Path) -> Result<()> {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
            Error::Pin {
                path: path.to_path_buf(),
                cause: std::io::Error::from_raw_os_error(libc::EINVAL),
            }
        })?;
        sys::pin(self.fd.as_fd(), &c).map_err(|cause| Error::Pin {
            path: path.to_path_buf(),
            cause,
        })
    }

    /// The function's name (built-in name or object path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Another handle on the same loaded program (its descriptor
    /// duplicated): tagging several files or DBs with one function loads
    /// and verifies it once.
    pub fn try_clone(&self) -> Result<Self> {
        let fd = self.fd.try_clone().map_err(|e| Error::Load {
            name: self.name.clone(),
            cause: format!("dup: {e}"),
        })?;
        Ok(Self {
            name: self.name.clone(),
            fd,
        })
    }

    /// Runs the function once on `block` (at most 65536 bytes), as read
    /// number `hop` at file offset `file_offset` of file 0, with `scratch`
    /// (at most 4096 bytes) as its scratch, which it may change.
    pub fn test_run(
        &self,
        block: &[u8],
        file_offset: u64,
        hop: u32,
        scratch: &mut [u8],
    ) -> Result<TestRun> {
        let scratch_size = RNVME_SCRATCH_SIZE as usize;
        if scratch.len() > scratch_size {
            return Err(Error::Ioctl {
                what: "BPF_PROG_TEST_RUN",
                cause: std::io::Error::from_raw_os_error(libc::EINVAL),
            });
        }
        let md = rnvme_md {
            file_offset,
            hop,
            ..Default::default()
        };
        let mut ctx = vec![0u8; MD_SIZE + scratch_size];
        ctx[..MD_SIZE].copy_from_slice(&md_to_bytes(&md));
        ctx[MD_SIZE..MD_SIZE + scratch.len()].copy_from_slice(scratch);
        let (retval, _) =
            sys::test_run(self.fd.as_fd(), block, &mut ctx).map_err(|cause| Error::Ioctl {
                what: "BPF_PROG_TEST_RUN",
                cause,
            })?;
        let out = md_from_bytes(&ctx[..MD_SIZE]);
        scratch.copy_from_slice(&ctx[MD_SIZE..MD_SIZE + scratch.len()]);
        Ok(TestRun {
            verdict: Verdict::from_raw(retval),
            retval,
            next_offset: out.next_offset,
            next_len: out.next_len,
            next_file: out.next_file,
        })
    }
}

impl AsFd for StorageFunction {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Bytes of `struct rnvme_md` (56, asserted in `uapi`'s tests).
const MD_SIZE: usize = std::mem::size_of::<rnvme_md>();

/// `md` as the kernel reads it (layout asserted in `uapi`'s tests).
fn md_to_bytes(md: &rnvme_md) -> [u8; MD_SIZE] {
    let mut b = [0u8; MD_SIZE];
    let u32s = [
        (0, md.data),
        (4, md.data_end),
        (8, md.scratch),
        (12, md.hop),
        (32, md.next_len),
        (36, md.len),
        (40, md.file),
        (44, md.next_file),
        (48, md.version),
        (52, md.reserved),
    ];
    for (at, v) in u32s {
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b[16..24].copy_from_slice(&md.file_offset.to_ne_bytes());
    b[24..32].copy_from_slice(&md.next_offset.to_ne_bytes());
    b
}

/// The inverse of [`md_to_bytes`].
fn md_from_bytes(b: &[u8]) -> rnvme_md {
    let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
    rnvme_md {
        data: u32_at(0),
        data_end: u32_at(4),
        scratch: u32_at(8),
        hop: u32_at(12),
        file_offset: u64_at(16),
        next_offset: u64_at(24),
        next_len: u32_at(32),
        len: u32_at(36),
        file: u32_at(40),
        next_file: u32_at(44),
        version: u32_at(48),
        reserved: u32_at(52),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifiers_reason_is_the_telling_line() {
        let log: Vec<String> = [
            "libbpf: prog 'x': BPF program load failed: Permission denied",
            "libbpf: prog 'x': -- BEGIN PROG LOAD LOG --",
            "0: (61) r2 = *(u32 *)(r1 +0)",
            "invalid access to packet, off=64 size=8, R2(id=0,off=64,r=0)",
            "processed 4 insns (limit 1000000) max_states_per_insn 0",
            "-- END PROG LOAD LOG --",
            "libbpf: failed to load object 'x'",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            telling_line(&log).unwrap(),
            "invalid access to packet, off=64 size=8, R2(id=0,off=64,r=0)"
        );
        let log = vec!["libbpf: elf: 'x' is not a proper ELF object".to_string()];
        assert_eq!(
            telling_line(&log).unwrap(),
            "elf: 'x' is not a proper ELF object"
        );
        assert_eq!(telling_line(&[]), None);
    }

    #[test]
    fn context_bytes_round_trip() {
        let md = rnvme_md {
            data: 1,
            data_end: 2,
            scratch: 3,
            hop: 4,
            file_offset: 5,
            next_offset: 6,
            next_len: 7,
            len: 8,
            file: 9,
            next_file: 10,
            version: 11,
            reserved: 12,
        };
        let bytes = md_to_bytes(&md);
        assert_eq!(bytes[40..44], 9u32.to_ne_bytes());
        assert_eq!(bytes[44..48], 10u32.to_ne_bytes());
        assert_eq!(bytes[48..52], 11u32.to_ne_bytes());
        let back = md_from_bytes(&bytes);
        assert_eq!(
            (
                back.hop,
                back.file_offset,
                back.next_offset,
                back.next_len,
                back.len,
                back.file,
                back.next_file,
                back.version,
                back.reserved
            ),
            (4, 5, 6, 7, 8, 9, 10, 11, 12)
        );
    }
}
