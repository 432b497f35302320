//! The writer lock: one writing process at a time, waiting with a message.

use super::*;

#[test]
fn a_second_open_waits_then_fails_with_locked_and_succeeds_once_released() {
    let dir = TempDir::new().unwrap();
    let first = open(&dir);
    let id = first.put(b"x", Format::Json, "x").unwrap();
    let started = Instant::now();
    match Store::open(dir.path(), Duration::from_millis(300)) {
        Err(StoreError::Locked { path, waited }) => {
            assert_eq!(path, dir.path().join("lock"));
            assert!(waited >= Duration::from_millis(300), "{waited:?}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // The holder wrote its pid for the waiter's message.
    assert_eq!(
        fs::read_to_string(dir.path().join("lock")).unwrap(),
        std::process::id().to_string()
    );
    drop(first);
    let second = Store::open(dir.path(), SHORT).expect("open after release");
    assert_eq!(second.read(&id).unwrap(), b"x");
}

#[test]
fn a_waiting_open_gets_the_lock_when_the_holder_finishes() {
    let dir = TempDir::new().unwrap();
    let first = open(&dir);
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(first);
    });
    let second = Store::open(dir.path(), Duration::from_secs(20)).expect("waits, then opens");
    holder.join().unwrap();
    drop(second);
}

#[test]
fn another_process_holding_the_lock_makes_open_wait_or_fail() {
    let dir = TempDir::new().unwrap();
    let mut child = spawn_child("hold", dir.path());
    wait_for(&dir.path().join("child-ready"));
    // The holder's pid is in the lock file for the waiting message.
    let holder = fs::read_to_string(dir.path().join("lock")).unwrap();
    assert_eq!(holder, child.id().to_string());
    assert!(matches!(
        Store::open(dir.path(), Duration::from_millis(100)),
        Err(StoreError::Locked { .. })
    ));
    // With a longer timeout we wait until the child exits, then open.
    let store =
        Store::open(dir.path(), Duration::from_secs(30)).expect("opens once the holder exits");
    assert!(child.wait().unwrap().success());
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn a_waiting_process_says_who_holds_the_lock_then_fails_clearly() {
    let dir = TempDir::new().unwrap();
    let _held = open(&dir);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::child_process_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "noop")
        .env("ALSFLOW_STORE_TEST_ROOT", dir.path())
        .env("ALSFLOW_STORE_TEST_TIMEOUT_MS", "300")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lock = dir.path().join("lock");
    let waiting = format!(
        "waiting for the store lock at {} (held by pid {})",
        lock.display(),
        std::process::id()
    );
    assert_eq!(
        stderr.matches(&waiting).count(),
        1,
        "printed once: {stderr}"
    );
    assert!(
        stderr.contains("is locked by another alsflow process; gave up after 0.3 s"),
        "{stderr}"
    );
}
