//! What operators watch the server through: the metrics listener (Prometheus, readiness and
//! liveness), the status page, slow-request reports, the metrics the application may read, and
//! which requests do not count as activity. The command line ([`OperationsArgs`]) and Apache
//! files (`OxwsgiMetricsListen`, `SetHandler server-status`, `WSGIServerMetrics`) both make an
//! [`Operations`].

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// How the server is watched; nothing is on by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operations {
    /// Where `/metrics` (Prometheus text format), `/ready` and `/live` are served: a listener
    /// of the supervisor's, apart from the application's.
    pub metrics: Option<MetricsListener>,
    /// The URL path of the status page (`/server-status`), when there is one.
    pub server_status: Option<String>,
    /// Whether `mod_wsgi.server_metrics()` answers (else it returns `None`, as in mod_wsgi).
    pub server_metrics: bool,
    /// Requests still running after this long are logged with their Python stack.
    pub slow_requests: Option<Duration>,
    /// URL paths (and what is below them) whose requests do not count as activity for the
    /// inactivity timeout: health checks.
    pub ignore_activity: Vec<String>,
    /// How long the server keeps serving after SIGTERM with `/ready` answering 503, before
    /// its workers stop accepting: time for a load balancer polling `/ready` to stop sending.
    #[serde(default)]
    pub drain_delay: Duration,
}

impl Operations {
    /// Whether a request for `path` counts as activity.
    pub fn counts_as_activity(&self, path: &str) -> bool {
        !self.ignore_activity.iter().any(|prefix| {
            path.strip_prefix(prefix.trim_end_matches('/'))
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

/// The metrics listener's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsListener {
    /// The interface; every interface when `None`.
    pub host: Option<String>,
    /// The TCP port (0: a free one, shown in the banner).
    pub port: u16,
}

/// The command line's options for [`Operations`].
#[derive(Debug, Clone, Default, Args)]
pub struct OperationsArgs {
    /// Serve Prometheus metrics at /metrics, a readiness check at /ready (503 from the moment
    /// a graceful stop begins) and a liveness check at /live on this port, a listener of its
    /// own (the supervisor's), counted across every worker process of every group [default:
    /// none].
    #[arg(long, value_name = "NUMBER", help_heading = "Operations")]
    pub metrics_port: Option<u16>,

    /// The interface the metrics listener binds [default: that of --host].
    #[arg(
        long,
        value_name = "IP-ADDRESS",
        requires = "metrics_port",
        help_heading = "Operations"
    )]
    pub metrics_host: Option<String>,

    /// Serve a status page at /server-status (HTML; ?auto for key: value lines) showing every
    /// worker and what each of its Python threads runs. Only clients on this machine may see
    /// it (behind a trusted proxy, the client the proxy names must be on this machine too); an
    /// --include-file with a <Location /server-status> section says otherwise.
    #[arg(long, help_heading = "Operations")]
    pub server_status: bool,

    /// Let the application read the server's figures with mod_wsgi.server_metrics() (it
    /// returns None otherwise); mod_wsgi.process_metrics() always answers.
    #[arg(long, help_heading = "Operations")]
    pub server_metrics: bool,

    /// Log each request still running after this many seconds, with its thread's Python
    /// stack, once (nothing is stopped; --request-timeout does that) [default: off].
    #[arg(long, value_name = "SECONDS", help_heading = "Operations")]
    pub slow_requests: Option<f64>,

    /// A URL path whose requests do not count as activity for --inactivity-timeout (health
    /// checks); may be given more than once [default: none].
    #[arg(long, value_name = "URL-PATH", help_heading = "Operations")]
    pub ignore_activity: Vec<String>,

    /// After SIGTERM, keep serving this many seconds with /ready answering 503 before the
    /// workers stop accepting and drain, so a load balancer polling /ready stops sending first
    /// (a second SIGTERM drains at once). Give it the load balancer's check interval times its
    /// failure threshold; 0 drains at once.
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        help_heading = "Operations"
    )]
    pub drain_delay: u64,
}

impl OperationsArgs {
    /// The [`Operations`] these options make; `host` is --host's value.
    pub fn resolve(&self, host: Option<&String>) -> Result<Operations, ConfigError> {
        let slow_requests = match self.slow_requests {
            None => None,
            Some(seconds) if seconds.is_finite() && seconds > 0.0 => {
                Some(Duration::from_secs_f64(seconds))
            }
            Some(seconds) => {
                return Err(ConfigError::Invalid {
                    option: "--slow-requests",
                    value: seconds.to_string(),
                    reason: "give a number of seconds above 0",
                });
            }
        };
        for path in &self.ignore_activity {
            if !path.starts_with('/') {
                return Err(ConfigError::Invalid {
                    option: "--ignore-activity",
                    value: path.clone(),
                    reason: "give a URL path, starting with /",
                });
            }
        }
        Ok(Operations {
            metrics: self.metrics_port.map(|port| MetricsListener {
                host: self.metrics_host.clone().or_else(|| host.cloned()),
                port,
            }),
            server_status: self.server_status.then(|| "/server-status".to_owned()),
            server_metrics: self.server_metrics,
            slow_requests,
            ignore_activity: self.ignore_activity.clone(),
            drain_delay: Duration::from_secs(self.drain_delay),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_checks_below_an_ignored_path_are_not_activity() {
        let operations = Operations {
            ignore_activity: vec!["/health/".into()],
            ..Operations::default()
        };
        assert!(!operations.counts_as_activity("/health"));
        assert!(!operations.counts_as_activity("/health/db"));
        assert!(operations.counts_as_activity("/healthy"));
        assert!(operations.counts_as_activity("/"));
    }

    #[test]
    fn slow_requests_must_be_positive() {
        let args = OperationsArgs {
            slow_requests: Some(0.0),
            ..OperationsArgs::default()
        };
        assert!(args.resolve(None).is_err());
        let args = OperationsArgs {
            slow_requests: Some(0.5),
            metrics_port: Some(9100),
            ..OperationsArgs::default()
        };
        let operations = args.resolve(Some(&"127.0.0.1".to_owned())).unwrap();
        assert_eq!(operations.slow_requests, Some(Duration::from_millis(500)));
        assert_eq!(
            operations.metrics.unwrap().host.as_deref(),
            Some("127.0.0.1")
        );
    }
}
