//! What a long run shows while it works: a spinner with the elapsed time, and
//! result lines above it (plain lines on stderr without a terminal).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A result line above the spinner (or on stderr without a terminal).
pub fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

pub fn bar() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
