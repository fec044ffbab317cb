//! The import graph between the top-level modules of a crate, and its
//! cycles: what issue 20's "no module imports cycle back" is checked with
//! (`tests/module_cycles.rs`).
//!
//! A module is a file `src/<m>.rs` or a folder `src/<m>/` (its files count
//! as `<m>`). Module `a` imports `b` when a file of `a` names `crate::b`,
//! in a `use` (braces included: `use crate::{b, c::d}`) or in a path. Test
//! modules (from a `#[cfg(test)]` line on) are left out: a test may reach
//! anywhere. Comments are left out too. The scan reads text, not a syntax
//! tree: a crate's own path names its modules so plainly that this is
//! exact for how Rust is written here, and it needs neither a parser nor
//! a build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name -> the modules it imports (itself left out).
pub type Graph = BTreeMap<String, BTreeSet<String>>;

/// The import graph of the crate whose sources are in `src`.
pub fn graph(src: &Path) -> std::io::Result<Graph> {
    let mut files: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if path.is_dir() {
            let mut stack = vec![path.clone()];
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir)? {
                    let p = e?.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "rs") {
                        files.push((name.to_string(), std::fs::read_to_string(&p)?));
                    }
                }
            }
        } else if path.extension().is_some_and(|x| x == "rs") && name != "lib" && name != "main" {
            files.push((name.to_string(), std::fs::read_to_string(&path)?));
        }
    }
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut g: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (module, text) in &files {
        for target in imports(text) {
            if &target != module && modules.contains(&target) {
                g.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    Ok(g)
}

/// The top-level modules a file's non-test code names after `crate::`.
fn imports(text: &str) -> BTreeSet<String> {
    let code = strip_comments(text);
    let code = match code.find("#[cfg(test)]") {
        Some(i) => &code[..i],
        None => &code[..],
    };
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        // `foo_crate::x` is another path; `crate::` must start a path
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(inner) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d as e}`: the first segment of each item
            let end = matching_brace(inner).unwrap_or(inner.len());
            for item in split_top_level(&inner[..end]) {
                if let Some(name) = first_segment(item) {
                    out.insert(name);
                }
            }
        } else if let Some(name) = first_segment(rest) {
            out.insert(name);
        }
    }
    out
}

fn first_segment(s: &str) -> Option<String> {
    let s = s.trim_start();
    let name: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// The index of the `}` closing a `{` just before `s`.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// `a, b::{c, d}, e` -> `a`, `b::{c, d}`, `e`.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// The code of `text` without its comments, string literals (raw ones
/// too) and character literals: what is left is only paths, keywords and
/// punctuation, so neither a `crate::` nor a `//` inside a string can
/// mislead the scan.
fn strip_comments(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev = i.checked_sub(1).map(|p| chars[p]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            // block comments nest in Rust
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        // a raw string: r"…", r#"…"#, br"…" (`r` not ending an identifier)
        let raw_start = c == 'r'
            && (prev.is_none_or(|p| !ident(p))
                || (prev == Some('b') && (i < 2 || !ident(chars[i - 2]))));
        if raw_start {
            let mut j = i + 1;
            while chars.get(j) == Some(&'#') {
                j += 1;
            }
            if chars.get(j) == Some(&'"') {
                let hashes = j - i - 1;
                j += 1;
                while j < chars.len() {
                    if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
            continue;
        }
        if c == '\'' {
            // a character literal ('x', '\n', '\''), else a lifetime
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
                continue;
            }
            if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The strongly connected components of more than one module (the import
/// cycles), each sorted, in name order.
pub fn cycles(g: &Graph) -> Vec<BTreeSet<String>> {
    // Tarjan's algorithm, iteratively (deep graphs must not overflow).
    let names: Vec<&String> = g.keys().collect();
    let index_of: BTreeMap<&String, usize> =
        names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let edges: Vec<Vec<usize>> = names
        .iter()
        .map(|n| {
            g[*n]
                .iter()
                .filter_map(|t| index_of.get(t).copied())
                .collect()
        })
        .collect();
    let n = names.len();
    let (mut index, mut low, mut on_stack) = (vec![usize::MAX; n], vec![0; n], vec![false; n]);
    let (mut stack, mut next, mut out) = (Vec::new(), 0usize, Vec::new());
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some((v, edge)) = work.pop() {
            if edge == 0 {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(edge) {
                work.push((v, edge + 1));
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = BTreeSet::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.insert(names[w].clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    out.push(component);
                }
            }
        }
    }
    out.sort();
    out
}

/// One import path from `from` back to itself inside `cycle`, for the
/// message that says which imports close it.
pub fn path_around(g: &Graph, cycle: &BTreeSet<String>, from: &str) -> Vec<String> {
    // breadth-first from `from`'s imports back to `from`
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::new();
    for t in g.get(from).into_iter().flatten() {
        if cycle.contains(t) && !prev.contains_key(t) {
            prev.insert(t.clone(), from.to_string());
            queue.push_back(t.clone());
        }
    }
    while let Some(v) = queue.pop_front() {
        if v == from {
            break;
        }
        for t in g.get(&v).into_iter().flatten() {
            if cycle.contains(t) && !prev.contains_key(t) {
                prev.insert(t.clone(), v.clone());
                queue.push_back(t.clone());
            }
        }
    }
    let mut path = vec![from.to_string()];
    let mut at = prev.get(from).cloned();
    while let Some(v) = at {
        if v == from {
            break;
        }
        path.push(v.clone());
        at = prev.get(&v).cloned();
    }
    path.push(from.to_string());
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paths_uses_and_braces_but_not_comments_or_tests() {
        let text = "use crate::a::X;\nuse crate::{b, c::{D, E}, self};\n\
                    // crate::commented\n/* crate::blocked /* nested */ crate::x */\n\
                    const T: &str = r#\"say \"crate::s\" // not a comment\"#;\n\
                    const Q: char = '\"'; const U: &str = \"crate::u\";\n\
                    fn f<'a>(x: &'a str) { crate::d::g(); other_crate::e::h(); }\n\
                    #[cfg(test)]\nmod tests { use crate::t; }\n";
        let got: Vec<String> = imports(text).into_iter().collect();
        assert_eq!(got, ["a", "b", "c", "d"]);
    }

    #[test]
    fn finds_each_cycle_once_and_a_path_around_it() {
        let mut g = Graph::new();
        let edge = |g: &mut Graph, a: &str, b: &str| {
            g.entry(a.into()).or_default().insert(b.into());
            g.entry(b.into()).or_default();
        };
        edge(&mut g, "a", "b");
        edge(&mut g, "b", "c");
        edge(&mut g, "c", "a");
        edge(&mut g, "c", "d");
        edge(&mut g, "d", "e");
        edge(&mut g, "e", "d");
        edge(&mut g, "f", "a");
        let found = cycles(&g);
        let expect: Vec<BTreeSet<String>> = vec![
            ["a", "b", "c"].iter().map(|s| s.to_string()).collect(),
            ["d", "e"].iter().map(|s| s.to_string()).collect(),
        ];
        assert_eq!(found, expect);
        assert_eq!(path_around(&g, &found[0], "b"), ["b", "c", "a", "b"]);
    }
}
