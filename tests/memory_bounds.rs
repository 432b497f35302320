//! Memory bounds of the real binary on hostile input, measured by the kernel: the peak
//! resident set of the `alsflow` child process (`wait4`'s resource usage), which counts
//! heap and memory-mapped file pages alike.

mod common;

use common::bin;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// A line of delimiters this long (100 MiB).
const WIDE: usize = 100 << 20;

/// The ceiling on the child's peak RSS while it rejects such a line.
const CEILING: u64 = 200 << 20;

/// Run `cmd` to completion; its exit code, stderr and peak RSS in bytes.
// The child is reaped by `wait4` (which also reports its resource usage), not `wait`.
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: Command, stderr_to: &Path) -> (i32, String, u64) {
    cmd.stdout(Stdio::null())
        .stderr(File::create(stderr_to).expect("stderr file"));
    let child = cmd.spawn().expect("spawn alsflow");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own unwaited child; both out-pointers are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // Linux reports ru_maxrss in KiB.
    let peak = usage.ru_maxrss as u64 * 1024;
    let stderr = std::fs::read_to_string(stderr_to).unwrap_or_default();
    (code, stderr, peak)
}

/// A headerless `user,item,plays` file whose line `wide_line` (1-based) is `WIDE`
/// commas and whose other lines are well-formed.
fn write_file(path: &Path, wide_line: usize) {
    let mut w = BufWriter::new(File::create(path).expect("create"));
    for line in 1..=6 {
        if line == wide_line {
            w.write_all(&vec![b','; WIDE]).unwrap();
            w.write_all(b"\n").unwrap();
        } else {
            writeln!(w, "u{line},i{line},{line}").unwrap();
        }
    }
    w.flush().unwrap();
}

fn config(path: &Path) -> String {
    format!(
        r#"
[[dataset]]
name = "wide"
path = "{}"
format = "delimited"
header = false
columns = {{ user = 0, item = 1, value = 2 }}
feedback = "count"
"#,
        path.display()
    )
}

#[test]
fn a_100_mb_line_of_delimiters_fails_clearly_below_200_mb_peak_rss() {
    let dir = tempfile::tempdir().unwrap();
    // Line 4 is a data line: it must fail at the expected column count (3). Line 1
    // sets the column count of a headerless file: it must fail at the column limit.
    for (wide_line, expect) in [
        (
            4,
            format!("wide.csv:4: expected 3 columns, found {}", WIDE + 1),
        ),
        (
            1,
            format!(
                "wide.csv:1: the line has {} columns; at most 65536",
                WIDE + 1
            ),
        ),
    ] {
        let data = dir.path().join("wide.csv");
        write_file(&data, wide_line);
        let cfg = dir.path().join("pipeline.toml");
        std::fs::write(&cfg, config(&data)).unwrap();
        let mut cmd = Command::new(bin());
        cmd.arg("--store")
            .arg(dir.path().join(format!("store{wide_line}")))
            .arg("--config")
            .arg(&cfg)
            .args(["run", "preprocess"]);
        let (code, stderr, peak) = run_measured(cmd, &dir.path().join("stderr.txt"));
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains(&expect),
            "expected {expect:?} in:\n{stderr}"
        );
        assert!(
            peak < CEILING,
            "peak RSS {:.0} MB while rejecting a {} MB line (ceiling {} MB)",
            peak as f64 / 1e6,
            WIDE >> 20,
            CEILING >> 20
        );
        eprintln!(
            "wide line {wide_line}: rejected with peak RSS {:.0} MB",
            peak as f64 / 1e6
        );
    }
}
