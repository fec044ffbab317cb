//! The interactive loop: reedline with multi-line statements (run on `;`),
//! history in the user's data directory, Ctrl-R search, colours and Tab
//! completion.

use std::borrow::Cow;
use std::io::Write;
use std::path::PathBuf;

use reedline::{
    default_emacs_keybindings, ColumnarMenu, Emacs, FileBackedHistory, KeyCode, KeyModifiers,
    MenuBuilder, Prompt, PromptEditMode, PromptHistorySearch, PromptHistorySearchStatus, Reedline,
    ReedlineEvent, ReedlineMenu, Signal, ValidationResult, Validator,
};

use crate::complete::SqlCompleter;
use crate::highlight::SqlHighlighter;
use crate::sql::{is_complete, split_script};
use crate::{Error, Flow, Shell};

/// Lines kept in the history file.
const HISTORY_LINES: usize = 10_000;

/// A statement is run when it ends with `;` (or is a dot command); Enter
/// before that starts a new line of the same statement.
struct SqlValidator;

impl Validator for SqlValidator {
    fn validate(&self, line: &str) -> ValidationResult {
        if is_complete(line) {
            ValidationResult::Complete
        } else {
            ValidationResult::Incomplete
        }
    }
}

/// `D ` as in the DuckDB CLI, `· ` on continuation lines.
struct SqlPrompt;

impl Prompt for SqlPrompt {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("D ")
    }
    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("· ")
    }
    fn render_prompt_history_search_indicator(&self, search: PromptHistorySearch) -> Cow<'_, str> {
        let failing = match search.status {
            PromptHistorySearchStatus::Passing => "",
            PromptHistorySearchStatus::Failing => "failing ",
        };
        Cow::Owned(format!("({failing}search: {}) ", search.term))
    }
}

/// The history file: `$TARMAC_SQL_HISTORY`, else `tarmac/sql_history` in the
/// user's data directory (XDG on Linux, Application Support on macOS).
pub fn default_history_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TARMAC_SQL_HISTORY").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            home.map(|h| {
                if cfg!(target_os = "macos") {
                    h.join("Library/Application Support")
                } else {
                    h.join(".local/share")
                }
            })
        })?;
    Some(data.join("tarmac").join("sql_history"))
}

fn editor(shell: &Shell, history_file: Option<PathBuf>) -> Reedline {
    let mut keybindings = default_emacs_keybindings();
    keybindings.add_binding(
        KeyModifiers::NONE,
        KeyCode::Tab,
        ReedlineEvent::UntilFound(vec![
            ReedlineEvent::Menu("completion_menu".to_string()),
            ReedlineEvent::MenuNext,
        ]),
    );
    keybindings.add_binding(
        KeyModifiers::SHIFT,
        KeyCode::BackTab,
        ReedlineEvent::MenuPrevious,
    );
    let menu = ColumnarMenu::default().with_name("completion_menu");
    let mut editor = Reedline::create()
        .with_edit_mode(Box::new(Emacs::new(keybindings)))
        .with_completer(Box::new(SqlCompleter::new(
            shell.catalog.clone(),
            shell.catalog_ready.clone(),
        )))
        .with_menu(ReedlineMenu::EngineCompleter(Box::new(menu)))
        .with_quick_completions(true)
        .with_partial_completions(true)
        .with_highlighter(Box::new(SqlHighlighter))
        .with_validator(Box::new(SqlValidator));
    let file = history_file.or_else(default_history_file);
    let history = file.and_then(|f| {
        if let Some(dir) = f.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match FileBackedHistory::with_file(HISTORY_LINES, f.clone()) {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("warning: history not kept: cannot use {}: {e}", f.display());
                None
            }
        }
    });
    if let Some(h) = history {
        editor = editor.with_history(Box::new(h));
    }
    editor
}

/// Runs the interactive shell until `.quit` or Ctrl-D.
pub fn run(shell: &mut Shell, history_file: Option<PathBuf>) -> Result<i32, Error> {
    {
        // The database opens in the background meanwhile (see `Slot`).
        let mut out = std::io::stdout().lock();
        let db = shell.database.as_ref().map_or_else(
            || "in-memory database".to_string(),
            |p| p.display().to_string(),
        );
        let _ = writeln!(
            out,
            "tarmac sql on {db} (DuckDB {})",
            crate::duckdb_version()
        );
        let _ = writeln!(out, "Enter \".help\" for usage hints.");
        let _ = out.flush();
    }
    let mut editor = editor(shell, history_file);
    let prompt = SqlPrompt;
    loop {
        shell.ctrl_c.clear();
        let signal = editor
            .read_line(&prompt)
            .map_err(|e| Error::Io(format!("cannot read the terminal: {e}")))?;
        match signal {
            Signal::Success(buffer) => {
                let _ = editor.sync_history();
                for piece in split_script(&buffer) {
                    match shell.run_piece(&piece) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Quit) => return Ok(0),
                        Err(Error::BrokenPipe) => {}
                        Err(e) => {
                            shell.report(&e);
                            break; // the rest of this input depended on it
                        }
                    }
                }
            }
            Signal::CtrlC => {}
            Signal::CtrlD => return Ok(0),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_statements_wait_for_the_semicolon() {
        assert!(matches!(
            SqlValidator.validate("select 1"),
            ValidationResult::Incomplete
        ));
        assert!(matches!(
            SqlValidator.validate("select 1\n;"),
            ValidationResult::Complete
        ));
        assert!(matches!(
            SqlValidator.validate(".tables"),
            ValidationResult::Complete
        ));
    }
}
