//! The access log's own file (`SOCKGATE_ACCESS_LOG_FILE`): access lines
//! (target `sockgate::access`) are appended there instead of to stderr, and
//! SIGUSR1 reopens it, so logrotate can move it away and have the next line
//! start a new file. Every other line stays on stderr.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::EitherWriter;

/// The access lines' target.
const TARGET: &str = "sockgate::access";

/// The open access log file, for SIGUSR1 to reopen.
static FILE: OnceLock<Reopen> = OnceLock::new();

struct Reopen {
    path: PathBuf,
    file: Mutex<File>,
}

fn open(path: &PathBuf) -> io::Result<File> {
    File::options().create(true).append(true).open(path)
}

/// Opens `path` as the access log file (once per process).
pub(super) fn install(path: PathBuf) -> Result<(), String> {
    let file = open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let _ = FILE.set(Reopen {
        path,
        file: Mutex::new(file),
    });
    Ok(())
}

/// Whether access lines go to a file.
pub(super) fn installed() -> bool {
    FILE.get().is_some()
}

/// Opens the access log file again at its path (SIGUSR1); nothing without
/// one. A failure keeps the file that was open.
pub fn reopen() -> io::Result<bool> {
    let Some(r) = FILE.get() else {
        return Ok(false);
    };
    let fresh = open(&r.path)?;
    *lock(&r.file) = fresh;
    Ok(true)
}

fn lock(file: &Mutex<File>) -> MutexGuard<'_, File> {
    file.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes one access line made from an `access_log_format`, as it is: to
/// the access log file when there is one, else to stdout (the other logs
/// are on stderr), each line one write.
pub(super) fn write_line(line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    // A full disk or a closed stdout loses the line, never the request.
    let _ = match FILE.get() {
        Some(r) => lock(&r.file).write_all(&bytes),
        None => io::stdout().lock().write_all(&bytes),
    };
}

/// Where each line goes: access lines to the file when there is one, the
/// rest (and all of them without one) to stderr.
pub(super) struct Writers;

/// One line written to the access log file; the lock makes each line one
/// write, whole, between reopens.
pub(super) struct FileLine<'a>(MutexGuard<'a, File>);

impl Write for FileLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a> MakeWriter<'a> for Writers {
    type Writer = EitherWriter<io::Stderr, FileLine<'a>>;

    fn make_writer(&'a self) -> Self::Writer {
        EitherWriter::A(io::stderr())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        match FILE.get() {
            Some(r) if meta.target() == TARGET => EitherWriter::B(FileLine(lock(&r.file))),
            _ => EitherWriter::A(io::stderr()),
        }
    }
}
