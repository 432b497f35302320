//! `alsflow serve` end to end: the real binary on an ephemeral loopback port, every
//! route and every class of bad request, `recommend --history` against the server's
//! fold-in, and hot reload while requests are answered (on the poll, on SIGHUP,
//! never for a pinned `--model`).

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `alsflow serve`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(env: &Env, store: &str, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env
            .cmd(store, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start alsflow serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let _ = tx.send(line[at + "listening on http://".len()..].trim().to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start: {:?}", log.lock().unwrap());
            }
        };
        assert!(addr.starts_with("127.0.0.1:"), "bound {addr}");
        Server { child, addr, log }
    }

    fn signal(&self, name: &str) {
        let ok = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal("TERM");
            let t0 = Instant::now();
            while self.child.try_wait().ok().flatten().is_none()
                && t0.elapsed() < Duration::from_secs(5)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One HTTP/1.1 exchange on a keep-alive connection: (status, body).
struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    fn new(addr: &str) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            stream: BufReader::new(stream),
        }
    }

    fn send(&mut self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut status_line = String::new();
        self.stream
            .read_line(&mut status_line)
            .expect("status line");
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).unwrap();
        (status, body)
    }

    fn json(&mut self, method: &str, path: &str, body: &str) -> (u16, Value) {
        let (status, bytes) = self.send(method, path, body.as_bytes());
        let v = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{method} {path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, v)
    }

    fn get(&mut self, path: &str) -> (u16, Value) {
        self.json("GET", path, "")
    }
}

fn item_ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect()
}

/// An error answer: the status, and a JSON body with a code and a message.
fn refused(
    c: &mut Client,
    method: &str,
    path: &str,
    body: &str,
    status: u16,
    code: &str,
    names: &str,
) {
    let (s, v) = c.json(method, path, body);
    assert_eq!(s, status, "{method} {path} {body}: {v}");
    assert_eq!(v["code"], code, "{method} {path}: {v}");
    assert_eq!(v["status"], status);
    let msg = v["error"].as_str().unwrap();
    assert!(
        msg.contains(names),
        "{method} {path}: '{msg}' does not name '{names}'"
    );
}

#[test]
fn every_route_answers_and_every_bad_request_gets_its_status() {
    let env = Env::new();
    let ran = outputs(&env.run("s", &[]));
    let fx_model = &json!(ran["fx/train.model"]);
    let server = Server::start(&env, "s", &["--max-body-bytes", "4096"]);
    let mut c = Client::new(&server.addr);

    let (s, health) = c.get("/healthz");
    assert_eq!((s, &health["status"]), (200, &json!("ok")));
    assert_eq!(&health["models"]["fx"], fx_model);
    assert_eq!(health["models"]["syn"], json!(ran["syn/train.model"]));

    let (s, all) = c.get("/v1/datasets");
    assert_eq!(s, 200);
    let fx = all["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dataset"] == "fx")
        .unwrap();
    assert_eq!(&fx["model"], fx_model);
    assert_eq!(fx["params"]["rank"], 4);
    assert_eq!(fx["users"], 60);
    assert!(fx["metrics"]["model"]["roem"].is_number(), "{fx}");
    assert_eq!(&fx["evaluate_run"].as_str().map(|s| s.len()), &Some(64));
    let (s, one) = c.get("/v1/datasets/fx");
    assert_eq!((s, &one["model"]), (200, fx_model));

    // A known user: the CLI's list (training items left out) and the server's agree.
    let (s, recs) = c.get("/v1/datasets/fx/users/u007/recommendations?n=5");
    assert_eq!(s, 200, "{recs}");
    assert_eq!((&recs["model"], &recs["user"]), (fx_model, &json!("u007")));
    let cli = env.out(
        "s",
        &[
            "recommend",
            "--dataset",
            "fx",
            "--user",
            "u007",
            "-n",
            "5",
            "--json",
        ],
    );
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let cli_items: Vec<String> = cli["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(item_ids(&recs), cli_items);
    let seen: Vec<String> = cli["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect();
    let (_, with_seen) =
        c.get("/v1/datasets/fx/users/u007/recommendations?n=40&exclude_seen=false");
    assert!(seen.iter().all(|s| item_ids(&with_seen).contains(s)));
    // Filters: exclude the best, rank only three candidates.
    let top = item_ids(&recs);
    let q = format!(
        "n=10&exclude={}&candidates={},{},{}",
        top[0], top[0], top[1], top[2]
    );
    let (_, filtered) = c.get(&format!("/v1/datasets/fx/users/u007/recommendations?{q}"));
    assert_eq!(item_ids(&filtered), &top[1..3]);

    // Batch: the same lists as one by one.
    let (s, batch) = c.json(
        "POST",
        "/v1/datasets/fx/recommendations/batch",
        r#"{"users": ["u007", "u011"], "n": 5}"#,
    );
    assert_eq!((s, &batch["model"]), (200, fx_model));
    assert_eq!(item_ids(&batch["results"][0]), top);
    let (_, u011) = c.get("/v1/datasets/fx/users/u011/recommendations?n=5");
    assert_eq!(item_ids(&batch["results"][1]), item_ids(&u011));

    // Fold-in: a new user; the CLI's `recommend --history` gives the same list.
    let body = r#"{"history": [{"item": "song001", "value": 3}, {"item": "song004"}, {"item": "nosuch"}], "n": 5}"#;
    let (s, folded) = c.json("POST", "/v1/datasets/fx/recommendations", body);
    assert_eq!((s, &folded["model"]), (200, fx_model), "{folded}");
    assert_eq!(folded["user"], Value::Null);
    assert_eq!(folded["unknown_items"], json!(["nosuch"]));
    assert!(!item_ids(&folded)
        .iter()
        .any(|i| i == "song001" || i == "song004"));
    let history = env.dir.path().join("history.txt");
    std::fs::write(&history, "song001,3\nsong004\nnosuch\n").unwrap();
    let o = env.out(
        "s",
        &[
            "recommend",
            "--dataset",
            "fx",
            "--history",
            history.to_str().unwrap(),
            "-n",
            "5",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_cli: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(item_ids(&from_cli), item_ids(&folded));
    assert_eq!(&from_cli["model"], fx_model);
    // A known user with more history.
    let (s, more) = c.json(
        "POST",
        "/v1/datasets/fx/recommendations",
        r#"{"user": "u007", "history": [{"item": "song030"}]}"#,
    );
    assert_eq!((s, &more["user"]), (200, &json!("u007")));
    assert!(!item_ids(&more)
        .iter()
        .any(|i| i == "song030" || seen.contains(i)));

    // Similar items: the CLI's list.
    let (s, sim) = c.get("/v1/datasets/fx/items/song003/similar?n=4");
    assert_eq!((s, &sim["model"]), (200, fx_model), "{sim}");
    let cli = env.out(
        "s",
        &[
            "similar",
            "--dataset",
            "fx",
            "--item",
            "song003",
            "-n",
            "4",
            "--json",
        ],
    );
    let cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let cli_sim: Vec<String> = cli["similar"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(item_ids(&sim), cli_sim);

    // Every bad-request class.
    let fold = "/v1/datasets/fx/recommendations";
    refused(
        &mut c,
        "GET",
        "/v1/datasets/nope/users/u007/recommendations",
        "",
        404,
        "unknown_dataset",
        "nope",
    );
    refused(
        &mut c,
        "GET",
        "/v1/datasets/fx/users/u999/recommendations",
        "",
        404,
        "unknown_user",
        "u999",
    );
    refused(
        &mut c,
        "GET",
        "/v1/datasets/fx/users/u007/recommendations?exclude=zzz",
        "",
        404,
        "unknown_item",
        "zzz",
    );
    refused(
        &mut c,
        "GET",
        "/v1/datasets/fx/users/u007/recommendations?candidates=song001,yyy",
        "",
        404,
        "unknown_item",
        "yyy",
    );
    refused(
        &mut c,
        "GET",
        "/v1/datasets/fx/items/xxx/similar",
        "",
        404,
        "unknown_item",
        "xxx",
    );
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"user": "u998", "history": []}"#,
        404,
        "unknown_user",
        "u998",
    );
    refused(
        &mut c,
        "GET",
        "/v1/datasets/fx/users/u007/recommendations?n=0",
        "",
        400,
        "bad_request",
        "n = 0",
    );
    refused(
        &mut c,
        "GET",
        "/v1/datasets/fx/users/u007/recommendations?n=100000",
        "",
        400,
        "bad_request",
        "out of range",
    );
    refused(
        &mut c,
        "GET",
        "/v1/datasets/fx/users/u007/recommendations?n=abc",
        "",
        400,
        "bad_request",
        "'n'",
    );
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": [{"item": "song001"}], "n": 1001}"#,
        400,
        "bad_request",
        "n = 1001",
    );
    refused(
        &mut c,
        "GET",
        "/v1/datasets/fx/users/u007/recommendations?top=3",
        "",
        400,
        "bad_request",
        "'top'",
    );
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": [{"item": "song001"}"#,
        400,
        "bad_request",
        "malformed JSON",
    );
    refused(&mut c, "POST", fold, "", 400, "bad_request", "empty");
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": [{"item": "song001"}], "filter": 1}"#,
        400,
        "bad_request",
        "unknown field `filter`",
    );
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": [{"item": "song001", "weight": 1}]}"#,
        400,
        "bad_request",
        "unknown field `weight`",
    );
    refused(
        &mut c,
        "POST",
        "/v1/datasets/fx/recommendations/batch",
        r#"{"users": ["u007"], "m": 1}"#,
        400,
        "bad_request",
        "unknown field `m`",
    );
    refused(
        &mut c,
        "POST",
        "/v1/datasets/fx/recommendations/batch",
        r#"{"users": ["u007", "u997"]}"#,
        404,
        "unknown_user",
        "u997",
    );
    let big = format!(
        r#"{{"history": [{}]}}"#,
        vec![r#"{"item": "song001"}"#; 400].join(",")
    );
    refused(
        &mut c,
        "POST",
        fold,
        &big,
        413,
        "body_too_large",
        "4096 bytes",
    );
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": [{"item": "x1"}, {"item": "x2"}]}"#,
        422,
        "no_known_items",
        "'x1', 'x2'",
    );
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": []}"#,
        422,
        "empty_history",
        "empty",
    );
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": [{"item": "song001", "value": -2}]}"#,
        422,
        "invalid_value",
        "negative",
    );
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": [{"item": "song001", "value": 1e39}]}"#,
        422,
        "invalid_value",
        "too large",
    );
    // JSON has no NaN: a client that writes one sends malformed JSON.
    refused(
        &mut c,
        "POST",
        fold,
        r#"{"history": [{"item": "song001", "value": NaN}]}"#,
        400,
        "bad_request",
        "malformed JSON",
    );
    refused(
        &mut c,
        "DELETE",
        "/v1/datasets",
        "",
        405,
        "method_not_allowed",
        "/v1/datasets",
    );
    refused(
        &mut c,
        "GET",
        "/v2/anything",
        "",
        404,
        "no_route",
        "/v2/anything",
    );
    // A non-UTF-8 id in the path is refused, not a crash.
    let (s, _) = c.send("GET", "/v1/datasets/fx/users/%FF/recommendations", b"");
    assert_eq!(s, 400);

    // The server is still up, and counted all of it.
    let (s, bytes) = c.send("GET", "/metrics", b"");
    assert_eq!(s, 200);
    let text = String::from_utf8(bytes).unwrap();
    for want in [
        "alsflow_http_requests_total{route=\"/v1/datasets/{dataset}/users/{user}/recommendations\",status=\"200\"}",
        "alsflow_http_requests_total{route=\"/v1/datasets/{dataset}/recommendations\",status=\"413\"} 1",
        "alsflow_http_requests_total{route=\"/v1/datasets/{dataset}/recommendations\",status=\"422\"} 4",
        "alsflow_http_request_duration_seconds_bucket{route=\"/v1/datasets/{dataset}/recommendations/batch\",le=\"+Inf\"} 3",
        &format!("alsflow_model_info{{dataset=\"fx\",model=\"{}\"", ran["fx/train.model"]),
        "alsflow_model_reloads_total 0",
    ] {
        assert!(text.contains(want), "/metrics lacks {want}:\n{text}");
    }

    // SIGTERM: drains and exits 0.
    let mut server = server;
    server.signal("TERM");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{}", server.log_text());
    assert!(
        server.log_text().contains("shutting down"),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_new_run_is_swapped_in_while_requests_are_answered_and_none_fails() {
    let env = Env::new();
    let first = outputs(&env.run("s", &[]))["fx/train.model"].clone();
    let server = Server::start(&env, "s", &["--poll-interval", "0.1", "--dataset", "fx"]);
    let stop = Arc::new(AtomicBool::new(false));
    // Two clients, one per kind of request, each recording (model, failure) per answer.
    let clients: Vec<_> = ["GET", "POST"]
        .into_iter()
        .map(|method| {
            let (addr, stop) = (server.addr.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut c = Client::new(&addr);
                let (mut models, mut failures) = (Vec::<String>::new(), Vec::<String>::new());
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let (s, v) = if method == "GET" {
                        c.get("/v1/datasets/fx/users/u003/recommendations?n=5")
                    } else {
                        c.json(
                            "POST",
                            "/v1/datasets/fx/recommendations",
                            r#"{"history": [{"item": "song002", "value": 2}], "n": 5}"#,
                        )
                    };
                    if s != 200 || v["items"].as_array().is_none_or(|a| a.len() != 5) {
                        failures.push(format!("{s} {v}"));
                    }
                    let m = v["model"].as_str().unwrap_or("").to_string();
                    if models.last() != Some(&m) {
                        models.push(m);
                    }
                }
                (models, failures)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let second = outputs(&env.run("s", &["--set", "train.alpha=7"]))["fx/train.model"].clone();
    assert_ne!(first, second, "a changed alpha must give another model");
    let mut c = Client::new(&server.addr);
    let t0 = Instant::now();
    while c.get("/healthz").1["models"]["fx"] != second {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the new model was not swapped in: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        let (models, failures) = client.join().unwrap();
        assert!(
            failures.is_empty(),
            "{} failed requests, the first: {:?}",
            failures.len(),
            failures.first()
        );
        assert_eq!(
            models,
            [first.as_str(), second.as_str()],
            "served models in order"
        );
    }
    let (_, bytes) = c.send("GET", "/metrics", b"");
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("alsflow_model_reloads_total 1"), "{text}");
    assert!(
        server.log_text().contains("now serving model"),
        "{}",
        server.log_text()
    );
}

#[test]
fn sighup_reloads_at_once_and_a_pinned_model_stays() {
    let env = Env::new();
    let first = outputs(&env.run("s", &[]))["syn/train.model"].clone();
    let polled = Server::start(&env, "s", &["--poll-interval", "3600", "--dataset", "syn"]);
    let pinned = Server::start(
        &env,
        "s",
        &["--poll-interval", "0.1", "--model", &first[..12]],
    );
    let second =
        outputs(&env.run("s", &["--set", "train.reg_param=0.5"]))["syn/train.model"].clone();
    let (mut a, mut b) = (Client::new(&polled.addr), Client::new(&pinned.addr));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(a.get("/healthz").1["models"]["syn"], first.as_str());
    polled.signal("HUP");
    let t0 = Instant::now();
    while a.get("/healthz").1["models"]["syn"] != second {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "SIGHUP did not reload: {}",
            polled.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, pinned_datasets) = b.get("/v1/datasets");
    let only: Vec<&Value> = pinned_datasets["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(only.len(), 1, "--model serves its dataset only");
    assert_eq!(
        (&only[0]["model"], &only[0]["pinned"]),
        (&json!(first), &json!(true))
    );
}

#[test]
fn serve_refuses_to_start_without_a_model_and_on_a_taken_port() {
    let env = Env::new();
    let o = env.out("empty", &["serve", "--addr", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no dataset has a trained model") && err.contains("run `alsflow run` first"),
        "{err}"
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = env.out("empty", &["serve", "--addr", &addr]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}
