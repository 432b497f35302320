//! Test helpers for downloads (this crate's tests and the end-to-end tests, through the
//! `test-support` feature): a small HTTP/1.1 server on 127.0.0.1 with the replies a
//! download has to survive (range requests, a connection cut mid-body, no length, an
//! error status), and builders of `.zip`, `.tar.gz` and `.gz` files.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How the server answers one path.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with the body (206 for a `Range` request whose `If-Range` matches).
    Body(Vec<u8>),
    /// Like `Body`, but the first request gets the full `Content-Length` and only
    /// `after` bytes before the connection is closed.
    CutOnce {
        /// The whole body.
        body: Vec<u8>,
        /// Bytes sent before the cut.
        after: usize,
    },
    /// 200 without `Content-Length` (the end of the body is the end of the connection).
    NoLength(Vec<u8>),
    /// This status and an empty body.
    Status(u16),
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The request path.
    pub path: String,
    /// Its `Range` header.
    pub range: Option<String>,
    /// Its `If-Range` header.
    pub if_range: Option<String>,
}

/// A loopback HTTP server, stopped on drop. Unknown paths get 404.
pub struct TestServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serve `routes` (path → reply) on a free port of 127.0.0.1.
    pub fn start(routes: Vec<(&str, Reply)>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let routes: BTreeMap<String, Reply> = routes
            .into_iter()
            .map(|(p, r)| (p.to_string(), r))
            .collect();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut served: BTreeMap<String, usize> = BTreeMap::new();
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if let Some(req) = read_request(&stream) {
                    let n = served.entry(req.path.clone()).or_insert(0);
                    *n += 1;
                    let first = *n == 1;
                    if let Ok(mut log) = log2.lock() {
                        log.push(req.clone());
                    }
                    respond(stream, &req, routes.get(&req.path), first);
                }
            }
        });
        TestServer {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// The URL of `path` (`/ml-100k.zip`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut range, mut if_range) = (None, None);
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = Some(v.trim().to_string());
            match k.trim().to_ascii_lowercase().as_str() {
                "range" => range = v,
                "if-range" => if_range = v,
                _ => {}
            }
        }
    }
    Some(Request {
        path,
        range,
        if_range,
    })
}

fn etag(body: &[u8]) -> String {
    format!("\"{}\"", &blake3::hash(body).to_hex()[..16])
}

fn respond(mut s: TcpStream, req: &Request, reply: Option<&Reply>, first: bool) {
    let status_only = |s: &mut TcpStream, code: u16| {
        let _ = write!(
            s,
            "HTTP/1.1 {code} Status {code}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    match reply {
        None => status_only(&mut s, 404),
        Some(Reply::Status(code)) => status_only(&mut s, *code),
        Some(Reply::NoLength(body)) => {
            let _ = write!(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(body);
        }
        Some(Reply::CutOnce { body, after }) if first => {
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {}\r\nConnection: close\r\n\r\n",
                body.len(),
                etag(body)
            );
            let _ = s.write_all(&body[..(*after).min(body.len())]);
            let _ = s.flush();
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        Some(Reply::Body(body) | Reply::CutOnce { body, .. }) => {
            let tag = etag(body);
            let start = req
                .range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|_| req.if_range.as_deref().is_none_or(|t| t == tag));
            match start {
                Some(n) if n >= body.len() => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                }
                Some(n) => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: \
                         bytes {n}-{}/{}\r\nETag: {tag}\r\nConnection: close\r\n\r\n",
                        body.len() - n,
                        body.len() - 1,
                        body.len()
                    );
                    let _ = s.write_all(&body[n..]);
                }
                None => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {tag}\r\nConnection: \
                         close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(body);
                }
            }
        }
    }
}

/// An archive entry.
#[derive(Clone, Copy, Debug)]
pub enum Entry<'a> {
    /// A file with its bytes.
    File(&'a str, &'a [u8]),
    /// A symbolic link to a target.
    Symlink(&'a str, &'a str),
}

/// A `.zip` archive of `entries` (deflated files).
pub fn zip_archive(entries: &[Entry]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for e in entries {
        match e {
            Entry::File(name, bytes) => {
                w.start_file(*name, opts).expect("zip entry");
                w.write_all(bytes).expect("zip write");
            }
            Entry::Symlink(name, target) => w.add_symlink(*name, *target, opts).expect("zip link"),
        }
    }
    w.finish().expect("zip finish").into_inner()
}

/// A `.tar.gz` archive of `entries`.
pub fn tar_gz_archive(entries: &[Entry]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        match e {
            Entry::File(name, bytes) => {
                h.set_size(bytes.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, name, *bytes).expect("tar entry");
            }
            Entry::Symlink(name, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, name, target).expect("tar link");
            }
        }
    }
    b.into_inner()
        .expect("tar finish")
        .finish()
        .expect("gzip finish")
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip finish")
}

/// sha256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    alsflow_core::hex::encode(&sha2::Sha256::digest(bytes))
}
