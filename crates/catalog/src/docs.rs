//! `{% docs name %}…{% enddocs %}` blocks in the project's `.md` files and
//! the `{{ doc('name') }}` calls in descriptions
//! (<https://docs.getdbt.com/reference/resource-properties/description>).
//!
//! dbt renders descriptions at parse time, so dbt's manifest.json already
//! holds the text of the blocks; the engine leaves descriptions as written,
//! and `docs generate` resolves them here and writes the result (and the
//! manifest's `docs` map) back, so dbt-aware tools see what dbt would show.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// One `{% docs %}` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocBlock {
    pub name: String,
    pub package: String,
    /// Relative to the project root.
    pub file: String,
    /// The block's text, trimmed as dbt trims it.
    pub contents: String,
}

fn line_of(text: &str, pos: usize) -> usize {
    text[..pos].matches('\n').count() + 1
}

/// The blocks of one file. Text outside blocks is ignored, as in dbt;
/// Jinja inside a block is kept as written.
pub fn parse_blocks(package: &str, file: &str, text: &str) -> Result<Vec<DocBlock>> {
    let err = |pos: usize, message: String| Error::Docs {
        file: format!("{file}:{}", line_of(text, pos)),
        message,
    };
    let mut out = Vec::new();
    let mut open: Option<(String, usize, usize)> = None; // name, tag start, content start
    let mut tags = engine::blocks::tags(text);
    for tag in tags.by_ref() {
        match (tag.keyword, &open) {
            ("docs", None) => {
                let name = tag.args();
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(err(
                        tag.start,
                        format!(
                            "`{}`: a docs block needs one name of letters, digits and _",
                            tag.text(text)
                        ),
                    ));
                }
                open = Some((name.to_string(), tag.start, tag.end));
            }
            ("docs", Some((name, _, _))) => {
                return Err(err(
                    tag.start,
                    format!("a docs block starts inside the docs block '{name}'"),
                ));
            }
            ("enddocs", Some((name, _, content_start))) => {
                out.push(DocBlock {
                    name: name.clone(),
                    package: package.to_string(),
                    file: file.to_string(),
                    contents: text[*content_start..tag.start].trim().to_string(),
                });
                open = None;
            }
            ("enddocs", None) => {
                return Err(err(tag.start, "`enddocs` without a `docs` block".into()));
            }
            _ => {}
        }
    }
    if let Some(at) = tags.unclosed {
        return Err(err(at, "a `{%` tag is not closed with `%}`".into()));
    }
    if let Some((name, start, _)) = open {
        return Err(err(
            start,
            format!("the docs block '{name}' has no `{{% enddocs %}}`"),
        ));
    }
    Ok(out)
}

/// All blocks of a project: `.md` files under `docs-paths` (default: every
/// resource path, as dbt does). Two blocks with one name are an error.
pub fn find_blocks(root: &Path, package: &str, paths: &[String]) -> Result<Docs> {
    let mut files = Vec::new();
    for p in paths {
        walk_md(&root.join(p), p, &mut files)?;
    }
    files.sort();
    files.dedup();
    let mut docs = Docs::default();
    for (abs, rel) in files {
        let text = std::fs::read_to_string(&abs).map_err(|e| Error::io(&abs, e))?;
        for b in parse_blocks(package, &rel, &text)? {
            if let Some(prev) = docs.blocks.get(&b.name) {
                return Err(Error::Docs {
                    file: b.file.clone(),
                    message: format!(
                        "the docs block '{}' is also defined in {}",
                        b.name, prev.file
                    ),
                });
            }
            docs.blocks.insert(b.name.clone(), b);
        }
    }
    Ok(docs)
}

/// Hash of the doc block files under `paths` (each one's path and text):
/// what `docs generate` reads beyond the engine's inputs, for its stamp
/// (`engine::compile_stamp`).
pub fn blocks_key(root: &Path, paths: &[String]) -> Result<String> {
    use sha2::Digest;
    let mut files = Vec::new();
    for p in paths {
        walk_md(&root.join(p), p, &mut files)?;
    }
    files.sort();
    files.dedup();
    let mut h = sha2::Sha256::new();
    for (abs, rel) in files {
        let text = std::fs::read(&abs).map_err(|e| Error::io(&abs, e))?;
        for part in [rel.as_bytes(), &text] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn walk_md(dir: &Path, rel: &str, out: &mut Vec<(std::path::PathBuf, String)>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let p = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        let r = format!("{rel}/{name}");
        if p.is_dir() {
            walk_md(&p, &r, out)?;
        } else if name.ends_with(".md") {
            out.push((p, r));
        }
    }
    Ok(())
}

/// The docs paths of a project: `docs-paths` from dbt_project.yml, else
/// every resource path.
pub fn docs_paths(project: &engine::project::Project) -> Vec<String> {
    let explicit = engine::yaml::read(&project.root.join("dbt_project.yml"))
        .ok()
        .and_then(|v| v.get("docs-paths").cloned())
        .and_then(|v| v.as_array().cloned());
    if let Some(a) = explicit {
        return a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect();
    }
    let p = project;
    let mut out: Vec<String> = p
        .model_paths
        .iter()
        .chain(&p.seed_paths)
        .chain(&p.analysis_paths)
        .chain(&p.macro_paths)
        .chain(&p.snapshot_paths)
        .chain(&p.test_paths)
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The descriptions of one manifest entry (a node or a source), to
/// resolve in place; `file` and `id` name it in errors.
pub struct Described<'a> {
    pub file: String,
    pub id: String,
    pub description: &'a mut String,
    pub source_description: Option<&'a mut String>,
    /// (column name, its description)
    pub columns: Vec<(String, &'a mut String)>,
}

/// The blocks of a project, by name.
#[derive(Debug, Clone, Default)]
pub struct Docs {
    pub blocks: BTreeMap<String, DocBlock>,
}

impl Docs {
    /// Render a description: `doc('name')` and `doc('package', 'name')`
    /// give a block's text; text without Jinja is returned as is.
    pub fn render(&self, text: &str) -> std::result::Result<String, String> {
        if !text.contains("{{") && !text.contains("{%") {
            return Ok(text.to_string());
        }
        let blocks = Arc::new(self.blocks.clone());
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        env.add_function(
            "doc",
            move |a: String, b: Option<String>| -> std::result::Result<String, minijinja::Error> {
                let name = b.as_deref().unwrap_or(&a);
                match blocks.get(name) {
                    Some(block) => Ok(block.contents.clone()),
                    None => {
                        let mut msg = format!("doc('{name}') was not found");
                        let names: Vec<&str> = blocks.keys().map(String::as_str).collect();
                        let close = engine::manifest::closest(name, names.into_iter());
                        if !close.is_empty() {
                            msg.push_str(&format!(" (did you mean {}?)", close.join(", ")));
                        }
                        Err(minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            msg,
                        ))
                    }
                }
            },
        );
        env.render_str(text, ()).map_err(|e| {
            e.detail()
                .map(String::from)
                .unwrap_or_else(|| e.to_string())
        })
    }

    /// Resolve every description of a loaded project in place (its nodes'
    /// and sources', with their columns') and fill its manifest's `docs`
    /// section. Errors name the properties file and the key.
    pub fn apply(&self, m: &mut engine::manifest::Manifest) -> Result<()> {
        let nodes = m.nodes.values_mut().map(|n| Described {
            file: n
                .patch_path
                .clone()
                .unwrap_or_else(|| n.original_file_path.clone()),
            id: n.unique_id.clone(),
            description: &mut n.description,
            source_description: None,
            columns: n
                .columns
                .iter_mut()
                .map(|(k, c)| (k.clone(), &mut c.description))
                .collect(),
        });
        let sources = m.sources.values_mut().map(|s| Described {
            file: s.table.file.clone(),
            id: s.unique_id.clone(),
            description: &mut s.table.description,
            source_description: Some(&mut s.table.source_description),
            columns: s
                .table
                .columns
                .iter_mut()
                .map(|(k, c)| (k.clone(), &mut c.description))
                .collect(),
        });
        self.resolve(nodes.chain(sources))?;
        m.docs = self.section();
        Ok(())
    }

    /// Resolve the descriptions of manifest entries in place, every error
    /// reported at once.
    pub fn resolve<'a>(&self, items: impl IntoIterator<Item = Described<'a>>) -> Result<()> {
        let mut errors = Vec::new();
        for item in items {
            let mut fix = |s: &mut String, key: &str| match self.render(s) {
                Ok(r) => *s = r,
                Err(e) => errors.push(format!("{}: {}: key {key}: {e}", item.file, item.id)),
            };
            fix(item.description, "description");
            if let Some(s) = item.source_description {
                fix(s, "source_description");
            }
            for (c, d) in item.columns {
                fix(d, &format!("columns.{c}.description"));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Docs {
                file: "descriptions".into(),
                message: errors.join("\n"),
            });
        }
        Ok(())
    }

    /// The manifest's `docs` section: every block by unique id.
    pub fn section(&self) -> serde_json::Map<String, Value> {
        self.blocks
            .values()
            .map(|b| {
                let id = format!("doc.{}.{}", b.package, b.name);
                let entry = json!({
                    "name": b.name, "resource_type": "doc", "package_name": b.package,
                    "path": b.file.split_once('/').map(|x| x.1).unwrap_or(&b.file),
                    "original_file_path": b.file, "unique_id": id,
                    "block_contents": b.contents,
                });
                (id, entry)
            })
            .collect()
    }

    /// The project's `__overview__` block, when it has one.
    pub fn overview(&self) -> Option<&str> {
        self.blocks.get("__overview__").map(|b| b.contents.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_with_whitespace_control() {
        let text = "ignored\n{% docs status %}\nOne of **placed**, shipped.\n{% enddocs %}\n\
                    {%- docs __overview__ -%}  Hello {{ x }} {%- enddocs %}";
        let b = parse_blocks("p", "models/docs.md", text).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].name, "status");
        assert_eq!(b[0].contents, "One of **placed**, shipped.");
        assert_eq!(b[1].name, "__overview__");
        assert_eq!(b[1].contents, "Hello {{ x }}");
    }

    #[test]
    fn block_errors_name_file_and_line() {
        let e = parse_blocks("p", "models/d.md", "\n\n{% docs a %}\nno end")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("models/d.md:3:"), "{e}");
        assert!(e.contains("'a' has no `{% enddocs %}`"), "{e}");
        let e = parse_blocks("p", "d.md", "{% docs a b %}{% enddocs %}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("one name"), "{e}");
        let e = parse_blocks("p", "d.md", "{% enddocs %}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("without a `docs`"), "{e}");
    }

    fn docs() -> Docs {
        let mut d = Docs::default();
        for b in parse_blocks(
            "p",
            "models/docs.md",
            "{% docs status %}Order status{% enddocs %}{% docs __overview__ %}# Hi{% enddocs %}",
        )
        .unwrap()
        {
            d.blocks.insert(b.name.clone(), b);
        }
        d
    }

    #[test]
    fn renders_doc_calls() {
        let d = docs();
        assert_eq!(d.render("plain {not jinja}").unwrap(), "plain {not jinja}");
        assert_eq!(
            d.render("The {{ doc('status') }}.").unwrap(),
            "The Order status."
        );
        assert_eq!(
            d.render("{{ doc(\"p\", \"status\") }}").unwrap(),
            "Order status"
        );
        let e = d.render("{{ doc('statuss') }}").unwrap_err();
        assert!(e.contains("doc('statuss') was not found"), "{e}");
        assert!(e.contains("did you mean status"), "{e}");
        assert_eq!(d.overview(), Some("# Hi"));
    }

    #[test]
    fn resolves_descriptions() {
        let d = docs();
        let (mut desc, mut col, mut src) = (
            "{{ doc('status') }}".to_string(),
            "Col: {{ doc('status') }}".to_string(),
            "{{ doc('status') }}".to_string(),
        );
        let mut plain = "x".to_string();
        d.resolve([
            Described {
                file: "p://models/a.yml".into(),
                id: "model.p.a".into(),
                description: &mut desc,
                source_description: None,
                columns: vec![("s".into(), &mut col)],
            },
            Described {
                file: "models/s.yml".into(),
                id: "source.p.s.t".into(),
                description: &mut plain,
                source_description: Some(&mut src),
                columns: vec![],
            },
        ])
        .unwrap();
        assert_eq!(desc, "Order status");
        assert_eq!(col, "Col: Order status");
        assert_eq!(src, "Order status");
        assert_eq!(plain, "x");
        let section = d.section();
        assert_eq!(section["doc.p.status"]["block_contents"], "Order status");
        assert_eq!(section["doc.p.status"]["path"], "docs.md");

        let (mut bad, mut bad_col) = (
            "{{ doc('nope') }}".to_string(),
            "{{ doc('no') }}".to_string(),
        );
        let e = d
            .resolve([Described {
                file: "models/a.yml".into(),
                id: "model.p.a".into(),
                description: &mut bad,
                source_description: None,
                columns: vec![("c".into(), &mut bad_col)],
            }])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("models/a.yml: model.p.a: key description"),
            "{e}"
        );
        assert!(e.contains("doc('nope') was not found"), "{e}");
        // every error at once
        assert!(e.contains("key columns.c.description"), "{e}");
    }

    #[test]
    fn finds_blocks_and_rejects_duplicates() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("models/sub")).unwrap();
        std::fs::write(
            t.path().join("models/sub/a.md"),
            "{% docs a %}A{% enddocs %}",
        )
        .unwrap();
        std::fs::write(t.path().join("models/b.md"), "{% docs b %}B{% enddocs %}").unwrap();
        let d = find_blocks(t.path(), "p", &["models".into(), "nope".into()]).unwrap();
        assert_eq!(d.blocks.len(), 2);
        assert_eq!(d.blocks["a"].file, "models/sub/a.md");
        std::fs::write(
            t.path().join("models/c.md"),
            "{% docs a %}again{% enddocs %}",
        )
        .unwrap();
        let e = find_blocks(t.path(), "p", &["models".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'a' is also defined in"), "{e}");
    }
}
