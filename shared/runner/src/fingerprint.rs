//! Code fingerprints of the stage crates: shared by `build.rs` (which bakes them into
//! the runner) and the runner's tests (which check what changes them).
//!
//! A stage crate's fingerprint is blake3 over
//! - the `src/` tree, `Cargo.toml` and `build.rs` of the crate and of every workspace
//!   crate in its dependency closure (normal and build dependencies, not dev or
//!   optional ones), and
//! - the locked `name version` of every registry package in that closure (from
//!   `Cargo.lock`).
//!
//! So editing a stage's tests, benches or README, or bumping a package only the CLI
//! uses, changes no fingerprint; editing `stages/train/src/lib.rs` changes train's only;
//! editing `shared/core/src` changes all of them. Stage crates are the workspace
//! members under `stages/`. Any read or parse error is an error (the build fails).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A file could not be read or parsed, or the workspace is inconsistent.
#[derive(Debug)]
pub struct FingerprintError(pub String);

impl std::fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FingerprintError {}

type Result<T> = std::result::Result<T, FingerprintError>;

fn fail<T>(path: &Path, why: &str) -> Result<T> {
    Err(FingerprintError(format!("{}: {why}", path.display())))
}

/// One stage crate's fingerprint and the files it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Fingerprint {
    /// The stage crate's package name.
    pub crate_name: String,
    /// blake3 hex.
    pub hex: String,
    /// Workspace crates in the closure.
    pub workspace_crates: usize,
    /// Locked registry packages in the closure.
    pub locked_packages: usize,
}

/// The fingerprints of every stage crate of the workspace at `root`, and every file
/// and directory they read (for `cargo:rerun-if-changed`).
pub fn fingerprints(root: &Path) -> Result<(Vec<Fingerprint>, Vec<PathBuf>)> {
    let mut watched = Vec::new();
    let root_toml_path = root.join("Cargo.toml");
    watched.push(root_toml_path.clone());
    let root_toml = read_toml(&root_toml_path)?;
    let Some(members) = root_toml
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
    else {
        return fail(&root_toml_path, "no [workspace] members list");
    };
    let mut member_dirs = Vec::new();
    for m in members {
        match m.as_str() {
            Some(m) => member_dirs.push(m.to_string()),
            None => return fail(&root_toml_path, "a workspace member is not a string"),
        }
    }
    // Workspace package name → (directory, manifest).
    let mut crates: BTreeMap<String, (PathBuf, toml::Table)> = BTreeMap::new();
    let mut stage_crates = Vec::new();
    for m in &member_dirs {
        let dir = root.join(m);
        let path = dir.join("Cargo.toml");
        watched.push(path.clone());
        let t = read_toml(&path)?;
        let Some(name) = t
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        else {
            return fail(&path, "no [package] name");
        };
        if m.starts_with("stages/") {
            stage_crates.push(name.to_string());
        }
        crates.insert(name.to_string(), (dir, t));
    }
    let lock_path = root.join("Cargo.lock");
    watched.push(lock_path.clone());
    let lock = Lock::read(&lock_path)?;

    let mut out = Vec::new();
    for name in stage_crates {
        let (ws, external) = closure(&name, &crates, &lock)?;
        let mut h = blake3::Hasher::new();
        for dep in &ws {
            let (dir, _) = &crates[dep];
            let mut files = vec![dir.join("Cargo.toml")];
            if dir.join("build.rs").is_file() {
                files.push(dir.join("build.rs"));
            }
            files.extend(files_under(&dir.join("src"), &mut watched)?);
            for file in files {
                let rel = file.strip_prefix(root).unwrap_or(&file);
                let bytes = match std::fs::read(&file) {
                    Ok(b) => b,
                    Err(e) => return fail(&file, &format!("cannot read: {e}")),
                };
                field(&mut h, rel.to_string_lossy().as_bytes());
                field(&mut h, &bytes);
                watched.push(file);
            }
        }
        for pkg in &external {
            field(&mut h, pkg.as_bytes());
        }
        out.push(Fingerprint {
            crate_name: name,
            hex: h.finalize().to_hex().to_string(),
            workspace_crates: ws.len(),
            locked_packages: external.len(),
        });
    }
    Ok((out, watched))
}

fn field(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn read_toml(path: &Path) -> Result<toml::Table> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(path, &format!("cannot read: {e}")),
    };
    text.parse::<toml::Table>()
        .or_else(|e| fail(path, &format!("not valid TOML: {e}")))
}

/// `Cargo.lock`: each package's version and dependency list.
struct Lock {
    /// "name version" → dependencies as "name version".
    packages: BTreeMap<String, Vec<String>>,
    /// name → every locked version.
    versions: BTreeMap<String, Vec<String>>,
}

impl Lock {
    fn read(path: &Path) -> Result<Lock> {
        let t = read_toml(path)?;
        let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let Some(list) = t.get("package").and_then(|p| p.as_array()) else {
            return fail(path, "no [[package]] entries");
        };
        let mut raw: Vec<(String, String, Vec<String>)> = Vec::new();
        for p in list {
            let get = |k: &str| match p.get(k).and_then(|v| v.as_str()) {
                Some(v) => Ok(v.to_string()),
                None => fail(path, &format!("a package lacks '{k}'")),
            };
            let (name, version) = (get("name")?, get("version")?);
            let deps = p
                .get("dependencies")
                .and_then(|d| d.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|d| d.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            versions
                .entry(name.clone())
                .or_default()
                .push(version.clone());
            raw.push((name, version, deps));
        }
        let mut packages = BTreeMap::new();
        for (name, version, deps) in &raw {
            let resolved = deps
                .iter()
                .map(|d| Self::resolve_in(&versions, d, path))
                .collect::<Result<Vec<_>>>()?;
            packages.insert(format!("{name} {version}"), resolved);
        }
        Ok(Lock { packages, versions })
    }

    /// "name" or "name version" or "name version (source)" → "name version".
    fn resolve_in(
        versions: &BTreeMap<String, Vec<String>>,
        dep: &str,
        path: &Path,
    ) -> Result<String> {
        let mut parts = dep.split_whitespace();
        let Some(name) = parts.next() else {
            return fail(path, "empty dependency");
        };
        match parts.next() {
            Some(v) => Ok(format!("{name} {v}")),
            None => match versions.get(name).map(Vec::as_slice) {
                Some([v]) => Ok(format!("{name} {v}")),
                _ => fail(path, &format!("dependency '{dep}' is ambiguous or unknown")),
            },
        }
    }

    /// The locked "name version" a workspace package `owner` depends on for `dep`.
    fn dep_of(&self, owner: &str, dep: &str) -> Option<String> {
        let (_, deps) = self
            .packages
            .iter()
            .find(|(k, _)| k.split(' ').next() == Some(owner))?;
        deps.iter()
            .find(|d| d.split(' ').next() == Some(dep))
            .cloned()
            .or_else(|| match self.versions.get(dep).map(Vec::as_slice) {
                Some([v]) => Some(format!("{dep} {v}")),
                _ => None,
            })
    }
}

/// The workspace crates (sorted names) and locked registry packages ("name version",
/// sorted) in `name`'s closure of normal and build dependencies.
fn closure(
    name: &str,
    crates: &BTreeMap<String, (PathBuf, toml::Table)>,
    lock: &Lock,
) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    let mut ws = BTreeSet::new();
    let mut external = BTreeSet::new();
    let mut todo = vec![name.to_string()];
    while let Some(n) = todo.pop() {
        if !ws.insert(n.clone()) {
            continue;
        }
        let (dir, manifest) = &crates[&n];
        for section in ["dependencies", "build-dependencies"] {
            let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) else {
                continue;
            };
            for (dep, spec) in deps {
                if spec.get("optional").and_then(|o| o.as_bool()) == Some(true) {
                    continue;
                }
                if crates.contains_key(dep) {
                    todo.push(dep.clone());
                    continue;
                }
                let Some(locked) = lock.dep_of(&n, dep) else {
                    return fail(
                        &dir.join("Cargo.toml"),
                        &format!("dependency '{dep}' is not in Cargo.lock"),
                    );
                };
                let mut stack = vec![locked];
                while let Some(p) = stack.pop() {
                    if external.insert(p.clone()) {
                        if let Some(deps) = lock.packages.get(&p) {
                            stack.extend(deps.iter().cloned());
                        }
                    }
                }
            }
        }
    }
    Ok((ws, external))
}

/// Every regular file under `dir` (recursively, skipping dot-files), sorted; each
/// directory is added to `watched` so a new file triggers a rebuild.
fn files_under(dir: &Path, watched: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        watched.push(d.clone());
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) => return fail(&d, &format!("cannot list: {e}")),
        };
        for e in entries {
            let e = match e {
                Ok(e) => e,
                Err(err) => return fail(&d, &format!("cannot list: {err}")),
            };
            let p = e.path();
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let ty = match e.file_type() {
                Ok(t) => t,
                Err(err) => return fail(&p, &format!("cannot stat: {err}")),
            };
            if ty.is_dir() {
                stack.push(p);
            } else if ty.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
version = 4

[[package]]
name = "alsflow"
version = "0.1.0"
dependencies = ["alsflow-train", "clap"]

[[package]]
name = "alsflow-core"
version = "0.1.0"
dependencies = ["serde"]

[[package]]
name = "alsflow-train"
version = "0.1.0"
dependencies = ["alsflow-core", "proptest"]

[[package]]
name = "clap"
version = "4.0.0"
dependencies = ["clap_lex"]

[[package]]
name = "clap_lex"
version = "0.1.0"

[[package]]
name = "proptest"
version = "1.0.0"

[[package]]
name = "serde"
version = "1.0.1"
"#;

    /// A tiny workspace: core ← train (a stage) ← cli.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w(
            "Cargo.toml",
            "[workspace]\nmembers = [\"shared/core\", \"stages/train\", \"shared/cli\"]\n",
        );
        w(
            "shared/core/Cargo.toml",
            "[package]\nname = \"alsflow-core\"\n[dependencies]\nserde = \"1\"\n",
        );
        w("shared/core/src/lib.rs", "pub fn core() {}\n");
        w(
            "stages/train/Cargo.toml",
            "[package]\nname = \"alsflow-train\"\n[dependencies]\nalsflow-core = { path = \"../../shared/core\" }\n[dev-dependencies]\nproptest = \"1\"\n",
        );
        w("stages/train/src/lib.rs", "pub fn train() {}\n");
        w("stages/train/tests/it.rs", "#[test] fn t() {}\n");
        w("stages/train/README.md", "train\n");
        w(
            "shared/cli/Cargo.toml",
            "[package]\nname = \"alsflow\"\n[dependencies]\nclap = \"4\"\nalsflow-train = { path = \"../../stages/train\" }\n",
        );
        w("shared/cli/src/main.rs", "fn main() {}\n");
        w("Cargo.lock", LOCK);
        dir
    }

    fn train(root: &Path) -> String {
        let (prints, _) = fingerprints(root).unwrap();
        assert_eq!(prints.len(), 1, "one stage crate");
        assert_eq!(prints[0].crate_name, "alsflow-train");
        prints[0].hex.clone()
    }

    fn edit(root: &Path, rel: &str, f: impl Fn(String) -> String) {
        let p = root.join(rel);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, f(text)).unwrap();
    }

    #[test]
    fn tests_readmes_and_cli_only_packages_leave_it_alone() {
        let ws = workspace();
        let root = ws.path();
        let before = train(root);
        edit(root, "stages/train/tests/it.rs", |t| t + "// more\n");
        edit(root, "stages/train/README.md", |t| t + "more\n");
        edit(root, "shared/cli/src/main.rs", |t| t + "// more\n");
        // clap is only the CLI's: bump it.
        edit(root, "Cargo.lock", |t| t.replace("4.0.0", "4.1.0"));
        // proptest is only a dev-dependency of the stage: bump it too.
        edit(root, "Cargo.lock", |t| t.replace("1.0.0", "1.1.0"));
        assert_eq!(train(root), before);
    }

    #[test]
    fn sources_and_locked_dependencies_of_the_closure_change_it() {
        let ws = workspace();
        let root = ws.path();
        let mut last = train(root);
        let mut changed = |what: &str, f: &dyn Fn()| {
            f();
            let now = train(root);
            assert_ne!(now, last, "{what} must change the fingerprint");
            last = now;
        };
        changed("the stage's src", &|| {
            edit(root, "stages/train/src/lib.rs", |t| t + "// edit\n")
        });
        changed("a new file in src", &|| {
            std::fs::write(root.join("stages/train/src/extra.rs"), "").unwrap()
        });
        changed("a dependency's src", &|| {
            edit(root, "shared/core/src/lib.rs", |t| t + "// edit\n")
        });
        changed("the stage's manifest", &|| {
            edit(root, "stages/train/Cargo.toml", |t| t + "\n# edit\n")
        });
        changed("a locked package in the closure", &|| {
            edit(root, "Cargo.lock", |t| t.replace("1.0.1", "1.0.2"))
        });
    }

    #[test]
    fn unreadable_inputs_are_errors_not_skips() {
        let ws = workspace();
        std::fs::write(ws.path().join("Cargo.lock"), "not [ toml").unwrap();
        let e = fingerprints(ws.path()).unwrap_err().to_string();
        assert!(e.contains("Cargo.lock") && e.contains("TOML"), "{e}");
        let ws = workspace();
        std::fs::remove_dir_all(ws.path().join("stages/train/src")).unwrap();
        let e = fingerprints(ws.path()).unwrap_err().to_string();
        assert!(e.contains("cannot list"), "{e}");
    }
}
