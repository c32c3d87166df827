//! Static files: the document root that overlays the applications, and `--url-alias` mounts.
//!
//! # Why not tower-http's `ServeDir`
//!
//! `ServeDir` was the first choice, and it does much of this well. It was not enough here:
//!
//! * it follows any symbolic link, including one that leads out of the served directory; this
//!   server opens files with `openat2(RESOLVE_BENEATH)` instead ([`open`]);
//! * the document root overlay must ask "is there a file?" and serve that same file, while a
//!   request that is *not* a file goes to the application; with `ServeDir`'s fallback, paths it
//!   refuses (a traversal attempt) would reach the application too;
//! * it ignores `If-Range`, so a resumed download could splice two versions of a file;
//! * it has no hidden-file policy, no `mime.types` table, no directory listing, and no
//!   zero-copy body.
//!
//! The HTTP semantics that are easy to get subtly wrong — parsing and comparing entity tags
//! and HTTP dates for `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`
//! and `If-Range` — come from the `headers` crate; [`respond`] applies them in RFC 9110's order.
//!
//! # The overlay
//!
//! As with mod_wsgi-express, a file that exists under the document root wins over the
//! application at the same URL; anything else goes to the application. To keep that free for
//! application requests, the names at the top of the document root are kept in memory
//! ([`docroot::TopLevel`], refreshed within a second of a change): a request whose first path
//! segment is not among them goes straight to the application, without touching the disk.
//!
//! Every file system call runs on tokio's blocking pool.

mod docroot;
mod listing;
mod mime;
mod open;
mod respond;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use oxwsgi_config::{StaticSettings, StaticTarget};

use crate::body::ResponseBody;
use crate::compress::{self, Coding};
use crate::error_response::{Refusal, error_response};

use docroot::TopLevel;
use mime::MimeTable;
use open::{Found, Resolve, Root};
use respond::{FileToServe, Transfer};

/// Static file serving for one server.
pub(crate) struct StaticFiles {
    overlay: Option<Arc<DocumentRoot>>,
    /// Whether the document root's files win over the applications mounted at their URLs.
    overlay_applications: bool,
    aliases: Vec<Alias>,
    rules: Arc<Rules>,
}

/// What every lookup needs to know.
struct Rules {
    mime: MimeTable,
    index: Option<String>,
    listing: bool,
    serve_hidden: bool,
    transfer: Transfer,
}

struct DocumentRoot {
    root: Arc<Root>,
    top: TopLevel,
}

/// One `--url-alias`.
enum Alias {
    File(PathBuf),
    Directory(Arc<Root>),
}

/// A request as static serving sees it.
pub(crate) struct StaticRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a http::HeaderMap,
    /// The request path (decoded, normalised), for redirects and listings.
    pub(crate) path: &'a Bytes,
    /// The raw query, to keep it in redirects.
    pub(crate) query: Option<&'a str>,
}

impl StaticFiles {
    /// Sets up the document root and the aliases, in the order the router numbers them.
    pub(crate) fn new(
        settings: &StaticSettings,
        document_root: &Path,
        aliases: &[&StaticTarget],
    ) -> StaticFiles {
        let overlay = settings.overlay.then(|| {
            let root = Arc::new(Root::open(document_root));
            let top = TopLevel::default();
            top.refresh(root.path());
            Arc::new(DocumentRoot { root, top })
        });
        StaticFiles {
            overlay,
            overlay_applications: settings.overlay_applications,
            aliases: aliases
                .iter()
                .map(|target| match target {
                    StaticTarget::File(path) => Alias::File(path.clone()),
                    StaticTarget::Directory(path) => Alias::Directory(Arc::new(Root::open(path))),
                })
                .collect(),
            rules: Arc::new(Rules {
                mime: MimeTable::new(&settings.mime_types),
                index: settings.directory_index.clone(),
                listing: settings.directory_listing,
                serve_hidden: settings.serve_hidden_files,
                transfer: if settings.enable_sendfile {
                    Transfer::Mapped
                } else {
                    Transfer::Read
                },
            }),
        }
    }

    /// Keeps the document root's top-level index fresh (call once, in the runtime).
    pub(crate) fn spawn_refresher(&self) {
        if let Some(docroot) = self.overlay.clone() {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let docroot = Arc::clone(&docroot);
                    let _ = tokio::task::spawn_blocking(move || {
                        docroot.top.refresh(docroot.root.path());
                    })
                    .await;
                }
            });
        }
    }

    /// The document root overlay: the response for the file at `request.path` if there is
    /// one; `None` when the request is not for static content and goes on to the application
    /// (or a 404).
    ///
    /// `app_follows` says whether an application would answer otherwise: directory listings
    /// are only shown where none would, and a hidden name is passed on to it rather than
    /// refused.
    pub(crate) async fn overlay<S: Send + 'static>(
        &self,
        request: StaticRequest<'_>,
        app_follows: bool,
    ) -> Option<Response<ResponseBody<S>>> {
        let docroot = self.overlay.as_ref()?;
        if app_follows && !self.overlay_applications {
            return None;
        }
        let may_answer = if request.path[..] == b"/"[..] {
            // The root itself: only its index file, or a listing where no application follows.
            // `/` is the commonest application URL, so this is decided without the disk.
            (self.rules.listing && !app_follows)
                || self
                    .rules
                    .index
                    .as_deref()
                    .is_some_and(|index| docroot.top.has(index.as_bytes()))
        } else {
            docroot.top.might_contain(request.path)
        };
        if !may_answer {
            return None;
        }
        let relative = request.path[1..].to_vec();
        let found = self
            .look_up(&docroot.root, &request, relative.clone())
            .await;
        self.answer(&request, found, &docroot.root, &relative, app_follows)
            .await
    }

    /// Serves from alias `index`; `rest` is the path below the alias's URL path. Anything not
    /// found is a 404: an alias is the only thing answering below its URL path.
    pub(crate) async fn alias<S: Send + 'static>(
        &self,
        index: usize,
        request: StaticRequest<'_>,
        rest: &[u8],
    ) -> Response<ResponseBody<S>> {
        let response = match &self.aliases[index] {
            Alias::File(path) if rest.is_empty() => {
                let path = path.clone();
                let found = blocking(move || open_configured_file(&path), Looked::Missing).await;
                match found {
                    Looked::File(file) => Some(self.serve(&request, file)),
                    _ => None,
                }
            }
            Alias::File(_) => None,
            Alias::Directory(root) => {
                let relative = rest.strip_prefix(b"/").unwrap_or(rest).to_vec();
                let found = self.look_up(root, &request, relative.clone()).await;
                self.answer(&request, found, root, &relative, false).await
            }
        };
        response.unwrap_or_else(|| error_response(&Refusal::NotFound))
    }

    async fn look_up(
        &self,
        root: &Arc<Root>,
        request: &StaticRequest<'_>,
        relative: Vec<u8>,
    ) -> Looked {
        let lookup = Lookup {
            codings: compress::accepted(request.headers),
            root: Arc::clone(root),
            rules: Arc::clone(&self.rules),
        };
        // From the kernel's caches first, on this thread; the disk only on the blocking pool.
        match lookup.run(&relative, Resolve::CachedOnly) {
            Looked::WouldBlock => {
                blocking(
                    move || lookup.run(&relative, Resolve::Blocking),
                    Looked::Missing,
                )
                .await
            }
            found => found,
        }
    }

    /// The response for what a lookup found; `None` to pass the request on.
    async fn answer<S: Send + 'static>(
        &self,
        request: &StaticRequest<'_>,
        found: Looked,
        root: &Arc<Root>,
        relative: &[u8],
        app_follows: bool,
    ) -> Option<Response<ResponseBody<S>>> {
        match found {
            Looked::File(file) => Some(self.serve(request, file)),
            // `look_up` never returns WouldBlock: it does the blocking lookup then.
            Looked::Missing | Looked::WouldBlock => None,
            Looked::Refused(why) => {
                tracing::info!(
                    "refused static path {}: {why}",
                    String::from_utf8_lossy(request.path)
                );
                // A hidden name in front of an application is simply not static content; any
                // other refusal (an escape from the root) is a 404 whatever else is mounted.
                if why == open::HIDDEN && app_follows {
                    None
                } else {
                    Some(error_response(&Refusal::NotFound))
                }
            }
            Looked::Directory { has_index } => {
                let listable = self.rules.listing && !app_follows;
                if !request.path.ends_with(b"/") {
                    return (has_index || listable).then(|| redirect_to_directory(request));
                }
                if !listable {
                    return None;
                }
                let root = Arc::clone(root);
                let relative = relative.to_vec();
                let serve_hidden = self.rules.serve_hidden;
                let entries =
                    blocking(move || root.list(&relative, serve_hidden).ok(), None).await?;
                let url_path = String::from_utf8_lossy(request.path).into_owned();
                Some(respond::page(
                    request.method,
                    listing::page(&url_path, &entries),
                ))
            }
        }
    }

    fn serve<S: Send + 'static>(
        &self,
        request: &StaticRequest<'_>,
        file: FoundFile,
    ) -> Response<ResponseBody<S>> {
        if *request.method != Method::GET && *request.method != Method::HEAD {
            let mut response = error_response(&Refusal::MethodNotAllowed);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        respond::respond(
            request.method,
            request.headers,
            FileToServe {
                content_type: self.rules.mime.content_type(&file.name),
                file: file.file,
                meta: file.meta,
                encoding: file.encoding.map(Coding::token),
                transfer: self.rules.transfer,
            },
        )
    }
}

/// `301` to the same path with a trailing slash (as Apache's `DirectorySlash`), so relative
/// links in an index page resolve inside the directory.
fn redirect_to_directory<S>(request: &StaticRequest<'_>) -> Response<ResponseBody<S>> {
    let path = percent_encoding::percent_encode(request.path, PATH).to_string();
    let location = match request.query {
        Some(query) => format!("{path}/?{query}"),
        None => format!("{path}/"),
    };
    let mut response = Response::new(ResponseBody::empty());
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// Bytes escaped when a path goes back into a URL.
const PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(0x7f);

/// A file a lookup opened, with the name its media type comes from.
struct FoundFile {
    file: std::fs::File,
    meta: std::fs::Metadata,
    name: PathBuf,
    encoding: Option<Coding>,
}

/// What a lookup found.
enum Looked {
    File(FoundFile),
    /// A directory whose URL lacks its trailing slash (`has_index`: it has an index file), or
    /// one without an index file.
    Directory {
        has_index: bool,
    },
    Missing,
    Refused(&'static str),
    /// Not possible from the caches alone (see [`Resolve`]).
    WouldBlock,
}

/// A lookup, as it runs on an I/O thread or the blocking pool: the request's accepted codings decide whether a
/// precompressed sibling is served instead of the file.
struct Lookup {
    codings: Vec<Coding>,
    root: Arc<Root>,
    rules: Arc<Rules>,
}

impl Lookup {
    fn run(&self, relative: &[u8], resolve: Resolve) -> Looked {
        let hidden = self.rules.serve_hidden;
        match self.root.lookup(relative, hidden, resolve) {
            Found::File(file, meta) => self.prefer_precompressed(relative, file, meta, resolve),
            Found::Directory => {
                let Some(index) = &self.rules.index else {
                    return Looked::Directory { has_index: false };
                };
                let index_path = join(relative, index);
                let index_file = match self.root.lookup(&index_path, hidden, resolve) {
                    Found::File(file, meta) => Some((file, meta)),
                    Found::WouldBlock => return Looked::WouldBlock,
                    _ => None,
                };
                match index_file {
                    // At the directory's own URL (`/` or `/dir/`): serve the index.
                    Some((file, meta)) if relative.is_empty() || relative.ends_with(b"/") => {
                        self.prefer_precompressed(&index_path, file, meta, resolve)
                    }
                    // At `/dir`: the caller redirects to `/dir/` first.
                    Some(_) => Looked::Directory { has_index: true },
                    None => Looked::Directory { has_index: false },
                }
            }
            Found::Missing => Looked::Missing,
            Found::Refused(why) => Looked::Refused(why),
            Found::WouldBlock => Looked::WouldBlock,
        }
    }

    /// The `.br` or `.gz` sibling of a file, when the client accepts that coding and the
    /// sibling exists; else the file itself.
    fn prefer_precompressed(
        &self,
        relative: &[u8],
        file: std::fs::File,
        meta: std::fs::Metadata,
        resolve: Resolve,
    ) -> Looked {
        let name = name_of(relative);
        for &coding in &self.codings {
            let suffix: &[u8] = match coding {
                Coding::Brotli => b".br",
                Coding::Gzip => b".gz",
            };
            let mut sibling = relative.to_vec();
            sibling.extend_from_slice(suffix);
            match self.root.lookup(&sibling, self.rules.serve_hidden, resolve) {
                Found::File(file, meta) => {
                    return Looked::File(FoundFile {
                        file,
                        meta,
                        name,
                        encoding: Some(coding),
                    });
                }
                Found::WouldBlock => return Looked::WouldBlock,
                _ => {}
            }
        }
        Looked::File(FoundFile {
            file,
            meta,
            name,
            encoding: None,
        })
    }
}

/// The file of a single-file alias (a path the configuration names, so no root applies).
fn open_configured_file(path: &Path) -> Looked {
    match std::fs::File::open(path) {
        Ok(file) => match file.metadata() {
            Ok(meta) if meta.is_file() => Looked::File(FoundFile {
                file,
                meta,
                name: path.to_path_buf(),
                encoding: None,
            }),
            _ => Looked::Missing,
        },
        Err(_) => Looked::Missing,
    }
}

fn join(directory: &[u8], name: &str) -> Vec<u8> {
    let mut path = directory.to_vec();
    if !path.is_empty() && !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(name.as_bytes());
    path
}

fn name_of(relative: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(relative))
}

/// Runs file system work on the blocking pool; `fallback` if the work could not complete.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static, fallback: T) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(err) => {
            tracing::error!("static file work failed: {err}");
            fallback
        }
    }
}
