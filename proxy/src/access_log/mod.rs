//! Access logs: one line a request (and one an L4 session), in
//! ingress-nginx's default format or as JSON. A worker formats the line and hands it to a bounded queue; one
//! writer thread writes the queue to the file. When the writer falls
//! behind, lines are dropped and counted: a request never waits on log I/O.

mod custom_line;
mod entry;
mod escape;
mod json_line;
mod local_time;
mod nginx_line;
mod session;
mod writer;

pub use entry::{Entry, UpstreamTry};
pub use session::{Session, SessionEnd};
pub use writer::{Destination, Writer};

use arc_swap::ArcSwapOption;
use custom_line::CustomLine;
use std::str::FromStr;
use std::sync::Arc;

/// How a line is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ingress-nginx's default `log-format-upstream`, field for field.
    Nginx,
    /// One JSON object a line.
    Json,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nginx" => Ok(Format::Nginx),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown access-log format {other:?} (nginx or json)")),
        }
    }
}

/// Where request lines go, and how they are written.
pub struct AccessLog {
    format: Format,
    /// The controller ConfigMap's line, which replaces the nginx one.
    custom: ArcSwapOption<CustomLine>,
    writer: Writer,
}

impl AccessLog {
    pub fn new(format: Format, writer: Writer) -> Self {
        AccessLog { format, custom: ArcSwapOption::empty(), writer }
    }

    /// Follows the Snapshot's `log-format-upstream` (checked by the
    /// translator; one that still cannot be used keeps the last line).
    pub fn set_custom(&self, format: Option<&sluice_config::LogFormat>) {
        let current = self.custom.load();
        if current.as_ref().map(|c| &c.source) == format {
            return;
        }
        match format.map(CustomLine::new) {
            None => self.custom.store(None),
            Some(Ok(line)) => self.custom.store(Some(Arc::new(line))),
            Some(Err(e)) => tracing::warn!(error = %e, "log-format-upstream cannot be used; the last line is kept"),
        }
    }

    /// Formats `entry` and queues it; drops it (counted) when the queue is full.
    pub fn log(&self, entry: &Entry<'_>) {
        let mut line = Vec::with_capacity(512);
        match (self.format, &*self.custom.load()) {
            (Format::Nginx, Some(custom)) => custom.write(&mut line, entry),
            (Format::Nginx, None) => nginx_line::write(&mut line, entry),
            (Format::Json, _) => json_line::write(&mut line, entry),
        }
        line.push(b'\n');
        self.writer.queue(line);
    }

    /// The same for an L4 session that ended.
    pub fn log_session(&self, session: &Session<'_>) {
        let mut line = Vec::with_capacity(256);
        match self.format {
            Format::Nginx => nginx_line::write_session(&mut line, session),
            Format::Json => json_line::write_session(&mut line, session),
        }
        line.push(b'\n');
        self.writer.queue(line);
    }
}
