//! `/server-status` (`--server-status`): the scoreboard of every worker of every group, as
//! mod_status shows Apache's, read from the shared memory this worker has mapped — no other
//! process is asked. The access rules of its path apply first (the command line's only lets
//! local clients in).

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};

use crate::body::ResponseBody;
use oxwsgi_scoreboard::{Board, Snapshot, StatusPage, render_auto, render_html};

/// The page for a request of the status path: HTML, or `key: value` lines with `?auto`.
pub(crate) fn respond<S>(
    board: &Board,
    method: &Method,
    query: Option<&str>,
    started: std::time::Instant,
) -> Response<ResponseBody<S>> {
    let snapshot = Snapshot::read(board.scoreboard());
    let version = concat!("oxwsgi/", env!("CARGO_PKG_VERSION"));
    let page = StatusPage {
        server_version: version,
        worker_uptime_s: started.elapsed().as_secs(),
    };
    let auto = query.is_some_and(|q| q.split('&').any(|part| part == "auto"));
    let (text, content_type) = if auto {
        (render_auto(&snapshot, &page), "text/plain; charset=utf-8")
    } else {
        (render_html(&snapshot, &page), "text/html; charset=utf-8")
    };
    let length = text.len();
    let body = if method == Method::HEAD {
        ResponseBody::empty()
    } else {
        ResponseBody::full(Bytes::from(text))
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}
