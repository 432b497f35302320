//! Asking the local Spark installation about itself: its version (for the cache key)
//! and the Python it should use, with the errors a user can act on when something
//! is missing.

use crate::settings::SparkSettings;
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long `spark-submit --version` may take (a JVM start; minutes mean a hang).
const PROBE_TIMEOUT: Duration = Duration::from_secs(180);

/// Where `make spark-env` puts Spark; named in the messages that say how to get it.
const HOW_TO_GET_SPARK: &str = "install PySpark with `make spark-env` and set spark.submit = \
     \"spark/.venv/bin/spark-submit\", or put Spark's bin/ on PATH";

/// The Python for the driver and the Python workers: `spark.python`, else the
/// `python` beside the `spark-submit` program (a virtualenv's `bin/`), else none
/// (Spark's own default).
pub fn python_for(settings: &SparkSettings) -> Option<PathBuf> {
    if let Some(p) = &settings.python {
        return Some(PathBuf::from(p));
    }
    let submit = resolve_program(&settings.submit)?;
    let beside = submit.parent()?.join("python");
    beside.is_file().then_some(beside)
}

/// `program` as a path: itself when it names a path, else its first match on `PATH`.
fn resolve_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A `spark-submit` command with the environment alsflow runs it in.
pub(crate) fn submit_command(settings: &SparkSettings) -> Command {
    let mut cmd = Command::new(&settings.submit);
    if let Some(python) = python_for(settings) {
        // A pip-installed spark-submit also finds its SPARK_HOME through this Python.
        cmd.env("PYSPARK_PYTHON", &python)
            .env("PYSPARK_DRIVER_PYTHON", &python);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Answers of `spark-submit --version` by (program, Python): the version, or why not.
type VersionAnswers = HashMap<(String, Option<PathBuf>), Result<String, String>>;

/// Spark's version as `spark-submit --version` reports it, asked once per process
/// and settings (the answer, or the one-line reason it could not be had).
pub fn spark_version(settings: &SparkSettings) -> Result<String, String> {
    static ANSWERS: OnceLock<Mutex<VersionAnswers>> = OnceLock::new();
    let key = (settings.submit.clone(), python_for(settings));
    let answers = ANSWERS.get_or_init(Default::default);
    if let Some(a) = answers.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return a;
    }
    let answer = ask_version(settings);
    if let Ok(mut m) = answers.lock() {
        m.insert(key, answer.clone());
    }
    answer
}

fn ask_version(settings: &SparkSettings) -> Result<String, String> {
    let mut cmd = submit_command(settings);
    cmd.arg("--version");
    let (status, text) = run_captured(cmd, PROBE_TIMEOUT).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "Spark not found: cannot run spark.submit = \"{}\" (not found); {HOW_TO_GET_SPARK}",
            settings.submit
        ),
        std::io::ErrorKind::TimedOut => format!(
            "`{} --version` did not answer within {} s",
            settings.submit,
            PROBE_TIMEOUT.as_secs()
        ),
        _ => format!("cannot run spark.submit = \"{}\": {e}", settings.submit),
    })?;
    if let Some(v) = parse_version(&text) {
        if status.success() {
            return Ok(v);
        }
    }
    Err(explain_failure(settings, status, &text))
}

/// The version in Spark's banner (`   /_/ ...   version 4.3.0`).
pub(crate) fn parse_version(text: &str) -> Option<String> {
    text.split("version ").skip(1).find_map(|rest| {
        let v: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
            .collect();
        v.starts_with(|c: char| c.is_ascii_digit()).then_some(v)
    })
}

/// One line saying what is missing and how to get it, for a `spark-submit` that ran
/// but could not work.
pub(crate) fn explain_failure(settings: &SparkSettings, status: ExitStatus, text: &str) -> String {
    let last = crate::app::last_lines(text, 2);
    if text.contains("JAVA_HOME is not set") || text.contains("/bin/java: No such file") {
        return format!(
            "Java not found: spark-submit needs a Java 17 runtime (apt-get install \
             openjdk-17-jre-headless, or set JAVA_HOME to one): {last}"
        );
    }
    if text.contains("PySpark was not found") || text.contains("spark-class: No such file") {
        return format!(
            "PySpark not found by spark.submit = \"{}\": set spark.python to the Python that \
             has PySpark, or {HOW_TO_GET_SPARK}",
            settings.submit
        );
    }
    format!("`{} --version` failed ({status}): {last}", settings.submit)
}

/// Run `cmd` to completion within `timeout`, returning its status and its stdout and
/// stderr together.
fn run_captured(mut cmd: Command, timeout: Duration) -> std::io::Result<(ExitStatus, String)> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut readers = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        readers.push(std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = out.read_to_end(&mut s);
            s
        }));
    }
    if let Some(mut err) = child.stderr.take() {
        readers.push(std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = err.read_to_end(&mut s);
            s
        }));
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    for r in readers {
        text.push_str(&String::from_utf8_lossy(&r.join().unwrap_or_default()));
    }
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_gives_the_version() {
        let banner = "Welcome to\n   /___/ .__/\\_,_/_/ /_/\\_\\   version 4.3.0\n      /_/\n\
                      Using Scala version 2.13.18, OpenJDK";
        assert_eq!(parse_version(banner).as_deref(), Some("4.3.0"));
        assert_eq!(parse_version("no banner"), None);
    }

    #[test]
    fn a_missing_program_says_how_to_get_spark() {
        let s = SparkSettings {
            submit: "/nonexistent/bin/spark-submit".into(),
            ..SparkSettings::default()
        };
        let e = spark_version(&s).unwrap_err();
        assert!(e.starts_with("Spark not found"), "{e}");
        assert!(e.contains("make spark-env"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn the_python_beside_a_virtualenvs_spark_submit_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let submit = dir.path().join("spark-submit");
        std::fs::write(&submit, "").unwrap();
        let s = SparkSettings {
            submit: submit.display().to_string(),
            ..SparkSettings::default()
        };
        assert_eq!(python_for(&s), None);
        std::fs::write(dir.path().join("python"), "").unwrap();
        assert_eq!(python_for(&s), Some(dir.path().join("python")));
        let own = SparkSettings {
            python: Some("/opt/py".into()),
            ..s
        };
        assert_eq!(python_for(&own), Some(PathBuf::from("/opt/py")));
    }
}
