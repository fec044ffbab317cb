//! `packages.yml` / `dependencies.yml` entries read into typed specs,
//! every problem of the file reported at once with its line
//! (<https://docs.getdbt.com/docs/build/packages>). Which file is read,
//! the rendering of its strings and the installing are the engine's; this
//! is the schema, which needs neither Jinja nor a network.

use std::path::Path;

use serde_json::Value;

use crate::error::Result;
use crate::yaml::{KeyLines, Problems};

/// One entry of `packages:`.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    Local {
        local: String,
    },
    Git {
        git: String,
        revision: Option<String>,
        subdirectory: Option<String>,
    },
    Hub {
        package: String,
        /// Version ranges, all of which must hold (`[">=1.0.0", "<2.0.0"]`).
        version: Vec<String>,
    },
    Tarball {
        tarball: String,
        name: String,
    },
    /// `private: org/repo`: dbt-core resolves it only through dbt Cloud's
    /// git provider integration; `deps` fails on it as dbt-core does.
    Private {
        private: String,
    },
}

impl Spec {
    /// How messages name it.
    pub fn label(&self) -> String {
        match self {
            Spec::Local { local } => format!("local package {local}"),
            Spec::Git { git, .. } => format!("git package {git}"),
            Spec::Hub { package, .. } => format!("package {package}"),
            Spec::Tarball { tarball, .. } => format!("tarball package {tarball}"),
            Spec::Private { private } => format!("private package {private}"),
        }
    }
}

/// The specs of a rendered `packages:` list of file `path`.
pub fn specs(items: &[Value], path: &Path, lines: &KeyLines) -> Result<Vec<Spec>> {
    let mut problems = Problems::new(path, lines);
    let mut specs = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut bad = |k: &str, message: String| {
            let at = if k.is_empty() {
                format!("packages[{i}]")
            } else {
                format!("packages[{i}].{k}")
            };
            problems.add(&at, message);
        };
        let key = |k: &str| format!("key packages[{i}].{k}");
        let mut s = |k: &str| -> Option<String> {
            match item.get(k) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    bad(k, format!("{}: expected a string, found {other}", key(k)));
                    None
                }
            }
        };
        let spec = if let Some(local) = s("local") {
            Some(Spec::Local { local })
        } else if let Some(git) = s("git") {
            Some(Spec::Git {
                git,
                revision: s("revision"),
                subdirectory: s("subdirectory"),
            })
        } else if let Some(package) = s("package") {
            let version = match item.get("version") {
                Some(Value::String(v)) => Some(vec![v.clone()]),
                Some(Value::Number(n)) => Some(vec![n.to_string()]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .or_else(|| {
                        bad(
                            "version",
                            format!(
                                "{}: expected version strings, found {}",
                                key("version"),
                                Value::Array(a.clone())
                            ),
                        );
                        None
                    }),
                _ => {
                    bad(
                        "version",
                        format!(
                            "{}: required for hub package {package} (e.g. version: [\">=1.0.0\", \"<2.0.0\"])",
                            key("version")
                        ),
                    );
                    None
                }
            };
            version.map(|version| Spec::Hub { package, version })
        } else if let Some(tarball) = s("tarball") {
            match s("name") {
                Some(name) => Some(Spec::Tarball { tarball, name }),
                None => {
                    bad(
                        "name",
                        format!("{}: required for a tarball package", key("name")),
                    );
                    None
                }
            }
        } else if let Some(private) = s("private") {
            Some(Spec::Private { private })
        } else {
            bad(
                "",
                format!(
                    "packages[{i}]: expected one of local:, git:, package: or tarball:, found {item}"
                ),
            );
            None
        };
        specs.extend(spec);
    }
    problems.finish(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Spec>> {
        let path = Path::new("packages.yml");
        let v = crate::yaml::parse(path, text)?;
        let items = v["packages"].as_array().cloned().unwrap_or_default();
        specs(&items, path, &KeyLines::of(text))
    }

    #[test]
    fn each_kind_of_entry() {
        let got = read(
            "packages:\n  - local: ../p\n  - git: https://x/y.git\n    revision: 1.0\n  - package: a/b\n    version: [\">=1.0.0\", \"<2.0.0\"]\n  - tarball: https://x/t.tgz\n    name: t\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                Spec::Local {
                    local: "../p".into()
                },
                Spec::Git {
                    git: "https://x/y.git".into(),
                    revision: Some("1.0".into()),
                    subdirectory: None
                },
                Spec::Hub {
                    package: "a/b".into(),
                    version: vec![">=1.0.0".into(), "<2.0.0".into()]
                },
                Spec::Tarball {
                    tarball: "https://x/t.tgz".into(),
                    name: "t".into()
                },
            ]
        );
    }

    #[test]
    fn every_bad_entry_is_reported_with_its_line() {
        let e = read(
            "packages:\n  - package: a/b\n  - local: ../ok\n  - tarball: https://x/t.tgz\n  - nothing: 1\n",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("packages.yml: 3 problems\n"), "{text}");
        assert!(
            text.contains(
                "\n  packages.yml:2: key packages[0].version: required for hub package a/b"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  packages.yml:4: key packages[2].name: required for a tarball package"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n  packages.yml:5: packages[3]: expected one of local:"),
            "{text}"
        );
    }
}
