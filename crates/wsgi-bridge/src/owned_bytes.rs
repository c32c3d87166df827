//! `Bytes` views of Python `bytes` objects, so large response bodies are not copied.
//!
//! A `bytes` object is immutable and its buffer lives as long as the object, so a `Bytes` that
//! holds a strong reference can point straight into that buffer. Small bodies are copied instead:
//! for them a memcpy is cheaper than keeping a Python object alive across threads, whose release
//! has to wait for a thread that holds the GIL.

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Bodies at least this long are shared with Python rather than copied.
const SHARE_THRESHOLD: usize = 64 * 1024;

/// The contents of a Python `bytes` object as `Bytes`.
pub(crate) fn bytes_of(object: &Bound<'_, PyBytes>) -> Bytes {
    let data = object.as_bytes();
    if data.len() < SHARE_THRESHOLD {
        return Bytes::copy_from_slice(data);
    }
    Bytes::from_owner(SharedPyBytes {
        data: data.as_ptr(),
        len: data.len(),
        _object: object.clone().unbind(),
    })
}

/// A strong reference to a `bytes` object, and its buffer.
struct SharedPyBytes {
    data: *const u8,
    len: usize,
    /// Keeps the buffer alive. Dropping it without the GIL is deferred by PyO3 until a Python
    /// thread next re-attaches.
    _object: Py<PyBytes>,
}

// SAFETY: the pointer refers to the immutable buffer of the `bytes` object that `_object` keeps
// alive; nothing can write to it, and reading it needs no GIL, so the value may move to and be
// read from any thread.
#[allow(unsafe_code)]
unsafe impl Send for SharedPyBytes {}

impl AsRef<[u8]> for SharedPyBytes {
    #[allow(unsafe_code)]
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `data` and `len` were taken from `as_bytes()` of the object `_object` holds;
        // the buffer is immutable and outlives `self`.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}
