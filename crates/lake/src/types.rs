//! DuckDB column types to Iceberg types, exactly or not at all.
//!
//! DuckDB describes a column with a type string (`DECIMAL(18,3)`,
//! `STRUCT("a b" INTEGER, c VARCHAR[])`, `MAP(VARCHAR, DOUBLE)`); this module
//! parses it, maps it to the Iceberg type a reader will see, and says how
//! the column must be written to Parquet so that its values are that type
//! (a `CAST` where DuckDB's type is narrower than Iceberg's, the field ids
//! Iceberg readers match columns by).
//!
//! | DuckDB | Iceberg (format v2) | written as |
//! |---|---|---|
//! | BOOLEAN | boolean | as is |
//! | TINYINT, SMALLINT, INTEGER, UTINYINT, USMALLINT | int | INTEGER |
//! | BIGINT, UINTEGER | long | BIGINT |
//! | FLOAT / DOUBLE | float / double | as is |
//! | DECIMAL(p,s) | decimal(p,s) | as is |
//! | VARCHAR, ENUM, JSON | string | VARCHAR |
//! | BLOB | binary | as is |
//! | UUID | uuid | as is |
//! | DATE / TIME | date / time | as is |
//! | TIMESTAMP, TIMESTAMP_S, TIMESTAMP_MS | timestamp (µs) | TIMESTAMP |
//! | TIMESTAMP WITH TIME ZONE | timestamptz (µs) | as is |
//! | T[] and T[n] | list<T> | T'[] |
//! | STRUCT(…) | struct<…> | STRUCT(…) |
//! | MAP(K, V) | map<K, V> | MAP(K', V') |
//!
//! HUGEINT, UHUGEINT, UBIGINT (values beyond a long), TIMESTAMP_NS (v2 has
//! no nanoseconds), TIME WITH TIME ZONE, INTERVAL, BIT, UNION and VARINT have
//! no Iceberg equivalent: publishing such a column is an error that names
//! it, with what to cast it to in the model.

use std::fmt::Write as _;

use iceberg::spec::{
    ListType, MapType, NestedField, NestedFieldRef, PrimitiveType, StructType, Type,
};

/// A DuckDB type, as far as publishing needs to tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuckType {
    Boolean,
    /// Fits an Iceberg int after a cast (TINYINT … USMALLINT, INTEGER).
    SmallInt(String),
    Integer,
    /// Fits an Iceberg long after a cast (UINTEGER).
    BigIntLike(String),
    BigInt,
    Float,
    Double,
    Decimal(u32, u32),
    /// VARCHAR; ENUM and JSON carry their own name and are cast.
    Varchar(Option<String>),
    Blob,
    Uuid,
    Date,
    Time,
    Timestamp,
    /// TIMESTAMP_S / TIMESTAMP_MS: cast to microseconds.
    TimestampCoarse(String),
    TimestampTz,
    List(Box<DuckType>),
    Struct(Vec<(String, DuckType)>),
    Map(Box<DuckType>, Box<DuckType>),
    /// A type Iceberg has no equivalent for, with advice.
    Unsupported(String, &'static str),
}

/// Parses a DuckDB type string as `DESCRIBE` and `information_schema`
/// print it.
pub fn parse(text: &str) -> Result<DuckType, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        text,
    };
    let t = p.ty()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected `{}` in type {text}", &text[p.i..]));
    }
    Ok(t)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}` in type {}", c as char, self.text))
        }
    }

    /// A bare word, or a double-quoted name (`""` is a quote inside).
    fn name(&mut self) -> Result<String, String> {
        self.ws();
        if self.eat(b'"') {
            let mut out = String::new();
            loop {
                match self.s.get(self.i) {
                    None => return Err(format!("unclosed quote in type {}", self.text)),
                    Some(b'"') if self.s.get(self.i + 1) == Some(&b'"') => {
                        out.push('"');
                        self.i += 2;
                    }
                    Some(b'"') => {
                        self.i += 1;
                        return Ok(out);
                    }
                    Some(_) => {
                        let rest = &self.text[self.i..];
                        let ch = rest.chars().next().unwrap_or_default();
                        out.push(ch);
                        self.i += ch.len_utf8();
                    }
                }
            }
        }
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        if start == self.i {
            return Err(format!("expected a name in type {}", self.text));
        }
        Ok(self.text[start..self.i].to_string())
    }

    /// Skips a balanced `( … )` (ENUM labels, UNION members), quotes included.
    fn skip_parens(&mut self) -> Result<(), String> {
        self.expect(b'(')?;
        let mut depth = 1;
        let mut quote: Option<u8> = None;
        while self.i < self.s.len() {
            let c = self.s[self.i];
            self.i += 1;
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    b'\'' | b'"' => quote = Some(c),
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(());
                        }
                    }
                    _ => {}
                },
            }
        }
        Err(format!("unbalanced parentheses in type {}", self.text))
    }

    fn number(&mut self) -> Result<u32, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.text[start..self.i]
            .parse()
            .map_err(|_| format!("expected a number in type {}", self.text))
    }

    fn ty(&mut self) -> Result<DuckType, String> {
        let word = self.name()?.to_ascii_uppercase();
        let mut t = match word.as_str() {
            "BOOLEAN" | "BOOL" | "LOGICAL" => DuckType::Boolean,
            "TINYINT" | "INT1" | "SMALLINT" | "INT2" | "SHORT" | "UTINYINT" | "USMALLINT" => {
                DuckType::SmallInt(word)
            }
            "INTEGER" | "INT" | "INT4" | "SIGNED" => DuckType::Integer,
            "UINTEGER" => DuckType::BigIntLike(word),
            "BIGINT" | "INT8" | "LONG" => DuckType::BigInt,
            "FLOAT" | "REAL" | "FLOAT4" => DuckType::Float,
            "DOUBLE" | "FLOAT8" => DuckType::Double,
            "DECIMAL" | "NUMERIC" => {
                if self.eat(b'(') {
                    let p = self.number()?;
                    let s = if self.eat(b',') { self.number()? } else { 0 };
                    self.expect(b')')?;
                    DuckType::Decimal(p, s)
                } else {
                    DuckType::Decimal(18, 3)
                }
            }
            "VARCHAR" | "TEXT" | "STRING" | "CHAR" | "BPCHAR" => {
                // VARCHAR(n): the length is not enforced by DuckDB either
                if self.s.get(self.i) == Some(&b'(') {
                    self.skip_parens()?;
                }
                DuckType::Varchar(None)
            }
            "JSON" => DuckType::Varchar(Some(word)),
            "ENUM" => {
                self.skip_parens()?;
                DuckType::Varchar(Some(word))
            }
            "BLOB" | "BYTEA" | "BINARY" | "VARBINARY" => DuckType::Blob,
            "UUID" => DuckType::Uuid,
            "DATE" => DuckType::Date,
            "TIME" => {
                if self.with_time_zone() {
                    DuckType::Unsupported(
                        "TIME WITH TIME ZONE".into(),
                        "Iceberg's time has no zone; cast it to TIME (UTC) in the model",
                    )
                } else {
                    DuckType::Time
                }
            }
            "TIMETZ" => DuckType::Unsupported(
                "TIME WITH TIME ZONE".into(),
                "Iceberg's time has no zone; cast it to TIME (UTC) in the model",
            ),
            "TIMESTAMP" | "DATETIME" => {
                if self.with_time_zone() {
                    DuckType::TimestampTz
                } else {
                    DuckType::Timestamp
                }
            }
            "TIMESTAMPTZ" => DuckType::TimestampTz,
            "TIMESTAMP_S" | "TIMESTAMP_MS" => DuckType::TimestampCoarse(word),
            "TIMESTAMP_NS" => DuckType::Unsupported(
                word,
                "Iceberg v2 timestamps are microseconds; cast it to TIMESTAMP in the model",
            ),
            "HUGEINT" | "INT128" => DuckType::Unsupported(
                word,
                "Iceberg's widest integer is a long; cast it to BIGINT or DECIMAL(38,0) in the model",
            ),
            "UHUGEINT" | "UBIGINT" => DuckType::Unsupported(
                word,
                "Iceberg has no unsigned 64-bit integer; cast it to BIGINT or DECIMAL(20,0) in the model",
            ),
            "INTERVAL" => DuckType::Unsupported(
                word,
                "Iceberg has no interval; store seconds (epoch(x)) or a string in the model",
            ),
            "BIT" | "BITSTRING" => DuckType::Unsupported(
                word,
                "Iceberg has no bit string; cast it to VARCHAR or BLOB in the model",
            ),
            "VARINT" | "BIGNUM" => DuckType::Unsupported(
                word,
                "Iceberg has no arbitrary-precision integer; cast it to DECIMAL(38,0) in the model",
            ),
            "UNION" => {
                self.skip_parens()?;
                DuckType::Unsupported(
                    word,
                    "Iceberg has no union; split it into columns in the model",
                )
            }
            "STRUCT" | "ROW" => {
                self.expect(b'(')?;
                let mut fields = Vec::new();
                loop {
                    let name = self.name()?;
                    let t = self.ty()?;
                    fields.push((name, t));
                    if !self.eat(b',') {
                        break;
                    }
                }
                self.expect(b')')?;
                DuckType::Struct(fields)
            }
            "MAP" => {
                self.expect(b'(')?;
                let k = self.ty()?;
                self.expect(b',')?;
                let v = self.ty()?;
                self.expect(b')')?;
                DuckType::Map(Box::new(k), Box::new(v))
            }
            "LIST" => {
                // LIST(T), an older spelling of T[]
                self.expect(b'(')?;
                let t = self.ty()?;
                self.expect(b')')?;
                DuckType::List(Box::new(t))
            }
            _ => DuckType::Unsupported(word, "Iceberg has no equivalent type"),
        };
        // T[] and T[n], any number of times
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'[') {
                break;
            }
            self.i += 1;
            while self.i < self.s.len() && self.s[self.i] != b']' {
                self.i += 1;
            }
            self.expect(b']')?;
            t = DuckType::List(Box::new(t));
        }
        Ok(t)
    }

    fn with_time_zone(&mut self) -> bool {
        let save = self.i;
        self.ws();
        let rest = self.text[self.i..].to_ascii_uppercase();
        if rest.starts_with("WITH TIME ZONE") {
            self.i += "WITH TIME ZONE".len();
            true
        } else {
            self.i = save;
            false
        }
    }
}

impl DuckType {
    /// The first unsupported type inside, with its advice.
    pub fn unsupported(&self) -> Option<(&str, &'static str)> {
        match self {
            DuckType::Unsupported(name, why) => Some((name, why)),
            DuckType::List(t) => t.unsupported(),
            DuckType::Map(k, v) => k.unsupported().or_else(|| v.unsupported()),
            DuckType::Struct(fields) => fields.iter().find_map(|(_, t)| t.unsupported()),
            _ => None,
        }
    }

    /// The DuckDB type the column is written as (after the cast, if any).
    pub fn written(&self) -> String {
        match self {
            DuckType::Boolean => "BOOLEAN".into(),
            DuckType::SmallInt(_) | DuckType::Integer => "INTEGER".into(),
            DuckType::BigIntLike(_) | DuckType::BigInt => "BIGINT".into(),
            DuckType::Float => "FLOAT".into(),
            DuckType::Double => "DOUBLE".into(),
            DuckType::Decimal(p, s) => format!("DECIMAL({p},{s})"),
            DuckType::Varchar(_) => "VARCHAR".into(),
            DuckType::Blob => "BLOB".into(),
            DuckType::Uuid => "UUID".into(),
            DuckType::Date => "DATE".into(),
            DuckType::Time => "TIME".into(),
            DuckType::Timestamp | DuckType::TimestampCoarse(_) => "TIMESTAMP".into(),
            DuckType::TimestampTz => "TIMESTAMP WITH TIME ZONE".into(),
            DuckType::List(t) => format!("{}[]", t.written()),
            DuckType::Struct(fields) => {
                let mut out = String::from("STRUCT(");
                for (i, (name, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "{} {}", quote_ident(name), t.written());
                }
                out.push(')');
                out
            }
            DuckType::Map(k, v) => format!("MAP({}, {})", k.written(), v.written()),
            DuckType::Unsupported(name, _) => name.clone(),
        }
    }

    /// Whether writing needs a cast (some part is narrower than Iceberg's).
    pub fn needs_cast(&self) -> bool {
        match self {
            DuckType::SmallInt(_)
            | DuckType::BigIntLike(_)
            | DuckType::Varchar(Some(_))
            | DuckType::TimestampCoarse(_) => true,
            DuckType::List(t) => t.needs_cast(),
            DuckType::Map(k, v) => k.needs_cast() || v.needs_cast(),
            DuckType::Struct(fields) => fields.iter().any(|(_, t)| t.needs_cast()),
            _ => false,
        }
    }

    /// The Iceberg type, numbering nested fields from `next_id`. Every field
    /// is optional: DuckDB columns are nullable unless a constraint says
    /// otherwise, and a reader must accept NULLs wherever DuckDB may have one.
    pub fn iceberg(&self, next_id: &mut i32) -> Type {
        let mut id = || {
            *next_id += 1;
            *next_id
        };
        match self {
            DuckType::Boolean => Type::Primitive(PrimitiveType::Boolean),
            DuckType::SmallInt(_) | DuckType::Integer => Type::Primitive(PrimitiveType::Int),
            DuckType::BigIntLike(_) | DuckType::BigInt => Type::Primitive(PrimitiveType::Long),
            DuckType::Float => Type::Primitive(PrimitiveType::Float),
            DuckType::Double => Type::Primitive(PrimitiveType::Double),
            DuckType::Decimal(p, s) => Type::Primitive(PrimitiveType::Decimal {
                precision: *p,
                scale: *s,
            }),
            DuckType::Varchar(_) => Type::Primitive(PrimitiveType::String),
            DuckType::Blob => Type::Primitive(PrimitiveType::Binary),
            DuckType::Uuid => Type::Primitive(PrimitiveType::Uuid),
            DuckType::Date => Type::Primitive(PrimitiveType::Date),
            DuckType::Time => Type::Primitive(PrimitiveType::Time),
            DuckType::Timestamp | DuckType::TimestampCoarse(_) => {
                Type::Primitive(PrimitiveType::Timestamp)
            }
            DuckType::TimestampTz => Type::Primitive(PrimitiveType::Timestamptz),
            DuckType::List(t) => {
                let element_id = id();
                let element = t.iceberg(next_id);
                Type::List(ListType::new(
                    NestedField::list_element(element_id, element, false).into(),
                ))
            }
            DuckType::Struct(fields) => {
                // ids of a struct's own fields first, then of their children
                let ids: Vec<i32> = fields.iter().map(|_| id()).collect();
                let fields: Vec<NestedFieldRef> = fields
                    .iter()
                    .zip(ids)
                    .map(|((name, t), fid)| {
                        NestedField::optional(fid, name, t.iceberg(next_id)).into()
                    })
                    .collect();
                Type::Struct(StructType::new(fields))
            }
            DuckType::Map(k, v) => {
                let key_id = id();
                let value_id = id();
                let key = k.iceberg(next_id);
                let value = v.iceberg(next_id);
                Type::Map(MapType::new(
                    NestedField::map_key_element(key_id, key).into(),
                    NestedField::map_value_element(value_id, value, false).into(),
                ))
            }
            DuckType::Unsupported(..) => Type::Primitive(PrimitiveType::Binary),
        }
    }
}

/// DuckDB's `FIELD_IDS` entry for a column written as `t` with Iceberg type
/// `ty` (ids from the table's current schema), as a struct literal value.
pub fn field_ids(field_id: i32, ty: &Type) -> String {
    match ty {
        Type::Primitive(_) => field_id.to_string(),
        Type::List(l) => format!(
            "{{__duckdb_field_id: {field_id}, element: {}}}",
            field_ids(l.element_field.id, &l.element_field.field_type)
        ),
        Type::Map(m) => format!(
            "{{__duckdb_field_id: {field_id}, key: {}, value: {}}}",
            field_ids(m.key_field.id, &m.key_field.field_type),
            field_ids(m.value_field.id, &m.value_field.field_type)
        ),
        Type::Struct(s) => {
            let mut out = format!("{{__duckdb_field_id: {field_id}");
            for f in s.fields() {
                let _ = write!(
                    out,
                    ", {}: {}",
                    quote_string(&f.name),
                    field_ids(f.id, &f.field_type)
                );
            }
            out.push('}');
            out
        }
    }
}

/// A DuckDB identifier, quoted.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A DuckDB string literal.
pub fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Whether an Iceberg table column of type `old` may take values of `new`
/// without rewriting what is published: equal, or one of Iceberg's type
/// promotions (int → long, float → double, a wider decimal of equal scale).
pub fn promotes(old: &Type, new: &Type) -> bool {
    use PrimitiveType as P;
    match (old, new) {
        (Type::Primitive(a), Type::Primitive(b)) => {
            a == b
                || matches!((a, b), (P::Int, P::Long) | (P::Float, P::Double))
                || matches!(
                    (a, b),
                    (P::Decimal { precision: p1, scale: s1 }, P::Decimal { precision: p2, scale: s2 })
                        if s1 == s2 && p2 >= p1
                )
        }
        (Type::List(a), Type::List(b)) => {
            promotes(&a.element_field.field_type, &b.element_field.field_type)
        }
        (Type::Map(a), Type::Map(b)) => {
            promotes(&a.key_field.field_type, &b.key_field.field_type)
                && promotes(&a.value_field.field_type, &b.value_field.field_type)
        }
        (Type::Struct(a), Type::Struct(b)) => {
            a.fields().len() == b.fields().len()
                && a.fields()
                    .iter()
                    .zip(b.fields())
                    .all(|(x, y)| x.name == y.name && promotes(&x.field_type, &y.field_type))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_map_to_their_iceberg_types() {
        let cases = [
            ("BOOLEAN", "boolean"),
            ("TINYINT", "int"),
            ("INTEGER", "int"),
            ("UINTEGER", "long"),
            ("BIGINT", "long"),
            ("DOUBLE", "double"),
            ("DECIMAL(18,3)", "decimal(18, 3)"),
            ("VARCHAR", "string"),
            ("DATE", "date"),
            ("TIME", "time"),
            ("TIMESTAMP", "timestamp"),
            ("TIMESTAMP WITH TIME ZONE", "timestamptz"),
            ("TIMESTAMP_MS", "timestamp"),
            ("UUID", "uuid"),
            ("BLOB", "binary"),
        ];
        for (duck, ice) in cases {
            let t = parse(duck).unwrap();
            assert!(t.unsupported().is_none(), "{duck}");
            assert_eq!(t.iceberg(&mut 0).to_string(), ice, "{duck}");
        }
    }

    #[test]
    fn nested_types_number_their_fields() {
        let t = parse(r#"STRUCT("a b" INTEGER, c VARCHAR[], m MAP(VARCHAR, DOUBLE))"#).unwrap();
        let mut next = 10;
        let ice = t.iceberg(&mut next);
        let Type::Struct(s) = &ice else { panic!() };
        let ids: Vec<i32> = s.fields().iter().map(|f| f.id).collect();
        assert_eq!(ids, vec![11, 12, 13]);
        assert_eq!(s.fields()[0].name, "a b");
        let Type::List(l) = &*s.fields()[1].field_type else {
            panic!()
        };
        assert_eq!(l.element_field.id, 14);
        let Type::Map(m) = &*s.fields()[2].field_type else {
            panic!()
        };
        assert_eq!((m.key_field.id, m.value_field.id), (15, 16));
        assert_eq!(next, 16);
        assert_eq!(
            field_ids(1, &ice),
            "{__duckdb_field_id: 1, 'a b': 11, 'c': {__duckdb_field_id: 12, element: 14}, \
             'm': {__duckdb_field_id: 13, key: 15, value: 16}}"
        );
    }

    #[test]
    fn narrow_types_are_cast_when_written() {
        let t = parse("STRUCT(a TINYINT, e ENUM('x', 'y'))[]").unwrap();
        assert!(t.needs_cast());
        assert_eq!(t.written(), r#"STRUCT("a" INTEGER, "e" VARCHAR)[]"#);
        assert!(!parse("INTEGER[3]").unwrap().needs_cast());
    }

    #[test]
    fn types_without_an_iceberg_equivalent_say_what_to_do() {
        for duck in [
            "HUGEINT",
            "UBIGINT",
            "INTERVAL",
            "TIMESTAMP_NS",
            "TIME WITH TIME ZONE",
            "UNION(a INTEGER, b VARCHAR)",
            "STRUCT(a INTERVAL)",
        ] {
            let t = parse(duck).unwrap();
            let (name, advice) = t.unsupported().unwrap_or_else(|| panic!("{duck}"));
            assert!(
                !name.is_empty() && advice.contains("Iceberg"),
                "{duck}: {advice}"
            );
        }
    }

    #[test]
    fn promotions_follow_iceberg() {
        let t = |s: &str| parse(s).unwrap().iceberg(&mut 0);
        assert!(promotes(&t("INTEGER"), &t("BIGINT")));
        assert!(promotes(&t("DECIMAL(9,2)"), &t("DECIMAL(18,2)")));
        assert!(!promotes(&t("BIGINT"), &t("INTEGER")));
        assert!(!promotes(&t("DECIMAL(9,2)"), &t("DECIMAL(18,3)")));
        assert!(!promotes(&t("VARCHAR"), &t("INTEGER")));
    }
}
