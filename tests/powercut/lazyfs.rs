//! A filesystem in memory that forgets, on command, everything that was not
//! fsynced: what a power cut does to the data in a disk's cache (the idea of
//! LazyFS, the tool Jepsen uses, in a few hundred lines of `fuser`).
//!
//! Each file and directory has two states: the one programs see and the one
//! "on disk". A write or a truncation changes what programs see;
//! `fsync`/`fdatasync` of the file copies it to disk. Creating, renaming or
//! removing a name changes the directory programs see; an `fsync` of the
//! directory copies it to disk ([`DirEntries::NeedFsync`], what POSIX
//! promises), or every name change is on disk at once
//! ([`DirEntries::Immediate`], like LazyFS, which only loses file data).
//! `sync_file_range` never reaches a FUSE filesystem: the kernel hands it
//! the writes, nothing more, so it makes nothing durable here, as on a disk
//! with a write cache. Modes, owners and times are never lost.
//!
//! [`LazyFs::power_cut`] unmounts, puts every file and directory back to its
//! state on disk and mounts again (the kernel's caches go with the mount,
//! as with a reboot). The programs using it must be stopped first.
//!
//! File data are kept in 4 KiB pages shared between the two states until
//! written again, so an fsync copies only the pages written since the last.

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const PAGE: usize = 4096;
/// How long the kernel may cache names and attributes: nothing changes
/// behind its back within one mount.
const TTL: Duration = Duration::from_secs(1);

/// When a new, renamed or removed name is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirEntries {
    /// After an fsync of its directory (what POSIX promises).
    NeedFsync,
    /// At once (LazyFS's model: only file data are lost).
    Immediate,
}

/// What a power cut dropped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dropped {
    /// Files whose data or length on disk differed from what programs saw.
    pub files: usize,
    /// Directories whose names on disk differed.
    pub dirs: usize,
}

/// The mounted filesystem. Unmounted when dropped.
pub struct LazyFs {
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
    session: Option<BackgroundSession>,
}

impl LazyFs {
    /// Mounts an empty filesystem at `mountpoint` (needs root, or
    /// `fusermount3`, and `/dev/fuse`).
    pub fn mount(mountpoint: &Path, entries: DirEntries) -> std::io::Result<LazyFs> {
        let state = Arc::new(Mutex::new(State::new(entries)));
        let session = mount(&state, mountpoint)?;
        Ok(LazyFs {
            state,
            mountpoint: mountpoint.to_path_buf(),
            session: Some(session),
        })
    }

    /// The power cut: everything not fsynced is gone. Unmounts (every
    /// program using the filesystem must have stopped), drops it, mounts again.
    pub fn power_cut(&mut self) -> std::io::Result<Dropped> {
        if let Some(session) = self.session.take() {
            session.umount_and_join()?;
        }
        let dropped = self.state.lock().unwrap().power_cut();
        self.session = Some(mount(&self.state, &self.mountpoint)?);
        Ok(dropped)
    }

    /// How many `fsync`s of files and of directories the filesystem answered.
    pub fn fsyncs(&self) -> (u64, u64) {
        let state = self.state.lock().unwrap();
        (state.file_fsyncs, state.dir_fsyncs)
    }
}

impl Drop for LazyFs {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}

fn mount(state: &Arc<Mutex<State>>, mountpoint: &Path) -> std::io::Result<BackgroundSession> {
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("cartql-lazyfs".into()),
        MountOption::DefaultPermissions,
    ];
    fuser::spawn_mount(Fs(state.clone()), mountpoint, &config)
}

/// 4 KiB pages of one state of a file, and its length.
#[derive(Clone, Default)]
struct Pages {
    pages: BTreeMap<u64, Arc<[u8; PAGE]>>,
    len: u64,
}

impl Pages {
    fn read(&self, offset: u64, size: u32) -> Vec<u8> {
        let end = self.len.min(offset.saturating_add(u64::from(size)));
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let (index, within) = (at / PAGE as u64, (at % PAGE as u64) as usize);
            let take = (PAGE - within).min((end - at) as usize);
            match self.pages.get(&index) {
                Some(page) => out.extend_from_slice(&page[within..within + take]),
                None => out.resize(out.len() + take, 0),
            }
            at += take as u64;
        }
        out
    }

    /// Writes `data` at `offset`; returns the pages it touched.
    fn write(&mut self, offset: u64, data: &[u8], touched: &mut BTreeSet<u64>) {
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let (index, within) = (at / PAGE as u64, (at % PAGE as u64) as usize);
            let take = (PAGE - within).min(rest.len());
            let page = self
                .pages
                .entry(index)
                .or_insert_with(|| Arc::new([0; PAGE]));
            Arc::make_mut(page)[within..within + take].copy_from_slice(&rest[..take]);
            touched.insert(index);
            rest = &rest[take..];
            at += take as u64;
        }
        self.len = self.len.max(offset + data.len() as u64);
    }

    fn truncate(&mut self, len: u64, touched: &mut BTreeSet<u64>) {
        let keep = len.div_ceil(PAGE as u64);
        let cut: Vec<u64> = self.pages.range(keep..).map(|(i, _)| *i).collect();
        for index in cut {
            self.pages.remove(&index);
            touched.insert(index);
        }
        let within = (len % PAGE as u64) as usize;
        if within != 0
            && let Some(page) = self.pages.get_mut(&(len / PAGE as u64))
        {
            Arc::make_mut(page)[within..].fill(0);
            touched.insert(len / PAGE as u64);
        }
        self.len = len;
    }
}

struct FileNode {
    seen: Pages,
    disk: Pages,
    /// Pages written or cut since the last fsync.
    dirty: BTreeSet<u64>,
}

impl FileNode {
    fn fsync(&mut self) {
        for index in std::mem::take(&mut self.dirty) {
            match self.seen.pages.get(&index) {
                Some(page) => self.disk.pages.insert(index, page.clone()),
                None => self.disk.pages.remove(&index),
            };
        }
        self.disk.len = self.seen.len;
    }
}

struct DirNode {
    seen: BTreeMap<OsString, u64>,
    disk: BTreeMap<OsString, u64>,
}

enum Kind {
    File(FileNode),
    Dir(DirNode),
}

struct Node {
    kind: Kind,
    perm: u16,
    uid: u32,
    gid: u32,
    mtime: SystemTime,
}

struct State {
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    entries: DirEntries,
    file_fsyncs: u64,
    dir_fsyncs: u64,
}

impl State {
    fn new(entries: DirEntries) -> State {
        let root = Node {
            kind: Kind::Dir(DirNode {
                seen: BTreeMap::new(),
                disk: BTreeMap::new(),
            }),
            perm: 0o755,
            uid: 0,
            gid: 0,
            mtime: SystemTime::now(),
        };
        State {
            nodes: HashMap::from([(INodeNo::ROOT.0, root)]),
            next_ino: 2,
            entries,
            file_fsyncs: 0,
            dir_fsyncs: 0,
        }
    }

    fn power_cut(&mut self) -> Dropped {
        let mut dropped = Dropped::default();
        for node in self.nodes.values_mut() {
            match &mut node.kind {
                Kind::File(file) => {
                    if !file.dirty.is_empty() || file.seen.len != file.disk.len {
                        dropped.files += 1;
                    }
                    file.seen = file.disk.clone();
                    file.dirty.clear();
                }
                Kind::Dir(dir) => {
                    if dir.seen != dir.disk {
                        dropped.dirs += 1;
                    }
                    dir.seen = dir.disk.clone();
                }
            }
        }
        // Forget what no name on disk reaches any more.
        let mut reachable = BTreeSet::from([INodeNo::ROOT.0]);
        let mut queue = vec![INodeNo::ROOT.0];
        while let Some(ino) = queue.pop() {
            if let Some(Kind::Dir(dir)) = self.nodes.get(&ino).map(|n| &n.kind) {
                for child in dir.disk.values() {
                    if reachable.insert(*child) {
                        queue.push(*child);
                    }
                }
            }
        }
        self.nodes.retain(|ino, _| reachable.contains(ino));
        dropped
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let node = self.nodes.get(&ino)?;
        let (kind, size, nlink) = match &node.kind {
            Kind::File(file) => (FileType::RegularFile, file.seen.len, 1),
            Kind::Dir(_) => (FileType::Directory, 0, 2),
        };
        Some(FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: size.div_ceil(512),
            atime: node.mtime,
            mtime: node.mtime,
            ctime: node.mtime,
            crtime: node.mtime,
            kind,
            perm: node.perm,
            nlink,
            uid: node.uid,
            gid: node.gid,
            rdev: 0,
            blksize: PAGE as u32,
            flags: 0,
        })
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut DirNode, Errno> {
        match self.nodes.get_mut(&ino).map(|n| &mut n.kind) {
            Some(Kind::Dir(dir)) => Ok(dir),
            Some(Kind::File(_)) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn file_mut(&mut self, ino: u64) -> Result<&mut FileNode, Errno> {
        match self.nodes.get_mut(&ino).map(|n| &mut n.kind) {
            Some(Kind::File(file)) => Ok(file),
            Some(Kind::Dir(_)) => Err(Errno::EISDIR),
            None => Err(Errno::ENOENT),
        }
    }

    fn lookup(&self, parent: u64, name: &OsStr) -> Result<u64, Errno> {
        match self.nodes.get(&parent).map(|n| &n.kind) {
            Some(Kind::Dir(dir)) => dir.seen.get(name).copied().ok_or(Errno::ENOENT),
            Some(Kind::File(_)) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    /// Sets `name` in `parent` to `ino` (or removes it), on disk too when
    /// names are durable at once.
    fn set_name(&mut self, parent: u64, name: &OsStr, ino: Option<u64>) -> Result<(), Errno> {
        let immediate = self.entries == DirEntries::Immediate;
        let dir = self.dir_mut(parent)?;
        rename_in(&mut dir.seen, name, ino);
        if immediate {
            rename_in(&mut dir.disk, name, ino);
        }
        Ok(())
    }

    fn create(
        &mut self,
        req: &Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        dir: bool,
    ) -> Result<FileAttr, Errno> {
        if self.lookup(parent, name).is_ok() {
            return Err(Errno::EEXIST);
        }
        self.dir_mut(parent)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let kind = if dir {
            Kind::Dir(DirNode {
                seen: BTreeMap::new(),
                disk: BTreeMap::new(),
            })
        } else {
            Kind::File(FileNode {
                seen: Pages::default(),
                disk: Pages::default(),
                dirty: BTreeSet::new(),
            })
        };
        let node = Node {
            kind,
            perm: (mode & !umask & 0o7777) as u16,
            uid: req.uid(),
            gid: req.gid(),
            mtime: SystemTime::now(),
        };
        self.nodes.insert(ino, node);
        self.set_name(parent, name, Some(ino))?;
        Ok(self.attr(ino).expect("just made"))
    }
}

/// The `fuser` side: each call locks the state.
struct Fs(Arc<Mutex<State>>);

impl Fs {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }
}

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let state = self.state();
        match state.lookup(parent.0, name) {
            Ok(ino) => reply.entry(&TTL, &state.attr(ino).unwrap(), Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.state().attr(ino.0) {
            Some(attr) => reply.attr(&TTL, &attr),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = self.state();
        if let Some(len) = size {
            match state.file_mut(ino.0) {
                Ok(file) => {
                    let mut touched = std::mem::take(&mut file.dirty);
                    file.seen.truncate(len, &mut touched);
                    file.dirty = touched;
                }
                Err(e) => return reply.error(e),
            }
        }
        let Some(node) = state.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        if let Some(mode) = mode {
            node.perm = (mode & 0o7777) as u16;
        }
        node.uid = uid.unwrap_or(node.uid);
        node.gid = gid.unwrap_or(node.gid);
        node.mtime = SystemTime::now();
        reply.attr(&TTL, &state.attr(ino.0).unwrap());
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & S_IFMT != S_IFREG {
            return reply.error(Errno::EPERM);
        }
        match self.state().create(req, parent.0, name, mode, umask, false) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        match self.state().create(req, parent.0, name, mode, umask, true) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.state();
        let result = state.lookup(parent.0, name).and_then(|ino| {
            state.file_mut(ino)?;
            state.set_name(parent.0, name, None)
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.state();
        let result = state.lookup(parent.0, name).and_then(|ino| {
            if !state.dir_mut(ino)?.seen.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
            state.set_name(parent.0, name, None)
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !flags.is_empty() {
            return reply.error(Errno::EINVAL);
        }
        let mut state = self.state();
        let result = state.lookup(parent.0, name).and_then(|ino| {
            if let Ok(old) = state.lookup(newparent.0, newname)
                && let Ok(dir) = state.dir_mut(old)
                && !dir.seen.is_empty()
            {
                return Err(Errno::ENOTEMPTY);
            }
            state.set_name(parent.0, name, None)?;
            state.set_name(newparent.0, newname, Some(ino))
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.state().nodes.contains_key(&ino.0) {
            true => reply.opened(FileHandle(0), FopenFlags::empty()),
            false => reply.error(Errno::ENOENT),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.state().create(req, parent.0, name, mode, umask, false) {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        match self.state().file_mut(ino.0) {
            Ok(file) => reply.data(&file.seen.read(offset, size)),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut state = self.state();
        match state.file_mut(ino.0) {
            Ok(file) => {
                let mut touched = std::mem::take(&mut file.dirty);
                file.seen.write(offset, data, &mut touched);
                file.dirty = touched;
            }
            Err(e) => return reply.error(e),
        }
        if let Some(node) = state.nodes.get_mut(&ino.0) {
            node.mtime = SystemTime::now();
        }
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.state();
        state.file_fsyncs += 1;
        match state.nodes.get_mut(&ino.0).map(|n| &mut n.kind) {
            Some(Kind::File(file)) => file.fsync(),
            Some(Kind::Dir(dir)) => dir.disk = dir.seen.clone(),
            None => return reply.error(Errno::ENOENT),
        }
        reply.ok();
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let state = self.state();
        let dir = match state.nodes.get(&ino.0).map(|n| &n.kind) {
            Some(Kind::Dir(dir)) => dir,
            Some(Kind::File(_)) => return reply.error(Errno::ENOTDIR),
            None => return reply.error(Errno::ENOENT),
        };
        let dots = [
            (ino.0, FileType::Directory, OsString::from(".")),
            (ino.0, FileType::Directory, OsString::from("..")),
        ];
        let names = dir.seen.iter().map(|(name, child)| {
            let kind = match state.nodes.get(child).map(|n| &n.kind) {
                Some(Kind::Dir(_)) => FileType::Directory,
                _ => FileType::RegularFile,
            };
            (*child, kind, name.clone())
        });
        for (i, (child, kind, name)) in dots
            .into_iter()
            .chain(names)
            .enumerate()
            .skip(offset as usize)
        {
            if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut state = self.state();
        state.dir_fsyncs += 1;
        match state.dir_mut(ino.0) {
            Ok(dir) => {
                dir.disk = dir.seen.clone();
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(
            1 << 22,
            1 << 21,
            1 << 21,
            1 << 20,
            1 << 19,
            PAGE as u32,
            255,
            PAGE as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }
}

fn rename_in(names: &mut BTreeMap<OsString, u64>, name: &OsStr, ino: Option<u64>) {
    match ino {
        Some(ino) => names.insert(name.to_os_string(), ino),
        None => names.remove(name),
    };
}

/// The file-type bits of a mode, and those of a regular file.
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
