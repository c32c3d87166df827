//! Several virtual hosts and their listeners: each `<VirtualHost>` translated as a site of
//! its own, then merged into one configuration, and each listener given to the group that
//! accepts on it (the one group its applications run in, or a front tier).
//!
//! Separate because it works on finished [`ServerConfig`]s, after the directives of each
//! site are read and assembled.

use super::{StartOptions, Translator};
use crate::apache::check::Report;
use crate::apache::{Origin, Section};
use crate::model::{GroupRole, Lifecycle, ListenerConfig, MountTarget, ProcessGroup, ServerConfig};

impl Translator<'_> {
    /// The main server, or its `<VirtualHost>`s, as one configuration: each virtual host a
    /// [`VirtualHost`](crate::model::VirtualHost) with its names, listeners and logs, what it
    /// mounts, its rules, its document root and static-file settings tagged with it, its
    /// process groups merged with the others' (a `WSGIDaemonProcess` at server level may
    /// serve several). What the model keeps once for the server (limits, timeouts) must be
    /// the same in all. Then each
    /// listener goes to the one group whose applications it serves, or to a front tier
    /// ([`Self::route_listeners`]).
    pub(super) fn sites(
        &mut self,
        virtual_hosts: &[&Section],
        report: &Report,
        options: &StartOptions,
    ) -> Option<ServerConfig> {
        if virtual_hosts.len() <= 1 {
            // The main server's scripts are the one virtual host's too, as httpd merges them.
            if let Some(vhost) = virtual_hosts.first() {
                self.site.proxies.inherit();
                self.apply(vhost);
            }
            let user = self.front_user();
            let mut one = self.finish(report, options)?;
            if let Some(vhost) = virtual_hosts.first() {
                // `SSLEngine on` in the virtual host is for its own addresses only.
                let own = self.vhost_listeners(vhost, &one.listeners);
                for (index, listener) in one.listeners.iter_mut().enumerate() {
                    if !own.contains(&index) {
                        listener.tls = None;
                        listener.http2 = false;
                    }
                }
            }
            for group in &mut one.groups {
                group.logging = None;
            }
            one.hosts[0].logging = None;
            self.route_listeners(&mut one, user)?;
            return Some(one);
        }
        if let Some(script) = report
            .scripts
            .iter()
            .find(|s| s.virtual_host_origin.is_none())
        {
            self.not_yet(
                &script.origin,
                "a WSGIScriptAlias outside the <VirtualHost>s when there are several",
            );
            return None;
        }
        let base = std::mem::take(&mut self.site);
        self.site = base.clone();
        let user = self.front_user();
        // One server root for all of them (each would otherwise derive its own, and with it
        // its own default document root, from its ServerName).
        let options = &StartOptions {
            server_root: Some(
                options
                    .server_root
                    .clone()
                    .unwrap_or_else(|| self.default_server_root(&base)),
            ),
            ..options.clone()
        };
        let mut merged: Option<ServerConfig> = None;
        for vhost in virtual_hosts {
            self.site = base.clone();
            self.site.proxies.inherit();
            self.apply(vhost);
            let scripts = report
                .scripts
                .iter()
                .filter(|s| s.virtual_host_origin.as_ref() == Some(&vhost.origin))
                .cloned()
                .collect();
            let one_host = Report {
                scripts,
                daemons: report.daemons.clone(),
                ..Report::default()
            };
            let Some(mut one) = self.finish(&one_host, options) else {
                continue;
            };
            one.hosts[0].listeners = self.vhost_listeners(vhost, &one.listeners);
            // Its TLS is for its own addresses only.
            for (index, listener) in one.listeners.iter_mut().enumerate() {
                if !one.hosts[0].listeners.contains(&index) {
                    listener.tls = None;
                    listener.http2 = false;
                }
            }
            match &mut merged {
                None => {
                    tag_host(&mut one, 0);
                    merged = Some(one);
                }
                Some(all) => {
                    if one.http != all.http {
                        self.not_yet(
                            &vhost.origin,
                            "<VirtualHost>s with different limits or timeouts",
                        );
                        return None;
                    }
                    for index in one.hosts[0].listeners.clone() {
                        let taken = all.hosts.iter().any(|h| h.listeners.contains(&index));
                        let listener = &all.listeners[index];
                        let address = format!(
                            "{}:{}",
                            listener.host.as_deref().unwrap_or("*"),
                            listener.port
                        );
                        let tls = self.merge_listener_tls(
                            listener.tls.as_ref(),
                            taken,
                            one.listeners[index].tls.as_ref(),
                            &vhost.origin,
                            &address,
                        )?;
                        all.listeners[index].tls = tls;
                        // HTTP/2 on an address if one of its virtual hosts asks for it.
                        all.listeners[index].http2 |= one.listeners[index].http2;
                    }
                    self.merge_host(all, one, &vhost.origin)?;
                }
            }
        }
        let mut merged = merged?;
        if let Some(index) = (0..merged.listeners.len())
            .find(|l| !merged.hosts.iter().any(|h| h.listeners.contains(l)))
        {
            let listen = &merged.listeners[index];
            let address = format!("{}:{}", listen.host.as_deref().unwrap_or("*"), listen.port);
            let origin = virtual_hosts[0].origin.clone();
            self.not_yet(
                &origin,
                &format!("Listen {address}, which none of the <VirtualHost>s serves,"),
            );
            return None;
        }
        merged
            .mounts
            .sort_by_key(|mount| std::cmp::Reverse(mount.prefix.as_str().len()));
        // The supervisor's own messages go to the main server's log.
        merged.logging = self.logging(&base, options, &merged.server_root);
        self.route_listeners(&mut merged, user)?;
        Some(merged)
    }

    /// Adds virtual host `one` (a configuration of its own, already tagged with nothing) to
    /// `all`: its groups are merged with those of the same name and application group, which
    /// must then have the same settings.
    fn merge_host(
        &mut self,
        all: &mut ServerConfig,
        mut one: ServerConfig,
        origin: &Origin,
    ) -> Option<()> {
        let host = all.hosts.len();
        tag_host(&mut one, host);
        let mut group_index = Vec::new();
        for group in one.groups {
            let same = all.groups.iter().position(|g| {
                g.name == group.name && g.application_group == group.application_group
            });
            match same {
                Some(index) => {
                    let mut existing = all.groups[index].clone();
                    existing.logging = group.logging.clone();
                    if existing != group {
                        self.not_yet(
                            origin,
                            &format!(
                                "the process group '{}' in two <VirtualHost>s that give it \
                                 different settings (a user, a Python, WSGIPassAuthorization)",
                                group.name
                            ),
                        );
                        return None;
                    }
                    // Its error log is the server's once it serves several hosts.
                    all.groups[index].logging = None;
                    group_index.push(index);
                }
                None => {
                    group_index.push(all.groups.len());
                    all.groups.push(group);
                }
            }
        }
        for mut mount in one.mounts {
            if let MountTarget::Wsgi(app) = &mut mount.target {
                app.group = group_index[app.group];
            }
            all.mounts.push(mount);
        }
        all.hosts.extend(one.hosts);
        all.access.extend(one.access);
        all.header_edits.request.extend(one.header_edits.request);
        all.header_edits.response.extend(one.header_edits.response);
        all.redirects.extend(one.redirects);
        all.error_documents.extend(one.error_documents);
        all.index_scripts.extend(one.index_scripts);
        all.client_certificates.extend(one.client_certificates);
        Some(())
    }

    /// Decides who accepts on each listener: the one group whose applications its virtual
    /// hosts mount (no hop), or, where they mount those of several, the front tier, which
    /// forwards to the groups' internal sockets. A listener whose hosts mount no application
    /// goes to a group without applications (static files only). Groups left with nothing to
    /// serve are dropped.
    fn route_listeners(&mut self, config: &mut ServerConfig, user: FrontUser) -> Option<()> {
        let mut front_listeners = Vec::new();
        let mut forwarded = vec![false; config.groups.len()];
        for listener in 0..config.listeners.len() {
            let hosts: Vec<usize> = (0..config.hosts.len())
                .filter(|h| config.hosts[*h].listeners.contains(&listener))
                .collect();
            let mut groups: Vec<usize> = config
                .mounts
                .iter()
                .filter(|m| m.host.is_none_or(|h| hosts.contains(&h)))
                .filter_map(|m| match &m.target {
                    MountTarget::Wsgi(app) => Some(app.group),
                    MountTarget::Static(_) => None,
                })
                .collect();
            groups.sort_unstable();
            groups.dedup();
            match groups.as_slice() {
                [] => {
                    let without_apps = (0..config.groups.len())
                        .find(|g| config.apps_of_group(*g).next().is_none());
                    if let Some(group) = without_apps {
                        config.groups[group].listeners.push(listener);
                    }
                }
                [group] => config.groups[*group].listeners.push(listener),
                several => {
                    front_listeners.push(listener);
                    for group in several {
                        forwarded[*group] = true;
                    }
                }
            }
        }
        // Drop the groups left with nothing to serve (a host's own default group, when
        // another group serves its listener).
        let keep: Vec<bool> = (0..config.groups.len())
            .map(|g| forwarded[g] || !config.groups[g].listeners.is_empty())
            .collect();
        let mut new_index = Vec::new();
        let mut next = 0;
        for kept in &keep {
            new_index.push(next);
            next += usize::from(*kept);
        }
        for mount in &mut config.mounts {
            if let MountTarget::Wsgi(app) = &mut mount.target {
                app.group = new_index[app.group];
            }
        }
        let mut index = 0;
        config.groups.retain(|_| {
            index += 1;
            keep[index - 1]
        });
        let forwarded: Vec<bool> = forwarded
            .into_iter()
            .zip(&keep)
            .filter(|(_, kept)| **kept)
            .map(|(f, _)| f)
            .collect();
        if !front_listeners.is_empty() {
            self.add_front_tier(config, front_listeners, &forwarded, user)?;
        }
        Some(())
    }

    /// httpd's `User` and `Group` as the site sets them, for the front tier.
    fn front_user(&self) -> FrontUser {
        FrontUser {
            user: self.site.user.clone(),
            group: self.site.group.clone(),
        }
    }

    /// The listeners (indexes) a `<VirtualHost addr:port ...>` answers on.
    fn vhost_listeners(&mut self, vhost: &Section, listeners: &[ListenerConfig]) -> Vec<usize> {
        let mut found = Vec::new();
        for address in &vhost.args {
            let (host, port) = match address.rsplit_once(':') {
                Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']'), port),
                None => (address.as_str(), "*"),
            };
            let any_host = matches!(host, "*" | "_default_" | "0.0.0.0" | "::");
            let matching: Vec<usize> = listeners
                .iter()
                .enumerate()
                .filter(|(_, l)| port == "*" || port.parse() == Ok(l.port))
                .filter(|(_, l)| any_host || l.host.is_none() || l.host.as_deref() == Some(host))
                .map(|(i, _)| i)
                .collect();
            if matching.is_empty() {
                self.error(
                    &vhost.origin,
                    format!("<VirtualHost {address}> matches no Listen address"),
                );
            }
            found.extend(matching);
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The front tier of listeners whose applications run in several groups: its workers
    /// accept on those listeners and forward to the groups marked in `forwarded`, which get
    /// internal sockets. Started as root, it runs as httpd's `User`, as httpd's own processes
    /// do, or without one as the first forwarded group's user (it needs to read only what
    /// that group reads: the site's static files).
    fn add_front_tier(
        &mut self,
        config: &mut ServerConfig,
        listeners: Vec<usize>,
        forwarded: &[bool],
        user: FrontUser,
    ) -> Option<()> {
        let server_root = config.server_root.clone();
        let groups = &mut config.groups;
        for (index, group) in groups.iter_mut().enumerate() {
            if forwarded[index] {
                group.internal_socket = Some(server_root.join(format!("group-{index}.sock")));
            }
        }
        let first = forwarded
            .iter()
            .position(|f| *f)
            .expect("a forwarded group");
        let run_as = match &user.user {
            Some((name, origin)) if self.env.uid == 0 => {
                match crate::users::run_as(name, user.group.as_deref(), None) {
                    Ok(run_as) => Some(run_as),
                    Err(why) => {
                        self.error(origin, format!("user {name}: {why}"));
                        return None;
                    }
                }
            }
            _ => groups[first].run_as.clone(),
        };
        let template = &groups[first];
        let lifecycle = Lifecycle {
            maximum_requests: 0,
            maximum_requests_jitter: 0,
            restart_interval: None,
            inactivity_timeout: None,
            request_timeout: None,
            deadlock_timeout: None,
            reload_on_script_change: false,
            limits: Default::default(),
            // It drains as long as the longest of the groups it forwards to.
            graceful_timeout: groups
                .iter()
                .map(|g| g.lifecycle.graceful_timeout)
                .max()
                .unwrap_or_default(),
            ..template.lifecycle.clone()
        };
        let front = ProcessGroup {
            name: "front-tier".to_owned(),
            threads: 1,
            processes: 1,
            multiprocess: false,
            python: template.python.clone(),
            application_group: String::new(),
            queue_backlog: template.queue_backlog,
            queue_timeout: template.queue_timeout,
            connect_timeout: template.connect_timeout,
            lifecycle,
            run_as,
            listeners,
            internal_socket: None,
            role: GroupRole::Front,
            logging: None,
            import_scripts: Vec::new(),
        };
        groups.push(front);
        Some(())
    }
}

/// httpd's `User` and `Group`, which the front tier runs as when started as root.
struct FrontUser {
    user: Option<(String, Origin)>,
    group: Option<String>,
}

/// Tags what a virtual host's configuration mounts and sets as that host's (`host`).
fn tag_host(config: &mut ServerConfig, host: usize) {
    let own = &mut config.hosts[0];
    own.document_root = Some(config.document_root.clone());
    own.static_files = Some(config.static_files.clone());
    for mount in &mut config.mounts {
        mount.host = Some(host);
    }
    config.access.tag_host(host);
    for edit in config
        .header_edits
        .request
        .iter_mut()
        .chain(config.header_edits.response.iter_mut())
    {
        edit.host = Some(host);
    }
    for redirect in &mut config.redirects {
        redirect.host = Some(host);
    }
    for document in &mut config.error_documents {
        document.host = Some(host);
    }
    for rule in &mut config.client_certificates {
        rule.host = Some(host);
    }
    for index in &mut config.index_scripts {
        index.host = Some(host);
    }
}
