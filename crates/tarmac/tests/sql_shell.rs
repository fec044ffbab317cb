//! `tarmac sql` driven as a person would: in a pseudo-terminal, typing, and
//! reading the emulated screen.

mod sql_common;

use std::time::{Duration, Instant};

use sql_common::*;

#[test]
fn multi_line_query_runs_on_the_semicolon() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let mut t = Term::start(dir.path(), &[db.to_str().unwrap()]);
    t.wait_for("Enter \".help\"", 20);
    t.wait_prompt(10);
    t.line("select airport, count(*) as n");
    // not run yet: a continuation line
    t.wait_for("· ", 5);
    assert!(!t.screen().contains("airport │"), "{}", t.screen());
    t.line("from flights group by all order by n desc;");
    let s = t.wait_for("│ BOG     │     2 │", 20);
    assert!(
        s.contains("│ varchar │ int64 │"),
        "duckbox shows types:\n{s}"
    );
    assert!(s.contains("│ MDE     │     1 │"), "{s}");
    t.wait_prompt(10);
    t.send("\x04"); // Ctrl-D
    assert_eq!(t.exit_code(10), 0);
}

#[test]
fn tab_completes_table_names_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let mut t = Term::start(dir.path(), &[db.to_str().unwrap()]);
    t.wait_prompt(20);
    // one candidate: completed at once
    t.send("select count(*) as c from wi");
    t.send("\t");
    t.wait_for("from wide", 5);
    t.line(";");
    t.wait_for("│     1 │", 20);
    t.wait_prompt(10);
    // two candidates (flights, and bronze.flightlabs_historical by its table
    // name): a menu; Tab moves, Enter picks
    t.send("select count(*) as c from fli");
    t.send("\t");
    t.wait_for("bronze.flightlabs_historical", 5);
    t.wait_for("flights ", 5);
    t.send("\t");
    t.send("\r");
    t.wait_for("from flights", 5);
    t.line(";");
    t.wait_for("│     3 │", 20);
    t.wait_prompt(10);
    // schema-qualified
    t.send("select landing_file from bronze.fl");
    t.send("\t");
    t.wait_for("from bronze.flightlabs_historical", 5);
    t.line(";");
    t.wait_for("a.json.zst", 20);
    t.wait_prompt(10);
    // a column of the table named after FROM, completed before it
    t.send("select delay_mi");
    t.send("\t");
    t.wait_for("select delay_minutes", 5);
    t.line(" from flights where id = 1;");
    t.wait_for("│          12.5 │", 20);
    t.wait_prompt(10);
    // completion knows tables created in this session
    t.line("create table runways(runway_code varchar);");
    t.wait_prompt(20);
    t.send("select * from runw");
    t.send("\t");
    t.wait_for("from runways", 5);
    t.line(";");
    t.wait_for("runway_code", 20);
    t.wait_prompt(10);
    t.line(".quit");
    assert_eq!(t.exit_code(10), 0);
}

#[test]
fn switching_modes_changes_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let mut t = Term::start(dir.path(), &[db.to_str().unwrap()]);
    t.wait_prompt(20);
    t.line(".mode csv");
    t.wait_prompt(10);
    t.line("select id, flight_number from flights where id <= 2 order by id;");
    t.wait_for("id,flight_number\n1,AV 123\n2,LA 456", 20);
    t.wait_prompt(10);
    t.line(".mode line");
    t.wait_prompt(10);
    t.line("select id, airport from flights where id = 3;");
    t.wait_for("     id = 3\nairport = BOG", 20);
    t.wait_prompt(10);
    t.line(".mode markdown");
    t.wait_prompt(10);
    t.line("select id from flights where id = 1;");
    t.wait_for("| id |\n|---:|\n|  1 |", 20);
    t.wait_prompt(10);
    t.line(".mode nonsense");
    t.wait_for("unknown mode \"nonsense\"", 10);
    t.wait_prompt(10);
    t.line(".quit");
    assert_eq!(t.exit_code(10), 0);
}

#[test]
fn ctrl_c_cancels_a_long_query_and_keeps_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = Term::start(dir.path(), &[":memory:"]);
    t.wait_prompt(20);
    t.line("select count(*) from range(1000000000000) a;");
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    t.send("\x03");
    t.wait_for("Interrupted", 10);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cancelled in {:?}",
        started.elapsed()
    );
    t.wait_prompt(10);
    t.line("select 42 as answer;");
    t.wait_for("│     42 │", 20);
    t.wait_prompt(10);
    // Ctrl-C at the prompt clears the line, and the shell stays
    t.send("select 'discarded'");
    t.send("\x03");
    t.wait_prompt(10);
    t.send("\x04");
    let code = t.exit_code(10);
    assert_eq!(code, 0, "{}", t.screen());
}

#[test]
fn wide_results_fit_the_terminal_and_long_ones_are_elided() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let mut t = Term::start(dir.path(), &[db.to_str().unwrap()]);
    t.wait_prompt(20);
    t.line("select * from wide;");
    let s = t.wait_for("7 columns (", 20);
    for line in s.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than the terminal: {line:?}\n{s}"
        );
    }
    t.wait_prompt(10);
    t.line(".maxrows 6");
    t.line("select * from range(1000) t(n);");
    let s = t.wait_for("1,000 rows (6 shown)", 20);
    assert!(s.contains(" 999 │") && s.contains(" · │"), "{s}");
    assert!(!s.contains(" 500 │"), "{s}");
    t.wait_prompt(10);
    t.send("\x04");
    assert_eq!(t.exit_code(10), 0);
}

#[test]
fn history_is_kept_across_sessions_and_searchable() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let mut t = Term::start(dir.path(), &[db.to_str().unwrap()]);
    t.wait_prompt(20);
    t.line("select 'remember me' as memo;");
    t.wait_for("remember me", 20);
    t.wait_prompt(10);
    t.send("\x04");
    assert_eq!(t.exit_code(10), 0);
    let history = std::fs::read_to_string(dir.path().join("history")).unwrap();
    assert!(
        history.contains("select 'remember me' as memo;"),
        "{history}"
    );

    let mut t = Term::start(dir.path(), &[db.to_str().unwrap()]);
    t.wait_prompt(20);
    t.send("\x12"); // Ctrl-R
    t.send("remem");
    t.wait_for("select 'remember me' as memo;", 5);
    t.send("\r"); // take the match
    t.send("\r"); // and run it
    t.wait_for("│ remember me │", 20);
    t.wait_prompt(10);
    t.send("\x04");
    assert_eq!(t.exit_code(10), 0);
}

#[test]
fn the_shell_does_not_block_a_writer_between_statements() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let mut t = Term::start(dir.path(), &[db.to_str().unwrap()]);
    t.wait_prompt(20);
    t.line("select count(*) as n from flights;");
    t.wait_for("│     3 │", 20);
    t.wait_prompt(10);
    // The shell sits at its prompt: another process can write the file.
    {
        let writer = duckdb::Connection::open(&db)
            .expect("the warehouse is free while the shell waits for input");
        writer
            .execute_batch("INSERT INTO flights (id) VALUES (4)")
            .unwrap();
    }
    t.line("select count(*) as n2 from flights;");
    t.wait_for("│     4 │", 20);
    t.wait_prompt(10);
    t.send("\x04");
    assert_eq!(t.exit_code(10), 0);
}

#[test]
fn a_locked_warehouse_is_waited_for_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    // This test process holds the file as a writer would.
    let writer = duckdb::Connection::open(&db).unwrap();
    let mut t = Term::start(dir.path(), &[db.to_str().unwrap(), "--wait", "20"]);
    t.wait_prompt(20);
    t.line("select count(*) as n from flights;");
    t.wait_for("being written by another process", 10);
    t.wait_for("Ctrl-C to give up", 5);
    drop(writer);
    t.wait_for("│     3 │", 20);
    t.wait_prompt(10);
    // and Ctrl-C gives up waiting
    let writer = duckdb::Connection::open(&db).unwrap();
    t.line("select 1 as again;");
    t.wait_for("waiting up to 20 s", 10);
    t.send("\x03");
    t.wait_for("gave up waiting", 10);
    t.wait_prompt(10);
    drop(writer);
    t.send("\x04");
    assert_eq!(t.exit_code(10), 0);
}

#[test]
fn sql_errors_show_the_position_and_keep_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let mut t = Term::start(dir.path(), &[db.to_str().unwrap()]);
    t.wait_prompt(20);
    t.line("select nope from flights;");
    let s = t.wait_for("LINE 1: select nope from flights", 20);
    assert!(s.contains("^"), "{s}");
    t.wait_prompt(10);
    t.line(".tables");
    t.wait_for("bronze.flightlabs_historical", 10);
    t.wait_prompt(10);
    t.send("\x04");
    assert_eq!(t.exit_code(10), 0);
}
