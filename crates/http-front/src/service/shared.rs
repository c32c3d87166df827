//! What the requests of a server, of one of its virtual hosts and of one connection share,
//! and which virtual host a request goes to.
//!
//! Built once (per server, per host, per connection), before any request is handled; kept
//! apart from the handling itself so that the flow in [`super`] reads as what happens to a
//! request, not how its surroundings were set up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use http::{Request, header};

use crate::FrontSettings;
use crate::access_log::AccessLog;
use crate::client_name::ClientName;
use crate::conn::ConnActivity;
use crate::error_response::{APP_ERRORS, Refusal};
use crate::request_id::RequestIds;
use crate::router::{Mounted, Router};
use crate::static_files::StaticFiles;
use oxwsgi_config::redirect::{ErrorBody, ErrorDocument};
use oxwsgi_config::{MountPoint, ScriptPattern, StaticTarget};

/// What every connection of a server shares.
pub(crate) struct ServerShared<A> {
    pub(crate) app: Arc<A>,
    pub(crate) settings: FrontSettings,
    /// The virtual hosts, in the configuration's order (a listener's first is its default).
    pub(crate) hosts: Vec<HostShared>,
    pub(crate) compress_responses: bool,
    pub(crate) ids: RequestIds,
    pub(crate) connection_slots: Arc<tokio::sync::Semaphore>,
    /// Set when the server drains: every response then closes its connection.
    pub(crate) draining: std::sync::atomic::AtomicBool,
    /// When this worker started serving (the status page's uptime).
    pub(crate) started: std::time::Instant,
    /// The reverse proxy, when sub-URLs or hosts are passed on to other servers.
    pub(crate) proxy: Option<crate::proxy_pass::ProxyPass>,
}

/// One virtual host, ready to serve.
pub(crate) struct HostShared {
    host: oxwsgi_config::VirtualHost,
    pub(super) router: Router,
    pub(super) redirects: crate::redirect::Redirects,
    pub(super) static_files: StaticFiles,
    pub(super) access_log: Option<Arc<AccessLog>>,
    pub(super) access: oxwsgi_config::access::AccessRules,
    /// The password and group files its access rules name, as last read.
    pub(super) auth: crate::auth::Authenticator,
    pub(super) header_edits: oxwsgi_config::headers::HeaderEdits,
    pub(super) error_documents: Vec<ErrorDocument>,
    /// Whether an `ErrorDocument` for a status an application's failure gives names a local
    /// path: a request the application takes is then kept (copied) until it is answered, for
    /// the document's internal request should the application fail.
    pub(super) keeps_app_requests: bool,
    /// The applications (by index) whose error responses the server's replace
    /// (`WSGIErrorOverride`).
    pub(super) error_override_apps: Vec<usize>,
    /// Extensions whose files under the document root an application answers for.
    pub(super) handlers: super::handler_script::Handlers,
    pub(super) index_scripts: Vec<(String, String)>,
    pub(super) client_certificates: crate::tls::ClientCertificates,
    /// The headers a proxy in front is trusted for, when there are some.
    pub(super) trusted_proxies: Option<oxwsgi_config::proxy::TrustedProxies>,
}

impl HostShared {
    pub(crate) fn new(settings: &crate::HostSettings, auth_secret: &[u8]) -> HostShared {
        let space = &settings.url_space;
        let mut mounts: Vec<(MountPoint, Mounted)> = space
            .apps
            .iter()
            .map(|(mount, index)| (mount.clone(), Mounted::App(*index)))
            .collect();
        mounts.extend(
            space
                .aliases
                .iter()
                .enumerate()
                .map(|(index, (mount, _))| (mount.clone(), Mounted::Alias(index))),
        );
        // The `AliasMatch` directories come after the prefix aliases, in the same numbering.
        let pattern_roots: Vec<StaticTarget> = space
            .alias_patterns
            .iter()
            .map(|(_, root)| StaticTarget::Directory(root.clone()))
            .collect();
        let aliases: Vec<&StaticTarget> = space
            .aliases
            .iter()
            .map(|(_, target)| target)
            .chain(&pattern_roots)
            .collect();
        let alias_patterns: Vec<(ScriptPattern, PathBuf, usize)> = space
            .alias_patterns
            .iter()
            .enumerate()
            .map(|(i, (pattern, root))| (pattern.clone(), root.clone(), space.aliases.len() + i))
            .collect();
        let static_files = StaticFiles::new(&space.static_files, &space.document_root, &aliases);
        static_files.spawn_refresher();
        HostShared {
            host: settings.host.clone(),
            router: Router::new(mounts)
                .with_patterns(&space.app_patterns)
                .with_alias_patterns(&alias_patterns),
            redirects: crate::redirect::Redirects::new(&space.redirects),
            static_files,
            access_log: settings.access_log.clone(),
            access: space.access.clone(),
            auth: crate::auth::Authenticator::new(&space.access, auth_secret),
            header_edits: space.header_edits.clone(),
            error_documents: space.error_documents.clone(),
            keeps_app_requests: space.error_documents.iter().any(|document| {
                matches!(document.body, ErrorBody::Local(_))
                    && (!space.error_override_apps.is_empty()
                        || APP_ERRORS
                            .iter()
                            .any(|e| Refusal::from_app(*e, 0).status().as_u16() == document.status))
            }),
            error_override_apps: space.error_override_apps.clone(),
            handlers: super::handler_script::Handlers::new(&space.document_root, &space.handlers),
            index_scripts: space.index_scripts.clone(),
            client_certificates: crate::tls::ClientCertificates::new(&space.client_certificates),
            trusted_proxies: Some(settings.host.trusted_proxies.clone())
                .filter(|trusted| !trusted.is_empty()),
        }
    }
}

impl<A> ServerShared<A> {
    /// The virtual host a request on `listener` goes to: the first of the listener's hosts
    /// whose names include the request's host (its target's, else its `Host`), else the
    /// listener's first host, as in httpd.
    pub(super) fn host_for<B>(&self, listener: usize, request: &Request<B>) -> &HostShared {
        if let [only] = self.hosts.as_slice() {
            return only;
        }
        let name = request
            .uri()
            .host()
            .or_else(|| {
                request
                    .headers()
                    .get(header::HOST)
                    .and_then(|value| value.to_str().ok())
                    .map(without_port)
            })
            .map(|name| name.trim_end_matches('.'));
        let mut default = None;
        for host in self.hosts.iter() {
            if !host.host.listeners.contains(&listener) {
                continue;
            }
            if name.is_some_and(|name| host.host.answers_to(name)) {
                return host;
            }
            default.get_or_insert(host);
        }
        default.unwrap_or(&self.hosts[0])
    }
}

/// A `Host` value without its port (`example.org:8080`, `[::1]:8080`).
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// What one connection's requests share.
pub(crate) struct ConnShared<A> {
    pub(crate) server: Arc<ServerShared<A>>,
    pub(crate) activity: Option<Arc<ConnActivity>>,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) listener: usize,
    /// The client's host name, looked up the first time a request's access rule needs it.
    pub(crate) client_name: Arc<ClientName>,
    /// What its TLS says, when it speaks TLS.
    pub(crate) tls: Option<Arc<oxwsgi_exchange::TlsDetails>>,
}

impl<A> Clone for ConnShared<A> {
    fn clone(&self) -> Self {
        ConnShared {
            server: Arc::clone(&self.server),
            activity: self.activity.clone(),
            remote: self.remote,
            local: self.local,
            listener: self.listener,
            client_name: Arc::clone(&self.client_name),
            tls: self.tls.clone(),
        }
    }
}
