//! Standard output that survives its reader going away: `cloud list | head -1` closes the pipe
//! after one line, and Rust's `println!` would then panic (exit 101) on the next write. Here a
//! broken pipe ends output quietly — later writes are dropped — and the command finishes its work
//! and exits with its own code. (Restoring SIGPIPE's default would kill the process mid-apply
//! instead, and the engine child writes through pipes too.)

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout's reader has gone away.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// A handle on the process's stdout that treats a broken pipe as "nobody is reading".
#[derive(Debug, Clone, Copy, Default)]
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if CLOSED.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        match io::stdout().lock().write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                CLOSED.store(true, Ordering::Relaxed);
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if CLOSED.load(Ordering::Relaxed) {
            return Ok(());
        }
        match io::stdout().lock().flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                CLOSED.store(true, Ordering::Relaxed);
                Ok(())
            }
            other => other,
        }
    }
}

/// Write formatted text to [`Stdout`]; any other write error is dropped too (there is no one
/// to tell: the output channel itself failed).
pub fn write_fmt(args: std::fmt::Arguments<'_>) {
    let _ = Stdout.write_fmt(args);
}

/// Write to stderr, ignoring a closed stderr (`2>&-`).
pub fn ewrite_fmt(args: std::fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// `println!` for command output: quiet on a broken pipe.
#[macro_export]
macro_rules! outln {
    () => { $crate::cli::output::write_fmt(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` for command output: quiet on a broken pipe.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_fmt(format_args!($($arg)*)) };
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::output::ewrite_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}
