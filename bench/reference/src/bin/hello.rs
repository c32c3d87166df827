//! hyper on tokio answering every request with the 13-byte hello of bench/hello.py: the most a
//! server built on these libraries can do here, with no Python at all.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

static BODY: &[u8] = b"Hello World!\n";

async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(BODY)))
        .expect("a valid response"))
}

fn main() {
    let options = oxwsgi_bench_reference::options();
    oxwsgi_bench_reference::fan_out(&options);
    oxwsgi_bench_reference::serve(&options, || {}, hello)
}
