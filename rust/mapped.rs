//! Read-only memory maps of whole files, and [`Buf`]: an array that is either owned or a view
//! into a mapped file, so a model loaded from disk answers queries straight from the page
//! cache (no parse, no copy) while models built in memory use plain vectors.

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};

/// A whole file mapped read-only (private: changes by others after mapping are not seen only
/// if they replace the file, which atomic writers do).
pub struct Mapping {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and never moved or changed while it exists; `&[u8]` views
// of it may be shared between threads like any immutable memory.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Map `path` (which must not be empty).
    pub fn open(path: &Path) -> Result<Arc<Mapping>> {
        use std::os::unix::io::AsRawFd;
        let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        let len = file.metadata().map_err(|e| Error::io("stat", path, e))?.len();
        let len = usize::try_from(len).map_err(|_| Error::Format(format!("{}: too large to map", path.display())))?;
        if len == 0 {
            return Err(Error::Format(format!("{}: offset 0: the file is empty", path.display())));
        }
        // SAFETY: a fresh private read-only mapping of an open file descriptor; the result is
        // checked against MAP_FAILED before use, and the fd may be closed after mmap returns.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return Err(Error::io("map", path, std::io::Error::last_os_error()));
        }
        Ok(Arc::new(Mapping { ptr: ptr as *const u8, len }))
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` readable bytes for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Ask the kernel to read `range` ahead (no effect on results).
    pub fn will_need(&self, start: usize, len: usize) {
        let page = 4096;
        let s = start / page * page;
        let e = (start + len).min(self.len);
        if e > s {
            // SAFETY: the range lies inside the mapping; madvise only changes paging hints.
            unsafe { libc::madvise(self.ptr.add(s) as *mut libc::c_void, e - s, libc::MADV_WILLNEED) };
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `open` mapped; no view outlives `self` (views hold
        // an `Arc` of it).
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// Plain data: every bit pattern of `size_of::<Self>()` bytes is a valid value and there is no
/// padding, so arrays of it may be read from file bytes.
///
/// # Safety
/// Implement only for types without padding, pointers or invalid bit patterns.
pub unsafe trait Pod: Copy + Send + Sync + 'static {}
// SAFETY: integers and floats: every bit pattern is valid, no padding.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: as above.
unsafe impl Pod for f32 {}
// SAFETY: an array of f32 has no padding.
unsafe impl Pod for [f32; 2] {}

/// An array that is owned, or a view of a mapped file (cloning a view shares the mapping).
pub enum Buf<T: Pod> {
    Owned(Vec<T>),
    Mapped { map: Arc<Mapping>, off: usize, len: usize },
}

impl<T: Pod> Buf<T> {
    /// A view of `len` values at byte `off` of `map`; checked to lie inside it, aligned.
    pub fn mapped(map: &Arc<Mapping>, off: usize, len: usize) -> Result<Buf<T>> {
        let size = std::mem::size_of::<T>();
        let end = len.checked_mul(size).and_then(|b| b.checked_add(off));
        if end.is_none_or(|e| e > map.len) {
            return Err(Error::Format(format!("offset {off}: an array of {len} values runs past the end of the file ({} bytes)", map.len)));
        }
        if (map.ptr as usize + off) % std::mem::align_of::<T>() != 0 {
            return Err(Error::Format(format!("offset {off}: array not aligned to {} bytes", std::mem::align_of::<T>())));
        }
        Ok(Buf::Mapped { map: map.clone(), off, len })
    }

    /// An owned copy of `len` values read from `bytes` at `off` (any alignment).
    pub fn copied(bytes: &[u8], off: usize, len: usize) -> Result<Buf<T>> {
        let size = std::mem::size_of::<T>();
        let end = len.checked_mul(size).and_then(|b| b.checked_add(off));
        if end.is_none_or(|e| e > bytes.len()) {
            return Err(Error::Format(format!(
                "offset {off}: an array of {len} values runs past the end of the data ({} bytes)",
                bytes.len()
            )));
        }
        let mut v: Vec<T> = Vec::with_capacity(len);
        // SAFETY: the source range was checked to hold `len * size` bytes; `T: Pod` accepts any
        // bytes; the destination has capacity for `len` values, which are all written before
        // `set_len`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(off), v.as_mut_ptr() as *mut u8, len * size);
            v.set_len(len);
        }
        Ok(Buf::Owned(v))
    }

    /// The owned vector (copying a mapped view first).
    pub fn to_mut(&mut self) -> &mut Vec<T> {
        if let Buf::Mapped { .. } = self {
            *self = Buf::Owned(self.deref().to_vec());
        }
        match self {
            Buf::Owned(v) => v,
            Buf::Mapped { .. } => unreachable!("converted above"),
        }
    }

    /// Whether the values are read from a mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(self, Buf::Mapped { .. })
    }
}

/// The raw bytes of a slice of plain data (for writing and checksums).
pub fn as_bytes<T: Pod>(v: &[T]) -> &[u8] {
    // SAFETY: `T: Pod` has no padding, so all `size_of_val(v)` bytes are initialised.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

impl<T: Pod> Deref for Buf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Buf::Owned(v) => v,
            // SAFETY: `mapped` checked that `len` values at `off` lie inside the mapping and are
            // aligned; the mapping lives as long as this view (it holds an `Arc`); `T: Pod`.
            Buf::Mapped { map, off, len } => unsafe { std::slice::from_raw_parts(map.ptr.add(*off) as *const T, *len) },
        }
    }
}

impl<T: Pod> DerefMut for Buf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.to_mut()
    }
}

impl<T: Pod> From<Vec<T>> for Buf<T> {
    fn from(v: Vec<T>) -> Self {
        Buf::Owned(v)
    }
}

impl<T: Pod> Default for Buf<T> {
    fn default() -> Self {
        Buf::Owned(Vec::new())
    }
}

impl<T: Pod> Clone for Buf<T> {
    fn clone(&self) -> Self {
        match self {
            Buf::Owned(v) => Buf::Owned(v.clone()),
            Buf::Mapped { map, off, len } => Buf::Mapped { map: map.clone(), off: *off, len: *len },
        }
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Buf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_mapped() { "mapped" } else { "owned" };
        write!(f, "Buf({kind}, {} values)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_copies_and_bounds() {
        let dir = std::env::temp_dir().join(format!("seqfast-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.bin");
        let vals: Vec<u32> = (0..100).collect();
        std::fs::write(&p, as_bytes(&vals)).unwrap();
        let m = Mapping::open(&p).unwrap();
        let b: Buf<u32> = Buf::mapped(&m, 8, 10).unwrap();
        assert_eq!(&b[..], &vals[2..12]);
        let mut c = b.clone();
        c[0] = 7; // copy on write
        assert_eq!((c[0], b[0], c.is_mapped(), b.is_mapped()), (7, 2, false, true));
        assert!(Buf::<u32>::mapped(&m, 4, 100).is_err());
        assert!(Buf::<u32>::mapped(&m, 2, 1).is_err());
        assert!(Buf::<u32>::mapped(&m, 0, usize::MAX / 2).is_err());
        let o: Buf<u32> = Buf::copied(m.bytes(), 1, 3).unwrap();
        assert_eq!(o.len(), 3);
        std::fs::write(&p, b"").unwrap();
        assert!(Mapping::open(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
