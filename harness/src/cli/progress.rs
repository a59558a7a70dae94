//! How far a long command is, on stderr.

use std::sync::Mutex;
use std::time::Instant;

/// How far a long command is, on stderr (stdout stays the report): a bar on a terminal, and
/// otherwise plain lines (one per item, or at most one every `every`, and the last), so that a
/// long run in a CI log is never silent.
pub struct Progress {
    bar: indicatif::ProgressBar,
    plain: Option<Mutex<(Instant, usize)>>,
    what: &'static str,
    total: usize,
    /// Plain lines at most every this long (zero: one per item).
    every: std::time::Duration,
}
impl Progress {
    pub fn new(total: usize, what: &'static str, every: std::time::Duration) -> Self {
        use std::io::IsTerminal;
        // Drawn to stderr only when it is a terminal and no plain output is asked for (a VM's
        // serial console is a terminal even when vm/run writes to a file); hidden otherwise.
        let terminal = std::io::stderr().is_terminal()
            && std::env::var_os("NETCONFORM_PLAIN").is_none_or(|v| v != "1");
        let bar = if terminal {
            indicatif::ProgressBar::new(total as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(what);
        let plain = (!terminal).then(|| Mutex::new((Instant::now(), 0)));
        Progress {
            bar,
            plain,
            what,
            total,
            every,
        }
    }

    /// One more item is done; `label` names it.
    pub fn done(&self, label: &str) {
        self.bar.inc(1);
        self.bar.set_message(label.to_string());
        if let Some(p) = &self.plain {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            p.1 += 1;
            if p.1 == self.total || p.0.elapsed() >= self.every {
                p.0 = Instant::now();
                eprintln!("{}: {}/{} done ({label})", self.what, p.1, self.total);
            }
        }
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
