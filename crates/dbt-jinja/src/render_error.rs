//! What a failed render needs to say about itself, kept below both the
//! Jinja layer and the error type: the error type (`error`) reads these to
//! word a `Compilation Error` the way dbt does, and the Jinja layer
//! (`jinja`, `macros`) writes them. Living here rather than in `jinja` or
//! `macros` keeps `error` from importing the renderer it reports on, so the
//! error type sits at the bottom of the engine's module graph.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The database refused what a template asked of it (`run_query`,
/// `statement`, an adapter method): dbt reports that as a "Runtime Error"
/// of the node, in the database's words, not as a compilation error.
#[derive(Debug)]
pub struct DatabaseFailure(pub String);

impl std::fmt::Display for DatabaseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DatabaseFailure {}

const UNDEFINED_HINT: &str =
    "is undefined. This can happen when calling a macro that does not exist. \
     Check for typos and/or install package dependencies with \"dbt deps\".";

/// dbt's message for a name nothing defines, used when a node's render
/// fails on one at run time.
pub fn undefined_message(name: &str) -> String {
    format!("'{name}' {UNDEFINED_HINT}")
}

/// Whether `detail` is [`undefined_message`]'s (the error then reads as
/// dbt's, without minijinja's kind and the error it replaced).
pub fn is_undefined_message(detail: &str) -> bool {
    detail.ends_with(UNDEFINED_HINT)
}

/// Template name (`macro:<package>:<name>`) → the macro's file, so a
/// Jinja error raised inside a macro names where that macro is written.
/// Process-wide because an error can surface on any thread, long after the
/// environment that loaded the macro was built.
static ORIGINS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();

/// Remember that the macro template `tpl` was written in `path`.
pub fn record_origin(tpl: &str, path: &str) {
    if let Ok(mut m) = ORIGINS.get_or_init(|| Mutex::new(HashMap::new())).lock() {
        m.insert(tpl.to_string(), path.to_string());
    }
}

/// The package, macro name and file of a macro's template name; the file
/// is `?` for a macro nobody recorded.
pub fn template_origin(tpl: &str) -> Option<(String, String, String)> {
    let rest = tpl.strip_prefix("macro:")?;
    let (package, name) = rest.split_once(':')?;
    let path = ORIGINS
        .get()
        .and_then(|m| m.lock().ok().and_then(|m| m.get(tpl).cloned()))
        .unwrap_or_else(|| "?".into());
    Some((package.to_string(), name.to_string(), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_messages_are_recognised() {
        let m = undefined_message("my_macro");
        assert!(m.starts_with("'my_macro' is undefined."), "{m}");
        assert!(is_undefined_message(&m));
        assert!(!is_undefined_message("'x' is not a number"));
    }

    #[test]
    fn origins_name_the_macro_file() {
        record_origin("macro:shop:cents", "macros/money.sql");
        assert_eq!(
            template_origin("macro:shop:cents"),
            Some(("shop".into(), "cents".into(), "macros/money.sql".into()))
        );
        assert_eq!(
            template_origin("macro:shop:never_loaded"),
            Some(("shop".into(), "never_loaded".into(), "?".into()))
        );
        assert_eq!(template_origin("models/orders.sql"), None);
    }
}
