//! The Jinja layer's one error type. Variants say who must act: the
//! project's author (`Project`, `Yaml`, `File`, `Jinja`), the profile's
//! owner (`Profile`), or the file system (`Io`). The engine's error wraps
//! each variant as its own variant of the same name, so code above matches
//! on one enum.

use std::path::PathBuf;

/// Result with the Jinja layer's error as default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A YAML file does not parse or has a bad value; names file and key.
    #[error("{path}: {message}")]
    Yaml { path: PathBuf, message: String },
    /// A project file read by the project-file phase (`dbt_project`) could
    /// not be read or does not parse: `file:line:column: message`.
    #[error(transparent)]
    File(#[from] dbt_project::Error),
    /// Something in the project is wrong (missing file, bad config value).
    #[error("{0}")]
    Project(String),
    /// profiles.yml is missing, or has no such profile/target, or a bad key.
    #[error("{0}")]
    Profile(String),
    /// A Jinja template failed to parse or render; names the node, its file
    /// and the line (0 when the error is located in a macro, which the
    /// message then names with its file and line).
    #[error("Compilation Error in {} ({file}){}: {message}", describe_node(node), if *line > 0 { format!(" line {line}") } else { String::new() })]
    Jinja {
        node: String,
        file: String,
        line: usize,
        message: String,
    },
}

/// `model.jaffle.orders` → `model orders`, as dbt names nodes in errors;
/// anything else (`macro p.m`) as written.
pub fn describe_node(node: &str) -> String {
    let kinds = [
        "model",
        "seed",
        "snapshot",
        "test",
        "unit_test",
        "analysis",
        "operation",
        "source",
    ];
    match node.split_once('.') {
        Some((kind, rest)) if kinds.contains(&kind) => {
            let name = rest.rsplit('.').next().unwrap_or(rest);
            format!("{kind} {name}")
        }
        _ => node.to_string(),
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Build a Jinja error naming the node and its file, with the line minijinja
    /// reports (1 when it reports none).
    pub fn jinja(node: &str, file: &str, err: &minijinja::Error) -> Self {
        // a name nothing defines reads as dbt's message (see
        // render_error::undefined_message); the error it replaced has the line
        let undefined = err
            .detail()
            .filter(|d| crate::render_error::is_undefined_message(d));
        let mut message = match (undefined, err.detail()) {
            (Some(d), _) => d.to_string(),
            (None, Some(d)) => match dbt_words(d) {
                Some(m) => m.to_string(),
                None => format!("{}: {d}", err.kind()),
            },
            (None, None) => err.to_string(),
        };
        let mut line = err.line();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            match s.downcast_ref::<minijinja::Error>() {
                Some(j) if undefined.is_some() => line = line.or(j.line()),
                // the detail already says what the database said
                _ if s.is::<crate::render_error::DatabaseFailure>() => {}
                _ => message.push_str(&format!(": {s}")),
            }
            source = s.source();
        }
        let mut line = line.unwrap_or(1);
        // an error inside a macro carries the macro's template and line
        if let Some((package, name, path)) =
            err.name().and_then(crate::render_error::template_origin)
        {
            message = format!("in macro {name} ({path}, package {package}) line {line}: {message}");
            line = 0;
        }
        Error::Jinja {
            node: node.to_string(),
            file: file.to_string(),
            line,
            message,
        }
    }
}

/// An error a project raised itself (`exceptions.raise_compiler_error`) or
/// a missing `var()`: said in dbt's words, without minijinja's kind.
fn dbt_words(detail: &str) -> Option<&str> {
    detail
        .strip_prefix("Compilation Error: ")
        .or_else(|| detail.starts_with("Required var '").then_some(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jinja_errors_name_node_file_and_line() {
        let env = minijinja::Environment::new();
        let e = env
            .render_named_str("models/orders.sql", "select\n\n{{ x.y() }}", ())
            .unwrap_err();
        let msg = Error::jinja("model.shop.orders", "models/orders.sql", &e).to_string();
        assert!(
            msg.starts_with("Compilation Error in model orders (models/orders.sql) line 3: "),
            "{msg}"
        );
        assert_eq!(describe_node("macro p.m"), "macro p.m");
        assert_eq!(describe_node("unit_test.p.orders.t1"), "unit_test t1");
    }
}
