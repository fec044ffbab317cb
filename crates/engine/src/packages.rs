//! Packages, as dbt-core 1.10 has them
//! (<https://docs.getdbt.com/docs/build/packages>): `packages.yml` or
//! `dependencies.yml` lists them; `deps` installs them into
//! `<packages-install-path>` (default `dbt_packages/`); every project found
//! there is loaded with the root project, whatever installed it.
//!
//! - `local:` packages are symlinked (a copy where links are refused), as
//!   dbt's `LocalPinnedPackage.install` does;
//! - `git:` packages are cloned with the `git` command-line tool (its
//!   credentials and proxies apply), then checked out at `revision:`;
//! - hub packages (`package: org/name`, `version:`) are resolved against
//!   hub.getdbt.com's API and unpacked with `tar`; the HTTP GET is the
//!   caller's (the binary has the HTTP client), so the engine stays offline.
//!
//! `package-lock.yml` is written as dbt writes it (entries with `name`,
//! keys sorted, `sha1_hash` of the specs).

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use crate::error::{Error, Result};
use crate::project::Project;
use serde_json::{Map, Value};

pub use dbt_project::packages_file::Spec;

/// The packages a project asks for, and the file that lists them.
#[derive(Debug, Clone)]
pub struct Specs {
    /// `packages.yml` or `dependencies.yml`.
    pub file: String,
    pub specs: Vec<Spec>,
    /// The entries as dbt hashes them for the lock file: the rendered
    /// entry (with dbt's defaults) and `unrendered`, the entry as written.
    pub raw: Vec<Value>,
}

/// A YAML file's tree and its text (which locates keys for errors).
fn read_yml(path: &Path) -> Result<(Option<Value>, String)> {
    if !path.exists() {
        return Ok((None, String::new()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| dbt_project::Error::io(path, e))?;
    Ok((Some(crate::yaml::parse(path, &text)?), text))
}

/// Read `packages.yml` / `dependencies.yml` of the project at `root`, with
/// dbt's rule that only one of them may hold `packages:`. Strings are
/// rendered with `env_var()` (and `var()` from `--vars`), as dbt's
/// `PackageRenderer` does. `None` when neither lists packages.
pub fn read_specs(root: &Path, cli_vars: &Map<String, Value>) -> Result<Option<Specs>> {
    let p = root.join("packages.yml");
    let d = root.join("dependencies.yml");
    let ((pv, ptext), (dv, dtext)) = (read_yml(&p)?, read_yml(&d)?);
    let has = |v: &Option<Value>| v.as_ref().and_then(|v| v.get("packages")).is_some();
    if has(&pv) && has(&dv) {
        return Err(Error::Project(format!(
            "{}: the 'packages' key cannot be specified in both packages.yml and dependencies.yml",
            root.display()
        )));
    }
    let (file, path, doc, text) = if has(&dv) {
        ("dependencies.yml", d, dv, dtext)
    } else {
        ("packages.yml", p, pv, ptext)
    };
    let Some(mut doc) = doc else { return Ok(None) };
    let unrendered = doc.get("packages").cloned();
    let bad = |message: String| Error::Yaml {
        path: path.clone(),
        message,
    };
    crate::yaml::render_strings(
        &mut doc,
        &[],
        &|s| crate::project::render_basic(s, cli_vars),
        "",
    )
    .map_err(bad)?;
    let items = match doc.get("packages") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad("key packages: expected a list".into())),
    };
    let specs =
        dbt_project::packages_file::specs(&items, &path, &crate::yaml::KeyLines::of(&text))?;
    let raw = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut m = item.as_object().cloned().unwrap_or_default();
            if m.contains_key("package") && !m.contains_key("install-prerelease") {
                m.insert("install_prerelease".into(), Value::Bool(false));
            }
            let u = unrendered
                .as_ref()
                .and_then(|u| u.get(i))
                .cloned()
                .unwrap_or(Value::Null);
            m.insert("unrendered".into(), u);
            Value::Object(m)
        })
        .collect();
    Ok(Some(Specs {
        file: file.into(),
        specs,
        raw,
    }))
}

/// The directories of `<root>/<packages-install-path>` that dbt treats as
/// installed packages (every folder not starting with `__`), sorted.
pub fn install_dirs(project: &Project) -> Result<Vec<PathBuf>> {
    let dir = project.root.join(&project.packages_install_path);
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let e = e.map_err(|e| Error::io(&dir, e))?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() && !name.starts_with("__") && !name.starts_with('.') {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// Load every installed package of the root project, checking first that as
/// many are installed as the packages file lists (dbt's check, with its
/// message). Each package's project file renders with the root's context
/// (`--vars`, `target`), as dbt renders it.
pub fn load_installed(
    root: &Project,
    target: Option<&crate::project::Target>,
) -> Result<Vec<Project>> {
    let specs = read_specs(&root.root, &root.cli_vars)?;
    let dirs = install_dirs(root)?;
    if let Some(s) = &specs {
        if s.specs.len() > dirs.len() {
            let missing: Vec<String> = s
                .specs
                .iter()
                .filter(|sp| !spec_installed(root, sp, &dirs))
                .map(Spec::label)
                .collect();
            return Err(Error::Project(format!(
                "dbt found {} package(s) specified in {}, but only {} package(s) installed in {}. Run \"tarmac deps\" to install package dependencies{}.",
                s.specs.len(),
                s.file,
                dirs.len(),
                root.packages_install_path,
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(" (missing: {})", missing.join(", "))
                }
            )));
        }
    }
    let mut out: Vec<Project> = Vec::new();
    for d in dirs {
        if !d.join("dbt_project.yml").exists() {
            return Err(Error::Project(format!(
                "Failed to read package: {} has no dbt_project.yml (remove it, or run \"tarmac deps\" again)",
                d.display()
            )));
        }
        // a package's dbt_project.yml renders with the same context as the
        // root's (`--vars`, `target`)
        let p = Project::load(&d, &root.cli_vars, target)
            .map_err(|e| Error::Project(format!("Failed to read package {}: {e}", d.display())))?;
        if p.name == root.name || out.iter().any(|o| o.name == p.name) {
            return Err(Error::Project(format!(
                "dbt found more than one package with the name \"{}\" ({}); rename one",
                p.name,
                d.display()
            )));
        }
        out.push(p);
    }
    Ok(out)
}

/// Whether an installed folder answers `spec` (for the "missing" hint).
fn spec_installed(root: &Project, spec: &Spec, dirs: &[PathBuf]) -> bool {
    let names: Vec<String> = dirs
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().to_string()))
        .collect();
    match spec {
        Spec::Local { local } => project_name_at(&root.root.join(local))
            .map(|n| names.contains(&n))
            .unwrap_or(false),
        Spec::Hub { package, .. } | Spec::Private { private: package } => package
            .rsplit('/')
            .next()
            .is_some_and(|n| names.iter().any(|x| x == n)),
        Spec::Tarball { name, .. } => names.contains(name),
        Spec::Git { git, .. } => {
            let base = git
                .trim_end_matches('/')
                .trim_end_matches(".git")
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .replace('-', "_");
            names.contains(&base)
        }
    }
}

fn project_name_at(dir: &Path) -> Option<String> {
    let v = crate::yaml::read(&dir.join("dbt_project.yml")).ok()?;
    v.get("name")?.as_str().map(String::from)
}

/// What `deps` did with one package.
#[derive(Debug, Clone, PartialEq)]
pub struct Installed {
    pub name: String,
    /// `local`, `git`, `hub` or `tarball`.
    pub source: String,
    /// The resolved version or revision, if any.
    pub version: Option<String>,
}

/// An HTTP GET supplied by the caller (the engine has no network code).
pub type Fetch<'a> = &'a dyn Fn(&str) -> std::result::Result<Vec<u8>, String>;

/// What `deps` did: the packages installed, and warnings (a package that
/// could not be fetched but is already in the install path is kept).
#[derive(Debug, Default)]
pub struct DepsReport {
    pub installed: Vec<Installed>,
    pub warnings: Vec<String>,
}

/// `tarmac deps`: install every package of the packages file into
/// `<packages-install-path>`, and the packages those list in turn, then
/// write `package-lock.yml`. Every package is tried; the errors (one line
/// each, naming the package) come together. A hub, git or tarball package
/// that cannot be fetched but is already installed (placed by hand) is
/// kept, with a warning, and the lock file is then left as it was.
///
/// Dependencies resolve as dbt 1.10 resolves them: level by level (the
/// root's packages, then the packages each of them lists, …); a package
/// asked for more than once is one package ([`Resolution::merge`]); a
/// `local:` path in a package's own packages file is read from the root
/// project, as dbt reads it. The lock file lists every package in the
/// order it was first asked for.
pub fn deps(root: &Project, fetch: Fetch<'_>) -> Result<DepsReport> {
    let mut report = DepsReport::default();
    let Some(specs) = read_specs(&root.root, &root.cli_vars)? else {
        return Ok(report);
    };
    let install = root.root.join(&root.packages_install_path);
    std::fs::create_dir_all(&install).map_err(|e| Error::io(&install, e))?;
    let mut resolved: Vec<Resolution> = Vec::new();
    let mut errors = Vec::new();
    let mut pending = specs.specs.clone();
    while !pending.is_empty() {
        let mut next = Vec::new();
        for spec in pending {
            let i = match Resolution::merge(&mut resolved, spec) {
                Ok(i) => i,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            let r = &mut resolved[i];
            if r.installed.as_ref() == Some(&r.spec) {
                continue; // asked for again, as it is installed
            }
            r.installed = Some(r.spec.clone());
            r.outcome = Some(install_one(root, &install, &r.spec, fetch));
            if let Some(Ok((inst, _))) = &r.outcome {
                match read_specs(&install.join(&inst.name), &root.cli_vars) {
                    Ok(Some(own)) => next.extend(own.specs),
                    Ok(None) => {}
                    Err(e) => errors.push(format!("package {}: {e}", inst.name)),
                }
            }
        }
        pending = next;
    }
    let mut lock = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new(); // (project name, spec label)
    let mut complete = true;
    for r in resolved {
        match r.outcome {
            Some(Ok((inst, mut entry))) => {
                if inst.name == root.name {
                    errors.push(format!(
                        "{}: its project is named {}, as the root project is; a package cannot share the root's name",
                        r.spec.label(),
                        inst.name
                    ));
                    continue;
                }
                if let Some((_, other)) = names.iter().find(|(n, _)| *n == inst.name) {
                    errors.push(format!(
                        "{} and {other} both install a project named {}; dbt refuses two packages of one name",
                        r.spec.label(),
                        inst.name
                    ));
                    continue;
                }
                names.push((inst.name.clone(), r.spec.label()));
                entry.insert("name".into(), Value::from(inst.name.clone()));
                lock.push(Value::Object(entry));
                report.installed.push(inst);
            }
            Some(Err(e)) => {
                complete = false;
                let dirs = install_dirs(root)?;
                // a fetch that failed, over a copy placed by hand
                let fetched = matches!(
                    r.spec,
                    Spec::Git { .. } | Spec::Hub { .. } | Spec::Tarball { .. }
                );
                if fetched && spec_installed(root, &r.spec, &dirs) {
                    report.warnings.push(format!(
                        "{e} — keeping the copy already installed in {}/",
                        root.packages_install_path
                    ));
                } else {
                    errors.push(e.to_string());
                }
            }
            None => complete = false,
        }
    }
    if !errors.is_empty() {
        return Err(Error::Project(errors.join("\n")));
    }
    if complete {
        write_lock(root, &specs, &lock)?;
    }
    Ok(report)
}

/// One package of the dependency tree: what is asked of it (every request
/// merged), what was installed, and how that went.
struct Resolution {
    key: String,
    spec: Spec,
    installed: Option<Spec>,
    outcome: Option<Result<(Installed, Map<String, Value>)>>,
}

impl Resolution {
    /// What makes two requests one package: a local path (as written, read
    /// from the root), a git URL (with or without `.git`) and its
    /// subdirectory, a hub package name, a tarball's name.
    fn key(spec: &Spec) -> String {
        match spec {
            Spec::Local { local } => format!("local:{local}"),
            Spec::Git {
                git, subdirectory, ..
            } => format!(
                "git:{}/{}",
                git.trim_end_matches(".git"),
                subdirectory.as_deref().unwrap_or_default()
            ),
            Spec::Hub { package, .. } => format!("hub:{package}"),
            Spec::Tarball { name, .. } => format!("tarball:{name}"),
            Spec::Private { private } => format!("private:{private}"),
        }
    }

    /// Adds `spec` to the tree: a new package, or a second request for one
    /// already there. A hub package keeps every version range asked for
    /// (the version picked must satisfy all); a git package must be asked
    /// for at one revision (none given means the other's); the same name
    /// from two kinds of source is an error, as in dbt.
    fn merge(resolved: &mut Vec<Resolution>, spec: Spec) -> Result<usize> {
        let key = Self::key(&spec);
        let Some(i) = resolved.iter().position(|r| r.key == key) else {
            resolved.push(Resolution {
                key,
                spec,
                installed: None,
                outcome: None,
            });
            return Ok(resolved.len() - 1);
        };
        let old = &mut resolved[i].spec;
        match (old, spec) {
            (Spec::Hub { version, .. }, Spec::Hub { version: more, .. }) => {
                for v in more {
                    if !version.contains(&v) {
                        version.push(v);
                    }
                }
            }
            (
                Spec::Git {
                    git,
                    revision: Some(a),
                    ..
                },
                Spec::Git {
                    revision: Some(b), ..
                },
            ) if *a != b => {
                return Err(Error::Project(format!(
                    "git package {git}: asked for at revisions {a} and {b}; a git package must be pinned to one revision across the project and its packages"
                )))
            }
            (Spec::Git { revision, .. }, Spec::Git { revision: Some(b), .. }) => {
                *revision = Some(b);
            }
            (Spec::Git { .. }, Spec::Git { .. })
            | (Spec::Local { .. }, Spec::Local { .. })
            | (Spec::Tarball { .. }, Spec::Tarball { .. })
            | (Spec::Private { .. }, Spec::Private { .. }) => {}
            (old, new) => {
                return Err(Error::Project(format!(
                    "{} and {} name the same package from different kinds of source; use one",
                    old.label(),
                    new.label()
                )))
            }
        }
        Ok(i)
    }
}

/// Installs one package; its lock entry (without `name`) on success.
fn install_one(
    root: &Project,
    install: &Path,
    spec: &Spec,
    fetch: Fetch<'_>,
) -> Result<(Installed, Map<String, Value>)> {
    match spec {
        Spec::Local { local } => install_local(root, install, local),
        Spec::Git {
            git,
            revision,
            subdirectory,
        } => install_git(install, git, revision.as_deref(), subdirectory.as_deref()),
        Spec::Hub { package, version } => install_hub(install, package, version, fetch),
        // dbt-core's words: only dbt Cloud's git integration resolves these
        Spec::Private { private } => Err(Error::Project(format!(
            "Cannot resolve private package {private} because git provider integration is missing. Please use a \"git\" package instead."
        ))),
        Spec::Tarball { tarball, name } => {
            let bytes = fetch(tarball).map_err(|e| {
                Error::Project(format!(
                    "tarball package {tarball}: cannot download it ({e}); place the package in {}/{name} by hand",
                    root.packages_install_path
                ))
            })?;
            unpack_tarball(install, name, &bytes, &spec.label())?;
            let mut e = Map::new();
            e.insert("tarball".into(), Value::from(tarball.clone()));
            Ok((
                Installed {
                    name: name.clone(),
                    source: "tarball".into(),
                    version: None,
                },
                e,
            ))
        }
    }
}

fn same_dest(install: &Path, name: &str) -> Result<PathBuf> {
    let dest = install.join(name);
    if let Ok(meta) = std::fs::symlink_metadata(&dest) {
        if meta.file_type().is_symlink() || meta.is_file() {
            std::fs::remove_file(&dest).map_err(|e| Error::io(&dest, e))?;
        } else {
            std::fs::remove_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
        }
    }
    Ok(dest)
}

fn install_local(
    root: &Project,
    install: &Path,
    local: &str,
) -> Result<(Installed, Map<String, Value>)> {
    let src = root.root.join(local);
    let src = std::fs::canonicalize(&src).map_err(|e| {
        Error::Project(format!(
            "local package {local}: {} cannot be read ({e})",
            src.display()
        ))
    })?;
    let name = project_name_at(&src).ok_or_else(|| {
        Error::Project(format!(
            "local package {local}: no readable dbt_project.yml with a name in {}",
            src.display()
        ))
    })?;
    let dest = same_dest(install, &name)?;
    #[cfg(unix)]
    let linked = std::os::unix::fs::symlink(&src, &dest).is_ok();
    #[cfg(not(unix))]
    let linked = false;
    if !linked {
        copy_tree(&src, &dest)?;
    }
    let mut e = Map::new();
    e.insert("local".into(), Value::from(local.to_string()));
    Ok((
        Installed {
            name,
            source: "local".into(),
            version: None,
        },
        e,
    ))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for e in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let e = e.map_err(|e| Error::io(from, e))?;
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_tree(&p, &t)?;
        } else {
            std::fs::copy(&p, &t).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

fn git(args: &[&str], cwd: Option<&Path>, label: &str) -> Result<String> {
    let mut c = Proc::new("git");
    c.args(args).env("GIT_TERMINAL_PROMPT", "0");
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let out = c.output().map_err(|e| {
        Error::Project(format!(
            "{label}: the git command could not be run ({e}); install git, or place the package in dbt_packages/ by hand"
        ))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return Err(Error::Project(format!(
            "{label}: git {} failed: {last}; where the network is not reachable, place the package in dbt_packages/ by hand",
            args.first().copied().unwrap_or_default()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn install_git(
    install: &Path,
    url: &str,
    revision: Option<&str>,
    subdirectory: Option<&str>,
) -> Result<(Installed, Map<String, Value>)> {
    let label = format!("git package {url}");
    let tmp = install.join(format!("__tarmac_git_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let tmp_s = tmp.to_string_lossy().to_string();
    let res = (|| -> Result<(Installed, Map<String, Value>)> {
        git(&["clone", "--quiet", url, &tmp_s], None, &label)?;
        if let Some(r) = revision {
            git(&["checkout", "--quiet", r], Some(&tmp), &label)?;
        }
        let sha = git(&["rev-parse", "HEAD"], Some(&tmp), &label)?;
        let src = match subdirectory {
            Some(s) => tmp.join(s),
            None => tmp.clone(),
        };
        let name = project_name_at(&src).ok_or_else(|| {
            Error::Project(format!(
                "{label}: no dbt_project.yml with a name in the repository{}",
                subdirectory
                    .map(|s| format!(" (subdirectory {s})"))
                    .unwrap_or_default()
            ))
        })?;
        let dest = same_dest(install, &name)?;
        copy_tree(&src, &dest)?;
        let _ = std::fs::remove_dir_all(dest.join(".git"));
        let mut e = Map::new();
        e.insert("git".into(), Value::from(url.to_string()));
        e.insert("revision".into(), Value::from(sha.clone()));
        if let Some(s) = subdirectory {
            e.insert("subdirectory".into(), Value::from(s.to_string()));
        }
        Ok((
            Installed {
                name,
                source: "git".into(),
                version: Some(sha),
            },
            e,
        ))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    res
}

/// hub.getdbt.com's index of a package: `{versions: {"1.3.0": {downloads: {tarball}}, ...}}`.
fn install_hub(
    install: &Path,
    package: &str,
    ranges: &[String],
    fetch: Fetch<'_>,
) -> Result<(Installed, Map<String, Value>)> {
    let guess = package.rsplit('/').next().unwrap_or(package);
    let by_hand = format!(
        "place the package in {}/{guess} by hand",
        install
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "dbt_packages".into())
    );
    let url = format!("https://hub.getdbt.com/api/v1/{package}.json");
    let body = fetch(&url).map_err(|e| {
        Error::Project(format!(
            "package {package}: hub.getdbt.com is not reachable ({e}); {by_hand}"
        ))
    })?;
    let index: Value = serde_json::from_slice(&body).map_err(|e| {
        Error::Project(format!(
            "package {package}: hub.getdbt.com answered something that is not its index ({e}); {by_hand}"
        ))
    })?;
    let versions = index
        .get("versions")
        .and_then(|v| v.as_object())
        .ok_or_else(|| Error::Project(format!("package {package}: not found on hub.getdbt.com")))?;
    let pick = pick_version(versions.keys().map(String::as_str), ranges).ok_or_else(|| {
        Error::Project(format!(
            "package {package}: no version on hub.getdbt.com satisfies {ranges:?}"
        ))
    })?;
    let v = &versions[&pick];
    let tarball = v
        .pointer("/downloads/tarball")
        .and_then(|t| t.as_str())
        .ok_or_else(|| {
            Error::Project(format!(
                "package {package}: version {pick} has no tarball on hub.getdbt.com"
            ))
        })?;
    let name = v
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or(guess)
        .to_string();
    let bytes = fetch(tarball).map_err(|e| {
        Error::Project(format!(
            "package {package}: cannot download {tarball} ({e}); {by_hand}"
        ))
    })?;
    unpack_tarball(install, &name, &bytes, &format!("package {package}"))?;
    let mut e = Map::new();
    e.insert("package".into(), Value::from(package.to_string()));
    e.insert("version".into(), Value::from(pick.clone()));
    Ok((
        Installed {
            name,
            source: "hub".into(),
            version: Some(pick),
        },
        e,
    ))
}

/// The highest non-prerelease version satisfying every range.
pub fn pick_version<'a>(
    versions: impl Iterator<Item = &'a str>,
    ranges: &[String],
) -> Option<String> {
    let key = |v: &str| -> Vec<u64> {
        v.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect()
    };
    versions
        .filter(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .filter(|v| {
            ranges.iter().all(|r| {
                r.split(',')
                    .all(|part| crate::project::version_satisfies(v, part.trim()))
            })
        })
        .max_by_key(|v| key(v))
        .map(String::from)
}

/// Unpack a `.tar.gz` into `<install>/<name>` (its one top folder stripped).
fn unpack_tarball(install: &Path, name: &str, bytes: &[u8], label: &str) -> Result<()> {
    let tmp = install.join(format!("__tarmac_tar_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let file = tmp.join("package.tar.gz");
    std::fs::write(&file, bytes).map_err(|e| Error::io(&file, e))?;
    let out = Proc::new("tar")
        .arg("-xzf")
        .arg(&file)
        .arg("-C")
        .arg(&tmp)
        .output()
        .map_err(|e| Error::Project(format!("{label}: tar could not be run ({e})")));
    let res = (|| -> Result<()> {
        let out = out?;
        if !out.status.success() {
            return Err(Error::Project(format!(
                "{label}: the downloaded archive does not unpack: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let _ = std::fs::remove_file(&file);
        let tops: Vec<PathBuf> = std::fs::read_dir(&tmp)
            .map_err(|e| Error::io(&tmp, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let src = match tops.as_slice() {
            [one] if one.is_dir() => one.clone(),
            _ => tmp.clone(),
        };
        let dest = same_dest(install, name)?;
        copy_tree(&src, &dest)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    res
}

/// Python's `json.dumps(d, sort_keys=True)` of a flat mapping.
fn py_dumps_sorted(v: &Value) -> String {
    crate::extras::py_json(v, true)
}

/// `package-lock.yml`: `packages:` (each resolved entry with its `name`,
/// keys sorted) and `sha1_hash` of the specs, as dbt writes it.
fn write_lock(root: &Project, specs: &Specs, entries: &[Value]) -> Result<()> {
    let mut strs: Vec<String> = specs.raw.iter().map(py_dumps_sorted).collect();
    strs.sort();
    let hash = hex::encode(sha1_digest(strs.join("\n").as_bytes()));
    let mut out = String::from("packages:\n");
    for e in entries {
        let Value::Object(m) = e else { continue };
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for (i, k) in keys.iter().enumerate() {
            let v = match &m[*k] {
                Value::String(s) => yaml_scalar(s),
                other => other.to_string(),
            };
            out.push_str(&format!(
                "{}{k}: {v}\n",
                if i == 0 { "  - " } else { "    " }
            ));
        }
    }
    out.push_str(&format!("sha1_hash: {hash}\n"));
    let path = root.root.join("package-lock.yml");
    std::fs::write(&path, out).map_err(|e| Error::io(&path, e))
}

/// A YAML scalar as PyYAML would print a string: plain when safe, else quoted.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c))
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(' ')
        && s.parse::<f64>().is_err()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "null" | "on" | "off" | "~"
        );
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// SHA-1 (the lock file's hash is dbt's `hashlib.sha1`); small and only for
/// this, so no crate.
fn sha1_digest(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([
                chunk[4 * i],
                chunk[4 * i + 1],
                chunk[4 * i + 2],
                chunk[4 * i + 3],
            ]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
        h[4] = h[4].wrapping_add(e);
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_known_vectors() {
        assert_eq!(
            hex::encode(sha1_digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(sha1_digest(b"")),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }

    #[test]
    fn lock_hash_is_dbts() {
        // what dbt-core 1.10 wrote for `packages: [{local: local/shop_helpers}]`
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("packages.yml"),
            "packages:\n  - local: local/shop_helpers\n",
        )
        .unwrap();
        let s = read_specs(d.path(), &Map::new()).unwrap().unwrap();
        let strs: Vec<String> = s.raw.iter().map(py_dumps_sorted).collect();
        assert_eq!(
            hex::encode(sha1_digest(strs.join("\n").as_bytes())),
            "81cbeffea2ca1914ff79eb638c6700afc5b5a939"
        );
    }

    #[test]
    fn picks_highest_version_in_range() {
        let v = ["0.9.6", "1.0.0", "1.3.0", "1.3.1", "2.0.0", "1.4.0-b1"];
        let r = vec![">=1.0.0".to_string(), "<2.0.0".to_string()];
        assert_eq!(
            pick_version(v.iter().copied(), &r).as_deref(),
            Some("1.3.1")
        );
        assert_eq!(pick_version(v.iter().copied(), &["3.0.0".into()]), None);
    }

    #[test]
    fn a_package_asked_for_twice_is_one_package() {
        let hub = |v: &[&str]| Spec::Hub {
            package: "dbt-labs/dbt_utils".into(),
            version: v.iter().map(|s| s.to_string()).collect(),
        };
        let mut r = Vec::new();
        assert_eq!(
            Resolution::merge(&mut r, hub(&[">=1.0.0", "<2.0.0"])).unwrap(),
            0
        );
        assert_eq!(Resolution::merge(&mut r, hub(&[">=1.1.0"])).unwrap(), 0);
        // every range asked for holds for the version picked
        assert_eq!(r[0].spec, hub(&[">=1.0.0", "<2.0.0", ">=1.1.0"]));
        let git = |u: &str, rev: Option<&str>| Spec::Git {
            git: u.into(),
            revision: rev.map(String::from),
            subdirectory: None,
        };
        assert_eq!(
            Resolution::merge(&mut r, git("https://h/x.git", None)).unwrap(),
            1
        );
        // with and without .git is one repository; a revision fills the gap
        assert_eq!(
            Resolution::merge(&mut r, git("https://h/x", Some("v1"))).unwrap(),
            1
        );
        assert_eq!(r[1].spec, git("https://h/x.git", Some("v1")));
        assert!(Resolution::merge(&mut r, git("https://h/x", Some("v2"))).is_err());
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn specs_and_their_errors() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("packages.yml"),
            "packages:\n  - local: ../p\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.0.0\", \"<2.0.0\"]\n  - git: https://example.invalid/x.git\n    revision: v1\n",
        )
        .unwrap();
        let s = read_specs(d.path(), &Map::new()).unwrap().unwrap();
        assert_eq!(s.file, "packages.yml");
        assert_eq!(s.specs.len(), 3);
        assert_eq!(
            s.specs[0],
            Spec::Local {
                local: "../p".into()
            }
        );
        std::fs::write(
            d.path().join("dependencies.yml"),
            "packages:\n  - local: q\n",
        )
        .unwrap();
        let e = read_specs(d.path(), &Map::new()).unwrap_err().to_string();
        assert!(e.contains("both packages.yml and dependencies.yml"), "{e}");
        std::fs::remove_file(d.path().join("packages.yml")).unwrap();
        let s = read_specs(d.path(), &Map::new()).unwrap().unwrap();
        assert_eq!(s.file, "dependencies.yml");
        std::fs::write(
            d.path().join("dependencies.yml"),
            "packages:\n  - package: dbt-labs/dbt_utils\n",
        )
        .unwrap();
        let e = read_specs(d.path(), &Map::new()).unwrap_err().to_string();
        assert!(e.contains("packages[0].version"), "{e}");
    }
}
