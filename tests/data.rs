//! End-to-end tests of data by name: presets downloaded from a loopback server serving
//! archives laid out like the real ones, the data lock, lineage of downloaded files,
//! `alsflow datasets`, `fetch` and `init`, and the preset-based default pipeline
//! against the explicit config it replaced.

mod common;

use alsflow_runner::test_support::{
    sha256_hex, tar_gz_archive, zip_archive, Entry, Reply, TestServer,
};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const U_DATA: &[u8] = b"1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t881250951\n\
2\t30\t1\t881250952\n3\t20\t2\t881250953\n3\t30\t5\t881250954\n";
const U_ITEM: &[u8] = b"10|Toy Story (1995)|x\n20|GoldenEye (1995)|x\n30|Four Rooms (1995)|x\n";

/// ml-100k.zip as GroupLens lays it out (a few of its files, tiny).
fn ml100k_zip() -> Vec<u8> {
    zip_archive(&[
        Entry::File("ml-100k/README", b"SUMMARY & USAGE LICENSE"),
        Entry::File("ml-100k/u.data", U_DATA),
        Entry::File("ml-100k/u.info", b"3 users\n3 items\n6 ratings\n"),
        Entry::File("ml-100k/u.item", U_ITEM),
    ])
}

/// A config with one preset dataset served by `url` (checksums as given), tune off.
fn preset_config(name: &str, preset: &str, url: &str, extra: &str) -> String {
    format!(
        "[[dataset]]\nname = \"{name}\"\npreset = \"{preset}\"\nurl = \"{url}\"\n{extra}\n\
         [split]\nfolds = 2\n[train]\nrank = 2\nmax_iter = 2\nthreads = 1\n[evaluate]\nk = 2\n"
    )
}

fn data_home(env: &Env) -> PathBuf {
    env.dir.path().join("data")
}

/// Every file and folder under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_zip_preset_downloads_verifies_unpacks_runs_and_shows_in_lineage() {
    let env = Env::new();
    let zip = ml100k_zip();
    let server = TestServer::start(vec![("/ml-100k.zip", Reply::Body(zip.clone()))]);
    env.write_config(&preset_config(
        "ml",
        "ml-100k",
        &server.url("/ml-100k.zip"),
        &format!("member_sha256 = \"{}\"", sha256_hex(U_DATA)),
    ));
    let r = env.run("s", &["preprocess"]);
    expect(&r, &[("ml/preprocess", "ran")]);
    let home = data_home(&env);
    assert_eq!(
        tree(&home),
        [
            "ml-100k",
            "ml-100k/README",
            "ml-100k/u.data",
            "ml-100k/u.item"
        ]
    );
    // The data lock beside the config records the archive and its files.
    let lock = std::fs::read_to_string(env.dir.path().join("pipeline.lock")).expect("lock");
    assert!(
        lock.contains(&sha256_hex(&zip)) && lock.contains("\"ml-100k/u.data\""),
        "{lock}"
    );
    // Titles came along: the items table has them.
    let items = r["ml/preprocess"]["outputs"]["items"]
        .as_str()
        .expect("items id")
        .to_string();
    let o = env.out("s", &["show", &items[..12]]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("GoldenEye"),
        "{}",
        stderr_of(&o)
    );
    // Lineage of the interactions: url, archive hash, member, member hash.
    let id = r["ml/preprocess"]["outputs"]["interactions"]
        .as_str()
        .expect("id")
        .to_string();
    let o = env.out("s", &["lineage", &id[..12], "--json"]);
    let tree: Value = serde_json::from_slice(&o.stdout).expect("lineage JSON");
    let src = &tree["producer"]["inputs"]["source"]["source"];
    assert_eq!(src["url"], server.url("/ml-100k.zip"));
    assert_eq!(src["archive_sha256"], sha256_hex(&zip));
    assert_eq!(src["member"], "ml-100k/u.data");
    assert_eq!(src["sha256"], sha256_hex(U_DATA));
    let text = String::from_utf8_lossy(&env.out("s", &["lineage", &id[..12]]).stdout).into_owned();
    assert!(
        text.contains(&format!("archive sha256 {}", sha256_hex(&zip)))
            && text.contains("member ml-100k/u.data"),
        "{text}"
    );
    // A second run downloads nothing and is cached.
    let again = env.run("s", &["preprocess"]);
    expect(&again, &[("ml/preprocess", "cached")]);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn the_first_download_pins_the_data_and_a_changed_upstream_is_refused() {
    let env = Env::new();
    let server = TestServer::start(vec![(
        "/v1/ml-1m.zip",
        Reply::Body(zip_archive(&[Entry::File(
            "ml-1m/ratings.dat",
            b"1::1::5::978300760\n1::2::3::978300761\n2::1::4::978300762\n",
        )])),
    )]);
    let url = server.url("/v1/ml-1m.zip");
    env.write_config(&preset_config("m", "ml-1m", &url, ""));
    env.run("s", &["preprocess"]);
    let lock_path = env.dir.path().join("pipeline.lock");
    let lock = std::fs::read_to_string(&lock_path).expect("lock");
    assert!(
        lock.contains("ml-1m/ratings.dat") && lock.contains(&url),
        "{lock}"
    );
    // Upstream changes (another archive at the same URL): the next download must match.
    drop(server);
    let other = zip_archive(&[Entry::File("ml-1m/ratings.dat", b"9::9::1::978300760\n")]);
    let server = TestServer::start(vec![("/v1/ml-1m.zip", Reply::Body(other.clone()))]);
    let new_url = server.url("/v1/ml-1m.zip");
    // Same URL as recorded: the port differs per server, so rewrite the lock's URL.
    std::fs::write(&lock_path, lock.replace(&url, &new_url)).expect("lock");
    env.write_config(&preset_config("m", "ml-1m", &new_url, ""));
    std::fs::remove_dir_all(data_home(&env)).expect("rm data");
    let o = env.out("s", &["run", "preprocess"]);
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sha256 mismatch")
            && err.contains(&sha256_hex(&other))
            && err.contains("pipeline.lock"),
        "{err}"
    );
    assert!(
        tree(&data_home(&env)).is_empty(),
        "{:?}",
        tree(&data_home(&env))
    );
}

#[test]
fn a_tar_gz_preset_downloads_after_a_cut_connection_and_runs() {
    let env = Env::new();
    let tsv = b"u1\tmb1\tthe beatles\t120\nu1\t\tradiohead\t7\nu2\tmb1\tthe beatles\t3\n\
u2\tmb3\t\"weird\" al\t1\nu3\t\tradiohead\t40\nu3\tmb1\tthe beatles\t2\n";
    let tgz = tar_gz_archive(&[
        Entry::File("lastfm-dataset-360K/README.txt", b"non-commercial use"),
        Entry::File(
            "lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv",
            tsv,
        ),
        Entry::File(
            "lastfm-dataset-360K/usersha1-profile.tsv",
            b"u1\tf\t22\tGermany\tFeb 1, 2007\n",
        ),
    ]);
    let server = TestServer::start(vec![(
        "/lastfm.tar.gz",
        Reply::CutOnce {
            body: tgz.clone(),
            after: tgz.len() / 3,
        },
    )]);
    env.write_config(&preset_config(
        "fm",
        "lastfm-360k",
        &server.url("/lastfm.tar.gz"),
        "",
    ));
    let o = env.out("s", &["run", "preprocess", "--json"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].range, Some(format!("bytes={}-", tgz.len() / 3)));
    assert!(stderr_of(&o).contains("broke off"), "{}", stderr_of(&o));
    let o = env.out("s", &["status"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("fresh"));
    assert_eq!(
        tree(&data_home(&env)),
        [
            "lastfm-360k",
            "lastfm-360k/README.txt",
            "lastfm-360k/usersha1-artmbid-artname-plays.tsv"
        ]
    );
}

#[test]
fn failed_downloads_are_clear_errors_that_leave_nothing_behind() {
    let env = Env::new();
    let zip = ml100k_zip();
    let server = TestServer::start(vec![("/ml-100k.zip", Reply::Body(zip.clone()))]);
    let url = server.url("/ml-100k.zip");
    let home = data_home(&env);
    let cases: Vec<(String, Option<i32>, Vec<String>)> = vec![
        (
            preset_config("ml", "ml-100k", &url, "max_download_bytes = 100"),
            Some(1),
            vec!["max_download_bytes = 100".into(), "larger".into()],
        ),
        (
            preset_config(
                "ml",
                "ml-100k",
                &url,
                &format!("sha256 = \"{}\"", "ab".repeat(32)),
            ),
            Some(1),
            vec!["sha256 mismatch".into(), "ab".repeat(32), sha256_hex(&zip)],
        ),
        (
            preset_config("ml", "ml-100k", &server.url("/gone.zip"), ""),
            Some(3),
            vec!["404".into(), "ml-100k/u.data".into()],
        ),
        (
            preset_config("ml", "ml-100k", &url, "member = \"../ml-100k/u.data\""),
            Some(1),
            vec!["member = \"../ml-100k/u.data\"".into()],
        ),
        (
            preset_config("ml", "ml-100k", &url, "path = \"../outside/u.data\""),
            Some(1),
            vec!["outside the data home".into()],
        ),
    ];
    for (config, code, needles) in cases {
        env.write_config(&config);
        let o = env.out("s", &["run", "preprocess"]);
        let err = stderr_of(&o);
        assert_eq!(o.status.code(), code, "{config}\n{err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{err}");
        for n in &needles {
            assert!(last.contains(n.as_str()), "missing {n:?} in {last}");
        }
        assert!(tree(&home).is_empty(), "{config}: {:?}", tree(&home));
        assert!(!env.dir.path().join("outside").exists());
        assert!(!env.dir.path().join("pipeline.lock").exists());
    }
}

#[test]
fn offline_a_missing_preset_is_exit_code_3() {
    // Port 1 on loopback refuses connections, like a machine without network.
    let env = Env::new();
    env.write_config(&preset_config(
        "ml",
        "ml-latest-small",
        "http://127.0.0.1:1/ml-latest-small.zip",
        "",
    ));
    let o = env.out("s", &["run"]);
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("ml-latest-small/ratings.csv") && err.contains("download"),
        "{err}"
    );
    assert!(
        tree(&data_home(&env)).is_empty(),
        "{:?}",
        tree(&data_home(&env))
    );
}

#[test]
fn datasets_lists_every_preset_and_run_without_a_config_says_how_to_make_one() {
    let env = Env::new();
    let o = env.out("s", &["datasets", "--json"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let list: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for want in [
        "ml-100k",
        "ml-1m",
        "ml-10m",
        "ml-20m",
        "ml-25m",
        "ml-32m",
        "ml-latest-small",
        "ml-latest",
        "msd-course-subset",
        "msd-taste-profile",
        "lastfm-360k",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    let text = String::from_utf8_lossy(&env.out("s", &["datasets"]).stdout).into_owned();
    assert!(
        text.contains("100,836 rows") && text.contains("F. Maxwell Harper"),
        "{text}"
    );

    let empty = tempfile::tempdir().expect("tempdir");
    let o = Command::new(bin())
        .arg("run")
        .current_dir(empty.path())
        .env_remove("ALSFLOW_DATA")
        .output()
        .expect("run");
    let err = stderr_of(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no pipeline config at pipeline.toml") && err.contains("alsflow init"),
        "{err}"
    );
    assert!(!empty.path().join("artifacts").exists(), "nothing created");
}

#[test]
fn init_then_run_completes_on_the_shared_data() {
    let Some(data) = alsflow_core::test_support::shared_data_or_skip("init_then_run") else {
        return;
    };
    let empty = tempfile::tempdir().expect("tempdir");
    let cmd = |args: &[&str]| {
        Command::new(bin())
            .args(args)
            .current_dir(empty.path())
            .env("ALSFLOW_DATA", &data)
            .env_remove("ALSFLOW_STORE")
            .env_remove("RUST_LOG")
            .output()
            .expect("alsflow")
    };
    let o = cmd(&["init", "--preset", "ml-100k"]);
    assert!(o.status.success(), "{}", stderr_of(&o));
    let config = std::fs::read_to_string(empty.path().join("pipeline.toml")).expect("config");
    assert!(config.contains("preset = \"ml-100k\""), "{config}");
    let o = cmd(&["run"]);
    let err = stderr_of(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("done: 4 ran, 0 cached"), "{err}");
    assert!(err.contains("100000 rows read"), "{err}");
    let o = cmd(&["metrics", "--json"]);
    let m: Value = serde_json::from_slice(&o.stdout).expect("metrics");
    assert!(m["ml-100k"]["model"]["roem"].as_f64().is_some(), "{m}");
    // Never over an existing config.
    let o = cmd(&["init", "--preset", "ml-1m"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr_of(&o).contains("refusing to overwrite"),
        "{}",
        stderr_of(&o)
    );
    let again = std::fs::read_to_string(empty.path().join("pipeline.toml")).expect("config");
    assert_eq!(again, config);
    // The data's terms and citation, for a preset already in the data home.
    let o = cmd(&["fetch", "ml-100k"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", stderr_of(&o));
    assert!(out.contains("already in the data home"), "{out}");
    assert!(
        out.contains("may not redistribute") && out.contains("10.1145/2827872"),
        "{out}"
    );
}

/// The pipeline.toml of the repository before presets: explicit paths and keys.
const EXPLICIT_DEFAULT: &str = r#"
[[dataset]]
name = "movielens"
path = "ml-latest-small/ratings.csv"
format = "movielens"
feedback = "binary"

[[dataset]]
name = "msd"
path = "msd-course-subset/ratings.csv"
format = "delimited"
delimiter = ","
header = true
columns = { user = "userId", item = "songId", value = "num_plays" }
feedback = "count"
"#;

#[test]
fn the_preset_based_default_pipeline_gives_the_explicit_configs_counts_and_ids() {
    let Some(data) = alsflow_core::test_support::shared_data_or_skip("preset_default") else {
        return;
    };
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipeline.toml");
    let text = std::fs::read_to_string(&default).expect("pipeline.toml");
    assert!(
        text.contains("preset = \"ml-latest-small\"")
            && text.contains("preset = \"msd-course-subset\"")
    );
    // The same stage sections, with the explicit dataset tables instead.
    let sections = &text[text.find("\n[split]").expect("[split]")..];
    let explicit = format!("{EXPLICIT_DEFAULT}{sections}");
    let run = |config: &str, store: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pipeline.toml");
        std::fs::write(&path, config).expect("config");
        let o = Command::new(bin())
            .args(["--config", &path.display().to_string(), "--store"])
            .arg(dir.path().join(store))
            .args([
                "--data",
                &data.display().to_string(),
                "run",
                "preprocess",
                "split",
                "--json",
            ])
            .env_remove("RUST_LOG")
            .output()
            .expect("run");
        assert!(o.status.success(), "{}", stderr_of(&o));
        assert!(
            !path.with_extension("lock").exists(),
            "nothing was downloaded"
        );
        (parse_reports(&o.stdout), stderr_of(&o))
    };
    let (preset, _) = run(&text, "a");
    let (explicit, log) = run(&explicit, "b");
    assert_eq!(outputs(&preset), outputs(&explicit));
    assert_eq!(outputs(&preset).len(), 12, "{:?}", outputs(&preset));
    assert!(
        log.contains("100836 interactions") || log.contains("100836 rows read"),
        "{log}"
    );
}
