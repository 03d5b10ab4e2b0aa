//! The terminal as `axon top` borrows it, and gives it back as it found it:
//! raw mode off, the alternate screen left, the cursor shown; on a normal
//! exit (the guard drops), on a panic (the hook), on SIGINT or SIGTERM (a
//! flag the UI loop reads, so the guard drops as on `q`), and on SIGHUP.
//!
//! SIGHUP usually means the terminal is gone, and crossterm's reader then
//! spins on it without returning: the handler gives back what it can with
//! async-signal-safe calls (the saved terminal modes, the escape sequences)
//! and ends the process at once.
//!
//! While the screen is ours, stderr goes to /dev/null: a log line written
//! there would tear the picture. It comes back with the terminal, before a
//! panic's message or the command's error is printed.

use std::io::{stdout, Stdout};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::Terminal;

/// The real stderr while it points at /dev/null; -1 when it is in place.
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);

/// The terminal's modes before raw mode, for the SIGHUP handler.
static SAVED_MODES: OnceLock<libc::termios> = OnceLock::new();

extern "C" fn on_hangup(_: libc::c_int) {
    const LEAVE: &[u8] = b"\x1b[?1049l\x1b[?25h";
    // SAFETY: tcsetattr, write and _exit are async-signal-safe; the modes were set before
    // this handler was installed and never change after.
    unsafe {
        if let Some(modes) = SAVED_MODES.get() {
            libc::tcsetattr(0, libc::TCSANOW, modes);
        }
        libc::write(1, LEAVE.as_ptr().cast(), LEAVE.len());
        libc::_exit(128 + libc::SIGHUP);
    }
}

/// Whether a signal asked `axon top` to end.
pub fn stop_requested() -> bool {
    crate::signals::stop_signal().is_some()
}

/// The terminal while `axon top` runs; dropping it gives the terminal back.
pub struct Screen {
    /// Where the frames are drawn.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Takes the terminal: signals caught, panic hook set, raw mode, alternate screen, no cursor.
    pub fn take() -> Result<Screen> {
        save_modes();
        crate::signals::catch_stop_signals();
        // SAFETY: the handler makes only async-signal-safe calls.
        unsafe {
            libc::signal(libc::SIGHUP, on_hangup as *const () as libc::sighandler_t);
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            give_back();
            previous(info);
        }));
        terminal::enable_raw_mode().context("the terminal has no raw mode (is it a terminal?)")?;
        let taken = execute!(stdout(), terminal::EnterAlternateScreen, cursor::Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(stdout())));
        match taken {
            Ok(terminal) => {
                silence_stderr();
                Ok(Screen { terminal })
            }
            Err(e) => {
                give_back();
                Err(e).context("setting up the terminal")
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        give_back();
    }
}

/// Gives the terminal back as it was; harmless to do twice.
fn give_back() {
    restore_stderr();
    // Best effort: nothing better can be done with a terminal that refuses.
    let _ = terminal::disable_raw_mode();
    let _ = execute!(stdout(), terminal::LeaveAlternateScreen, cursor::Show);
}

/// Keeps the modes of the terminal on stdin, before raw mode changes them.
fn save_modes() {
    // SAFETY: tcgetattr fills the zeroed struct it is given, or fails and it is dropped.
    unsafe {
        let mut modes: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut modes) == 0 {
            let _ = SAVED_MODES.set(modes);
        }
    }
}

/// Points stderr at /dev/null, keeping the real one.
fn silence_stderr() {
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    // SAFETY: dup and dup2 on descriptors this process owns; 2 stays open throughout.
    unsafe {
        let saved = libc::dup(2);
        if saved >= 0 && libc::dup2(null.as_raw_fd(), 2) >= 0 {
            SAVED_STDERR.store(saved, Ordering::SeqCst);
        } else if saved >= 0 {
            libc::close(saved);
        }
    }
}

/// Puts the real stderr back, if it was moved.
fn restore_stderr() {
    let saved = SAVED_STDERR.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` is the descriptor `silence_stderr` duplicated; closed once (the swap).
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
    }
}
