//! What both reference servers share: the command line, the processes (one listening socket
//! each on the same port, SO_REUSEPORT, as a load balancer would spread connections), and the
//! tokio runtime with hyper's HTTP/1 connection loop.
//!
//! Command line: `--host ADDRESS --port N --processes N --threads N [SCRIPT]`. With more than
//! one process the first one starts the others as its children and waits for them, so the
//! whole server is one process group that its caller stops with one signal.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::process::{Command, exit};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use socket2::{Domain, Socket, Type};

/// Set in the environment of the processes the first one starts.
const CHILD_ENV: &str = "OXWSGI_BENCH_REFERENCE_CHILD";

/// The command line.
pub struct Options {
    pub host: String,
    pub port: u16,
    pub processes: usize,
    pub threads: usize,
    /// What follows the options (the WSGI script, for `inline`).
    pub args: Vec<String>,
}

pub fn options() -> Options {
    let mut options = Options {
        host: "127.0.0.1".into(),
        port: 8000,
        processes: 1,
        threads: 4,
        args: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("{name} needs a value");
                exit(2)
            })
        };
        let number = |name: &str, text: String| -> usize {
            text.parse().unwrap_or_else(|_| {
                eprintln!("{name}: not a number: {text}");
                exit(2)
            })
        };
        match arg.as_str() {
            "--host" => options.host = value("--host"),
            "--port" => options.port = number("--port", value("--port")) as u16,
            "--processes" => options.processes = number("--processes", value("--processes")).max(1),
            "--threads" => options.threads = number("--threads", value("--threads")).max(1),
            _ if arg.starts_with("--") => {
                eprintln!("unknown option {arg}");
                exit(2)
            }
            _ => options.args.push(arg),
        }
    }
    options
}

/// With `--processes N > 1`, starts N copies of this program (same arguments) and waits for
/// them: this function does not return in the first process. In the copies, and with one
/// process, it returns at once.
pub fn fan_out(options: &Options) {
    if options.processes <= 1 || std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut children: Vec<_> = (0..options.processes)
        .map(|_| {
            Command::new(&exe)
                .args(std::env::args_os().skip(1))
                .env(CHILD_ENV, "1")
                .spawn()
                .expect("start a server process")
        })
        .collect();
    let mut code = 0;
    for child in &mut children {
        if let Ok(status) = child.wait() {
            code = code.max(status.code().unwrap_or(1));
        }
    }
    exit(code)
}

fn listener(options: &Options) -> std::net::TcpListener {
    let addr: SocketAddr = format!("{}:{}", options.host, options.port)
        .parse()
        .expect("--host and --port make an address");
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.set_reuse_port(true).expect("SO_REUSEPORT");
    socket.bind(&addr.into()).unwrap_or_else(|e| {
        eprintln!("cannot bind {addr}: {e}");
        exit(1)
    });
    socket.listen(1024).expect("listen");
    socket.set_nonblocking(true).expect("non-blocking");
    socket.into()
}

/// Serves HTTP/1 on `--threads` runtime threads (the accept loop is one of their tasks, so no
/// other thread does any work), calling `on_thread_start` on each thread first. Never returns.
pub fn serve<H, F>(options: &Options, on_thread_start: fn(), handler: H) -> !
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let std_listener = listener(options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads)
        .enable_io()
        .on_thread_start(on_thread_start)
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        tokio::spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(handler))
                        .await;
                });
            }
        })
        .await
    });
    eprintln!("accept loop ended: {result:?}");
    exit(1)
}
