//! What differs between a node's parse render and its compile render, for
//! rendering a model once (`jinja::Rendered`): the tokens a deferred
//! reference prints as, and a per-thread flag a parse render raises when
//! it takes a path only parsing takes. Below `relation`, `builtins` and
//! `jinja`, which all use it.

/// A `Relation::deferred` token in rendered text: its index between
/// control characters no SQL file holds, and around it quotes, dots and
/// both cases, as a relation's name has, so that a filter that would
/// change the name (`upper`, `replace('"', '')`, `split('.')`, a slice)
/// changes the token too and the compile sees it cut and renders instead.
pub const TOKEN_START: char = '\u{1}';
pub const TOKEN_END: char = '\u{2}';
pub const TOKEN_HEAD: &str = "\"r\".";
pub const TOKEN_TAIL: &str = ".\"R\"";

thread_local! {
    /// Set while [`watching_divergence`] runs on this thread once the
    /// render did something a compile would do otherwise.
    static DIVERGED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` (a parse render) and say whether the render took a path that
/// only parsing takes: a parse leniency (a missing `var()` as none, an
/// undefined name absorbed) or a look inside a deferred reference. Its
/// text is then not what the compile renders, which must render again.
pub fn watching_divergence<T>(f: impl FnOnce() -> T) -> (T, bool) {
    let outer = DIVERGED.with(|d| d.replace(false));
    let out = f();
    let diverged = DIVERGED.with(|d| d.replace(outer));
    (out, diverged)
}

/// See [`watching_divergence`].
pub fn note_divergence() {
    DIVERGED.with(|d| d.set(true));
}
