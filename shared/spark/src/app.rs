//! One Spark application: `spark-submit` of the driver script with a job file, its
//! protocol lines read as they arrive, the tail of its stderr kept for the error
//! message, and the process ended (not orphaned) when alsflow stops early.

use crate::probe::submit_command;
use crate::settings::SparkSettings;
use serde::Deserialize;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The prefix of the driver's protocol lines on stdout (`spark/alsflow_spark.py`).
const PREFIX: &str = "ALSFLOW ";
/// Lines of output kept for the error message of a failed application.
const OUTPUT_KEPT: usize = 200;
/// How long a stopped application may take to shut down before it is killed.
const GRACE: Duration = Duration::from_secs(10);

/// What the driver reports, one JSON object per protocol line.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// The Spark session is up.
    Started {
        spark_version: String,
        app_id: String,
    },
    /// The task counts of the active Spark stage.
    Progress {
        stage: u64,
        name: String,
        tasks_done: u64,
        tasks: u64,
    },
    /// Fit `index`'s factors are completely written.
    FitDone { index: usize, seconds: f64 },
    /// Every fit is done.
    Done,
}

/// The `spark-submit` process; ended (SIGTERM, then SIGKILL) if dropped while running.
struct Running {
    child: Child,
    finished: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // SIGTERM first: the JVM's shutdown hooks stop the SparkContext (telling a
        // cluster's master the application ended) and delete Spark's temp files.
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a pid this process spawned and has not reaped yet
            // (the Child is still unwaited), so the pid cannot have been reused.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// For a standalone master (`spark://host:port[,host:port]`), fail fast when none of
/// its addresses accepts a connection: Spark itself retries for a minute before
/// giving up.
pub(crate) fn check_master_reachable(master: &str) -> Result<(), String> {
    let Some(hosts) = master.strip_prefix("spark://") else {
        return Ok(());
    };
    let mut last_error = String::from("no address");
    for host in hosts.split(',') {
        let addrs = match host.to_socket_addrs() {
            Ok(a) => a,
            Err(e) => {
                last_error = format!("{host}: {e}");
                continue;
            }
        };
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
                Ok(_) => return Ok(()),
                Err(e) => last_error = format!("{addr}: {e}"),
            }
        }
    }
    Err(format!(
        "cannot reach the Spark master spark.master = \"{master}\" ({last_error}); \
         is the cluster running?"
    ))
}

/// Run the driver `script` on `job` as application `name`, calling `on_event` for
/// every protocol line as it arrives. Errors are one line: the process could not
/// start, `on_event` failed (the application is then stopped), or the application
/// failed (with the last meaningful lines of Spark's stderr).
pub(crate) fn run_application(
    settings: &SparkSettings,
    script: &Path,
    job: &Path,
    name: &str,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
) -> Result<(), String> {
    let mut cmd = submit_command(settings);
    cmd.arg("--master")
        .arg(&settings.master)
        .arg("--deploy-mode")
        .arg(settings.deploy_mode.as_str())
        .arg("--name")
        .arg(name);
    for (key, value) in &settings.conf {
        cmd.arg("--conf").arg(format!("{key}={value}"));
    }
    // Progress comes through the protocol; Spark's console bar would only garble stderr.
    cmd.arg("--conf")
        .arg("spark.ui.showConsoleProgress=false")
        .arg(script)
        .arg(job)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run spark.submit = \"{}\": {e}", settings.submit))?;
    let mut running = Running {
        child,
        finished: false,
    };
    // The end of everything the application said besides the protocol: Spark logs to
    // stderr, while the Python driver's tracebacks come through Spark's stdout.
    let tail: Arc<Mutex<VecDeque<String>>> = Arc::default();
    let keep = |tail: &Mutex<VecDeque<String>>, line: String| {
        if let Ok(mut t) = tail.lock() {
            if t.len() == OUTPUT_KEPT {
                t.pop_front();
            }
            t.push_back(line);
        }
    };
    let stderr_reader = running.child.stderr.take().map(|err| {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                keep(&tail, line);
            }
        })
    });
    let mut done = false;
    if let Some(out) = running.child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line.map_err(|e| format!("reading the Spark driver's output: {e}"))?;
            let Some(json) = line.strip_prefix(PREFIX) else {
                keep(&tail, line);
                continue;
            };
            let event: Event = serde_json::from_str(json)
                .map_err(|e| format!("the Spark driver sent a bad line ({e}): {line}"))?;
            done |= event == Event::Done;
            on_event(event)?;
        }
    }
    let status = running
        .child
        .wait()
        .map_err(|e| format!("waiting for spark-submit: {e}"))?;
    running.finished = true;
    if let Some(r) = stderr_reader {
        let _ = r.join();
    }
    if status.success() && done {
        return Ok(());
    }
    let text: Vec<String> = tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    let last = last_lines(&text.join("\n"), 2);
    Err(format!(
        "the Spark application failed ({status}{}); its output ends: {last}",
        if status.success() {
            ", without finishing its fits"
        } else {
            ""
        }
    ))
}

/// The last `n` meaningful lines of a program's output, joined into one line:
/// stack frames, tracebacks' file lines and Spark's INFO logging left out.
pub(crate) fn last_lines(text: &str, n: usize) -> String {
    let meaningful: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| {
            !l.trim().is_empty()
                && !l.starts_with(char::is_whitespace)
                && !l.starts_with("Traceback")
                && !is_routine_log_line(l)
        })
        .collect();
    // An exception's own line says most; the lines before it are often warnings.
    let errors: Vec<&str> = meaningful
        .iter()
        .copied()
        .filter(|l| l.contains("Exception") || l.contains("Error"))
        .collect();
    let chosen = if errors.is_empty() {
        meaningful
    } else {
        errors
    };
    let start = chosen.len().saturating_sub(n);
    if chosen.is_empty() {
        "(nothing)".into()
    } else {
        chosen[start..].join(" | ")
    }
}

/// `26/11/29 08:44:28 INFO SparkContext: ...`: log4j's routine lines.
fn is_routine_log_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 18
        && b[2] == b'/'
        && b[5] == b'/'
        && [" INFO ", " DEBUG ", " TRACE "]
            .iter()
            .any(|level| line[..line.len().min(40)].contains(level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_skip_stack_frames_and_routine_logging() {
        let stderr = "26/11/29 08:44:28 INFO SparkContext: Running Spark version 4.3.0\n\
                      Traceback (most recent call last):\n  File \"alsflow_spark.py\", line 9, in <module>\n\
                      java.lang.NumberFormatException: Size must be specified as bytes\n\
                      \tat org.apache.spark.network.util.JavaUtils.byteStringAs(JavaUtils.java:1)\n\
                      26/11/29 08:44:29 INFO ShutdownHookManager: Shutdown hook called\n";
        assert_eq!(
            last_lines(stderr, 3),
            "java.lang.NumberFormatException: Size must be specified as bytes"
        );
        assert_eq!(last_lines("", 3), "(nothing)");
        assert_eq!(last_lines("a\nb\nc\nd", 2), "c | d");
    }

    #[test]
    fn protocol_lines_decode() {
        let e: Event =
            serde_json::from_str(r#"{"event": "fit_done", "index": 3, "seconds": 1.5}"#).unwrap();
        assert_eq!(
            e,
            Event::FitDone {
                index: 3,
                seconds: 1.5
            }
        );
        let e: Event = serde_json::from_str(
            r#"{"event": "progress", "stage": 4, "name": "count", "tasks_done": 1, "tasks": 4}"#,
        )
        .unwrap();
        assert!(matches!(e, Event::Progress { tasks: 4, .. }));
    }

    #[test]
    fn an_unreachable_standalone_master_fails_fast_and_names_the_key() {
        // A port nothing listens on: bind one, then close it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = check_master_reachable(&format!("spark://127.0.0.1:{port}")).unwrap_err();
        assert!(e.contains("spark.master"), "{e}");
        assert!(check_master_reachable("local[*]").is_ok());
    }
}
