//! Arguments of a Jinja call bound the way Python binds them, for the parts
//! of dbt's context that stand in for Python methods (`adapter.quote`,
//! `api.Relation.create`, `modules.re.sub`, `config.get`, `statement`...).
//! Python takes most parameters either by position or by name
//! (`quote('x')` or `quote(identifier='x')`), and minijinja hands keyword
//! arguments over as one trailing kwargs value; every stand-in used to split
//! and look them up by hand, so the lookup lives here once.

use minijinja::value::Value;

/// A call's positional arguments and its keyword arguments, if any.
#[derive(Debug, Clone, Copy)]
pub struct Args<'a> {
    /// The positional arguments, in order.
    pub pos: &'a [Value],
    /// The trailing kwargs value, when the call passed keyword arguments.
    pub kwargs: Option<&'a Value>,
}

impl<'a> Args<'a> {
    /// Split positional arguments from trailing keyword arguments.
    pub fn new(args: &'a [Value]) -> Self {
        match args.split_last() {
            Some((last, rest)) if last.is_kwargs() => Args {
                pos: rest,
                kwargs: Some(last),
            },
            _ => Args {
                pos: args,
                kwargs: None,
            },
        }
    }

    /// Keyword argument `key`, if given.
    pub fn named(&self, key: &str) -> Option<Value> {
        self.kwargs
            .and_then(|k| k.get_attr(key).ok())
            .filter(|v| !v.is_undefined())
    }

    /// Parameter `key` at position `i`: positional first, else by name.
    pub fn get(&self, i: usize, key: &str) -> Option<Value> {
        self.pos.get(i).cloned().or_else(|| self.named(key))
    }

    /// [`Args::get`] as a string; `""` when absent (a `None` argument
    /// prints as `None`, as Python's `str()` does).
    pub fn string(&self, i: usize, key: &str) -> String {
        self.get(i, key).map(|v| v.to_string()).unwrap_or_default()
    }

    /// [`Args::get`] as a string, with `None` counting as absent (optional
    /// parameters whose Python default is `None`).
    pub fn opt_string(&self, i: usize, key: &str) -> Option<String> {
        self.get(i, key)
            .filter(|v| !v.is_none())
            .map(|v| v.to_string())
    }

    /// [`Args::get`] as an integer; `default` when absent or not an integer.
    pub fn int(&self, i: usize, key: &str, default: i64) -> i64 {
        self.get(i, key).and_then(|v| v.as_i64()).unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kwargs(pairs: &[(&str, Value)]) -> Value {
        Value::from(minijinja::value::Kwargs::from_iter(
            pairs.iter().map(|(k, v)| (k.to_string(), v.clone())),
        ))
    }

    #[test]
    fn binds_by_position_then_by_name() {
        let call = [
            Value::from("db"),
            kwargs(&[("identifier", Value::from("t")), ("n", Value::from(3))]),
        ];
        let a = Args::new(&call);
        assert_eq!(a.pos.len(), 1);
        assert_eq!(a.string(0, "database"), "db");
        assert_eq!(a.string(2, "identifier"), "t");
        assert_eq!(a.string(1, "schema"), "");
        assert_eq!(a.int(5, "n", 0), 3);
        assert_eq!(a.int(6, "m", 7), 7);
        assert!(a.named("database").is_none());
    }

    #[test]
    fn none_is_absent_only_for_optional_strings() {
        let call = [Value::from(()), Value::from("x")];
        let a = Args::new(&call);
        assert!(a.kwargs.is_none());
        assert_eq!(a.opt_string(0, "database"), None);
        assert_eq!(a.opt_string(1, "schema").as_deref(), Some("x"));
        assert_eq!(a.string(0, "database"), "None");
    }
}
