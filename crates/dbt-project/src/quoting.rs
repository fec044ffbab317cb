//! dbt's quote policy for a relation's parts. It lives here, below the
//! Jinja layer, because properties files set it (a source's and its
//! table's `quoting:`) and are read in this crate; `dbt_jinja::relation`
//! renders with it.

/// Which parts of a relation are quoted when rendered: dbt's quote policy
/// (all quoted by default; dbt_project.yml `quoting:` for models, seeds and
/// snapshots, a source's and its table's `quoting:` for sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quoting {
    pub database: bool,
    pub schema: bool,
    pub identifier: bool,
}

impl Default for Quoting {
    fn default() -> Self {
        Quoting {
            database: true,
            schema: true,
            identifier: true,
        }
    }
}

impl Quoting {
    /// This policy with the booleans of a `quoting:` mapping over it
    /// (other keys and non-boolean values are ignored, as dbt does).
    pub fn merged(mut self, v: Option<&serde_json::Value>) -> Quoting {
        let Some(serde_json::Value::Object(m)) = v else {
            return self;
        };
        let flag = |k: &str| match m.get(k) {
            Some(serde_json::Value::Bool(b)) => Some(*b),
            Some(serde_json::Value::String(s)) => match crate::yaml::coerce_scalar(s) {
                serde_json::Value::Bool(b) => Some(b),
                _ => None,
            },
            _ => None,
        };
        if let Some(b) = flag("database") {
            self.database = b;
        }
        if let Some(b) = flag("schema") {
            self.schema = b;
        }
        if let Some(b) = flag("identifier") {
            self.identifier = b;
        }
        self
    }
}
