//! `wsgi.file_wrapper`: lets an application return a file that the server sends itself.
//!
//! When the wrapped object is a plain binary file open for reading on a regular file (see
//! [`FileWrapper::file_region`]), the server duplicates the descriptor and sends the bytes from
//! Rust, with no Python involved and the GIL free. Anything else is iterated in `blksize`
//! blocks, as PEP 3333 describes.
//!
//! Taking ownership of a duplicated descriptor is the one `unsafe` operation here; see
//! [`duplicate_descriptor`].

use std::fs::File;
use std::os::fd::{BorrowedFd, OwnedFd};

use oxwsgi_exchange::FileRegion;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The `wsgi.file_wrapper` type.
#[pyclass(module = "oxwsgi", name = "FileWrapper", frozen)]
pub(crate) struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize = 8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    #[getter]
    fn filelike(&self, py: Python<'_>) -> Py<PyAny> {
        self.filelike.clone_ref(py)
    }

    #[getter]
    fn blksize(&self) -> usize {
        self.blksize
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1(pyo3::intern!(py, "read"), (self.blksize,))?;
        Ok((data.len()? > 0).then_some(data))
    }

    /// Closes the wrapped object, if it can be closed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let filelike = self.filelike.bind(py);
        if filelike.hasattr(pyo3::intern!(py, "close"))? {
            filelike.call_method0(pyo3::intern!(py, "close"))?;
        }
        Ok(())
    }
}

static FILE_IO: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static BUFFERED_READER: PyOnceLock<Py<PyType>> = PyOnceLock::new();

impl FileWrapper {
    /// The file behind this wrapper from its current position to the end, when the server can
    /// send it itself; `None` means "iterate it instead".
    ///
    /// Only a readable binary file of the standard kinds qualifies — exactly `io.FileIO`, or
    /// exactly `io.BufferedReader` over one — on a regular file, with its position from
    /// `tell()`. For any other object with a `fileno()` the descriptor's bytes are not what
    /// `read()` returns: `gzip.open()` decompresses, a text file decodes, a subclass may
    /// transform, an object without `tell()` may have been read from already, a write-only file
    /// cannot be read at all. Those are iterated with `read(blksize)`, as PEP 3333 requires.
    pub(crate) fn file_region(&self, py: Python<'_>) -> Option<FileRegion> {
        let filelike = self.filelike.bind(py);
        if !is_plain_binary_reader(py, filelike).unwrap_or(false) {
            return None;
        }
        let fd: i32 = filelike
            .call_method0(pyo3::intern!(py, "fileno"))
            .ok()?
            .extract()
            .ok()?;
        // Whatever Python has buffered but not yet handed out would be skipped by reading the
        // descriptor directly, so the position comes from the file object, not the descriptor.
        let offset: u64 = filelike
            .call_method0(pyo3::intern!(py, "tell"))
            .ok()?
            .extract()
            .ok()?;
        let file = duplicate_descriptor(fd)?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() {
            return None;
        }
        let len = metadata.len().saturating_sub(offset);
        Some(FileRegion {
            file,
            offset,
            len,
            done: None,
        })
    }
}

/// Whether `filelike` is exactly an `io.FileIO` open for reading, or exactly an
/// `io.BufferedReader` over one.
fn is_plain_binary_reader(py: Python<'_>, filelike: &Bound<'_, PyAny>) -> PyResult<bool> {
    let file_io = FILE_IO.import(py, "io", "FileIO")?;
    let buffered_reader = BUFFERED_READER.import(py, "io", "BufferedReader")?;
    let raw = if filelike.get_type().is(buffered_reader) {
        filelike.getattr(pyo3::intern!(py, "raw"))?
    } else {
        filelike.clone()
    };
    if !raw.get_type().is(file_io) {
        return Ok(false);
    }
    raw.call_method0(pyo3::intern!(py, "readable"))?.is_truthy()
}

/// Duplicates `fd` into a descriptor owned by the server, so it stays valid after the application
/// closes its file.
#[allow(unsafe_code)]
fn duplicate_descriptor(fd: i32) -> Option<File> {
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just returned by `fileno()` of a file object that the caller holds a
    // reference to, with the GIL held, so no other thread can close it before the duplicate is
    // made: the borrow does not outlive this statement.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let owned: OwnedFd = borrowed.try_clone_to_owned().ok()?;
    Some(File::from(owned))
}
