use serde_json::json;

use super::*;

fn j(src: &str) -> String {
    let mut out = String::new();
    match to_json(src, &mut out) {
        Ok(()) => out,
        Err(e) => panic!("{src:?}: {e}"),
    }
}

fn err(src: &str) -> Error {
    let mut out = String::from("kept");
    let e = to_json(src, &mut out).expect_err(src);
    assert_eq!(out, "kept", "output restored after error for {src:?}");
    e
}

#[track_caller]
fn check(cases: &[(&str, &str)]) {
    for (src, want) in cases {
        assert_eq!(j(src), *want, "source: {src:?}");
        // Whatever to_json writes, serde_json reads.
        serde_json::from_str::<Value>(want).unwrap_or_else(|e| panic!("{want}: {e}"));
    }
}

#[test]
fn scalars() {
    check(&[
        ("True", "true"),
        ("False", "false"),
        ("None", "null"),
        ("  None\n", "null"),
        ("0", "0"),
        ("-0", "0"),
        ("+0", "0"),
        ("00", "0"),
        ("0_0", "0"),
        ("42", "42"),
        ("-42", "-42"),
        ("+7", "7"),
        ("- 3", "-3"),
        ("1_000_000", "1000000"),
        ("0x1F", "31"),
        ("0XfF", "255"),
        ("0x_ff", "255"),
        ("0o17", "15"),
        ("0b101", "5"),
        ("0b1_0_1", "5"),
        ("-0x10", "-16"),
        ("0x0", "0"),
        ("-0b0", "0"),
    ]);
}

#[test]
fn big_integers_are_exact_in_to_json() {
    check(&[
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775809", "-9223372036854775809"),
        (
            "123456789012345678901234567890",
            "123456789012345678901234567890",
        ),
        ("1_000_000_000_000_000_000_000", "1000000000000000000000"),
        (
            "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
            "340282366920938463463374607431768211455",
        ),
        ("0x1_0000_0000_0000_0000", "18446744073709551616"),
        ("0o1000000000000000000000000", "4722366482869645213696"),
    ]);
    let huge = "9".repeat(400);
    assert_eq!(j(&huge), huge);
}

#[test]
fn big_integers_in_parse() {
    assert_eq!(parse("18446744073709551615").unwrap(), json!(u64::MAX));
    assert_eq!(parse("-9223372036854775808").unwrap(), json!(i64::MIN));
    assert_eq!(
        parse("18446744073709551616").unwrap(),
        json!(18446744073709551616.0f64)
    );
    assert_eq!(
        parse("-9223372036854775809").unwrap(),
        json!(-9223372036854775809.0f64)
    );
    assert_eq!(
        parse("[123456789012345678901234567890]").unwrap(),
        json!([1.2345678901234568e29])
    );
    assert_eq!(
        parse("0x1_0000_0000_0000_0000").unwrap(),
        json!(18446744073709551616.0f64)
    );
    let e = parse(&format!("[1, {}]", "9".repeat(400))).unwrap_err();
    assert_eq!(e.kind, ErrorKind::NumberOutOfRange);
    assert_eq!(e.offset, 4);
}

#[test]
fn floats() {
    check(&[
        ("1.5", "1.5"),
        ("-2.25", "-2.25"),
        (".5", "0.5"),
        ("-.5", "-0.5"),
        ("5.", "5.0"),
        ("1e5", "1.0e5"),
        ("1E-3", "1.0e-3"),
        ("1.5e+3", "1.5e+3"),
        ("1.e2", "1.0e2"),
        ("1_0.0_1", "10.01"),
        ("1e1_0", "1.0e10"),
        ("007.5", "7.5"),
        ("00e0", "0.0e0"),
        ("0.0", "0.0"),
        ("-0.0", "-0.0"),
        ("1e-999", "1.0e-999"),
        ("1e999", "null"),
        ("-1e999", "null"),
        ("inf", "null"),
        ("-inf", "null"),
        ("+inf", "null"),
        ("nan", "null"),
        ("[inf, -nan]", "[null,null]"),
        ("1.7976931348623157e308", "1.7976931348623157e308"),
    ]);
    assert_eq!(parse("1e5").unwrap(), json!(100000.0));
    assert_eq!(parse(".5").unwrap(), json!(0.5));
    assert_eq!(parse("1e-999").unwrap(), json!(0.0));
}

#[test]
fn strings_quotes_and_prefixes() {
    check(&[
        ("'abc'", r#""abc""#),
        ("''", r#""""#),
        (r#""""#, r#""""#),
        ("''''''", r#""""#),
        (r#""""""""#, r#""""#),
        (r#""Cote d'Ivoire""#, r#""Cote d'Ivoire""#),
        (r#"'say "hi"'"#, r#""say \"hi\"""#),
        (r"'it\'s'", r#""it's""#),
        (r#""\"q\"""#, r#""\"q\"""#),
        (r"u'x'", r#""x""#),
        (r"U'x'", r#""x""#),
        (r"r'a\nb'", r#""a\\nb""#),
        (r"r'\''", r#""\\'""#),
        (r#"r"\"""#, r#""\\\"""#),
        (r"R'C:\path\to'", r#""C:\\path\\to""#),
        (r"r'\\'", r#""\\\\""#),
        ("r'a\\\nb'", r#""a\\\nb""#),
        ("r'a\\\r\nb'", r#""a\\\nb""#),
    ]);
}

#[test]
fn strings_escapes() {
    check(&[
        (r"'a\\b'", r#""a\\b""#),
        (r"'\\'", r#""\\""#),
        (r"'\n\r\t\b\f\v\a\0'", r#""\n\r\t\b\f\u000b\u0007\u0000""#),
        (r"'\101\60\7x'", r#""A0\u0007x""#),
        (r"'\1234'", r#""S4""#),
        (r"'\777'", r#""ǿ""#),
        (r"'\x41\xe9\x00'", r#""Aé\u0000""#),
        (r"'\u00e9\u20AC'", r#""é€""#),
        (r"'\U0001F600'", r#""😀""#),
        (r"'\U0010FFFF'", "\"\u{10FFFF}\""),
        (r"'\ud83d\ude00'", r#""😀""#),
        (r"'\ud83d\U0000de00'", r#""😀""#),
        (r"'\ud800'", r#""�""#),
        (r"'\udc00x'", r#""�x""#),
        (r"'\ud800\u0041'", r#""�A""#),
        (r"'\x22\x5c'", r#""\"\\""#),
        (r"'\x1f\x7f'", "\"\\u001f\u{7f}\""),
        (r"'\d\8\ '", r#""\\d\\8\\ ""#),
        (r"'\é'", r#""\\é""#),
        ("'a\\\nb'", r#""ab""#),
        ("'a\\\r\nb'", r#""ab""#),
        ("'tab\there'", r#""tab\there""#),
        ("'bell\x07'", r#""bell\u0007""#),
    ]);
}

#[test]
fn strings_triple_quoted() {
    check(&[
        ("'''a'b\"c\nd'''", r#""a'b\"c\nd""#),
        (r#""""x""y""""#, r#""x\"\"y""#),
        ("'''line1\r\nline2\rline3'''", r#""line1\nline2\nline3""#),
        ("'''it''s'''", r#""it''s""#),
        ("'''a\\\nb'''", r#""ab""#),
        // A raw triple-quoted string whose backslash protects a quote.
        ("r'''a\\''''", r#""a\\'""#),
    ]);
}

#[test]
fn strings_non_ascii_and_concatenation() {
    check(&[
        ("'Cúcuta'", r#""Cúcuta""#),
        ("'日本語 🎉'", r#""日本語 🎉""#),
        ("'\u{2028}'", "\"\u{2028}\""),
        ("'a' 'b'", r#""ab""#),
        ("'a''b'", r#""ab""#),
        (r#"'a' "b" r'\c' u'd'"#, r#""ab\\cd""#),
        ("('a'\n 'b')", r#""ab""#),
        ("['a' 'b', 'c']", r#"["ab","c"]"#),
        ("{'a' 'b': 'c' 'd'}", r#"{"ab":"cd"}"#),
        ("'a' '''b\n''' \"\"\"c\"\"\"", r#""ab\nc""#),
    ]);
}

#[test]
fn containers() {
    check(&[
        ("[]", "[]"),
        ("[1, 2, 3]", "[1,2,3]"),
        ("[1, 2,]", "[1,2]"),
        ("[ 1 , 2 , ]", "[1,2]"),
        ("()", "[]"),
        ("( )", "[]"),
        ("(1,)", "[1]"),
        ("(1, 2)", "[1,2]"),
        ("(1, 2,)", "[1,2]"),
        ("(1)", "1"),
        ("((1, 2))", "[1,2]"),
        ("(((('x'))))", r#""x""#),
        ("([1], (2,), ())", "[[1],[2],[]]"),
        ("{}", "{}"),
        ("{ }", "{}"),
        ("{1, 2}", "[1,2]"),
        ("{1,}", "[1]"),
        ("{'b', 'a', 'b'}", r#"["b","a","b"]"#),
        ("{(1, 2), 3}", "[[1,2],3]"),
        ("set()", "[]"),
        ("set( )", "[]"),
        ("[set(), {}]", "[[],{}]"),
        (
            "{'a': 1, 'b': [True, False, None]}",
            r#"{"a":1,"b":[true,false,null]}"#,
        ),
        ("{'z': 1, 'a': 2, 'm': 3}", r#"{"z":1,"a":2,"m":3}"#),
        ("{'a': 1,}", r#"{"a":1}"#),
        ("{'a': 1, 'a': 2}", r#"{"a":1,"a":2}"#),
        (
            "{'a': {'b': {'c': [1, (2, {3})]}}}",
            r#"{"a":{"b":{"c":[1,[2,[3]]]}}}"#,
        ),
        ("{'k': set()}", r#"{"k":[]}"#),
    ]);
}

#[test]
fn non_string_keys() {
    check(&[
        (
            "{1: 'a', -2: 'b', 1.5: 'c', True: 'd', False: 'e', None: 'f'}",
            r#"{"1":"a","-2":"b","1.5":"c","true":"d","false":"e","null":"f"}"#,
        ),
        ("{(1, 'x'): 'f'}", r#"{"[1,\"x\"]":"f"}"#),
        ("{(): 1}", r#"{"[]":1}"#),
        ("{('a'): 1}", r#"{"a":1}"#),
        ("{0x10: 1, 1e3: 2}", r#"{"16":1,"1000.0":2}"#),
        ("{inf: 1}", r#"{"Infinity":1}"#),
        // Float keys as Python's json.dumps writes them (expected output made by Python).
        (
            "{1e16: 1, 1e-5: 2, 0.0001: 3, -0.0: 4, 2.50: 5, nan: 6, -inf: 7, 123456789.125: 8, \
              1e15: 9, 1.5e300: 10, 5e-324: 11, 0.30000000000000004: 12}",
            r#"{"1e+16":1,"1e-05":2,"0.0001":3,"-0.0":4,"2.5":5,"NaN":6,"-Infinity":7,"123456789.125":8,"1000000000000000.0":9,"1.5e+300":10,"5e-324":11,"0.30000000000000004":12}"#,
        ),
        ("{'a': 1, 2: 3}", r#"{"a":1,"2":3}"#),
    ]);
}

#[test]
fn whitespace_comments_and_top_level_tuples() {
    check(&[
        ("{\n  'a' : [ 1 ,\n 2 ] ,\n}\n", r#"{"a":[1,2]}"#),
        ("\t\x0c[1]\r\n", "[1]"),
        ("[1, # one\n 2]  # done", "[1,2]"),
        ("[1, \\\n 2]", "[1,2]"),
        ("1, 2", "[1,2]"),
        ("1,", "[1]"),
        ("'a', {'b': 2},", r#"["a",{"b":2}]"#),
        ("(1), 2", "[1,2]"),
    ]);
}

#[test]
fn archive_shapes() {
    let movement = "{'airport': {'icao': 'SKCL', 'iata': 'CLO', 'name': 'Santiago de Cali', 'timeZone': 'America/Bogota'}, 'scheduledTime': {'utc': '2024-08-12 17:00Z', 'local': '2024-08-12 12:00-05:00'}, 'terminal': '1', 'quality': ['Basic', 'Live']}";
    assert_eq!(
        j(movement),
        r#"{"airport":{"icao":"SKCL","iata":"CLO","name":"Santiago de Cali","timeZone":"America/Bogota"},"scheduledTime":{"utc":"2024-08-12 17:00Z","local":"2024-08-12 12:00-05:00"},"terminal":"1","quality":["Basic","Live"]}"#
    );
    let v = parse(movement).unwrap();
    assert_eq!(
        v,
        json!({
            "airport": {"icao": "SKCL", "iata": "CLO", "name": "Santiago de Cali", "timeZone": "America/Bogota"},
            "scheduledTime": {"utc": "2024-08-12 17:00Z", "local": "2024-08-12 12:00-05:00"},
            "terminal": "1",
            "quality": ["Basic", "Live"]
        })
    );
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["airport", "scheduledTime", "terminal", "quality"],
        "key order kept"
    );
    assert_eq!(
        parse(r#"{'name': "Cote d'Ivoire", 'iata': None}"#).unwrap(),
        json!({"name": "Cote d'Ivoire", "iata": null})
    );
    assert_eq!(
        parse("{'model': 'Airbus A319'}").unwrap(),
        json!({"model": "Airbus A319"})
    );
    assert_eq!(parse("True").unwrap(), json!(true));
}

#[test]
fn parse_keeps_python_duplicate_key_semantics() {
    let v = parse("{'a': 1, 'b': 2, 'a': 3}").unwrap();
    assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"a":3,"b":2}"#);
}

#[test]
fn to_json_appends() {
    let mut out = String::from("[");
    to_json("{'a': 1}", &mut out).unwrap();
    out.push(',');
    to_json("(1, 2)", &mut out).unwrap();
    out.push(',');
    to_json("3, 4", &mut out).unwrap();
    out.push(']');
    assert_eq!(out, r#"[{"a":1},[1,2],[3,4]]"#);
    let before = out.clone();
    assert!(to_json("[1, 'x", &mut out).is_err());
    assert_eq!(out, before);
}

#[test]
fn nesting_limit() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert_eq!(j(&ok), ok);
    assert_eq!(parse(&ok).unwrap().to_string(), ok);
    let mixed = format!(
        "{}1{}",
        "({'a': [".repeat(MAX_DEPTH / 3),
        "]},)".repeat(MAX_DEPTH / 3)
    );
    assert!(parse(&mixed).is_ok());
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    let e = err(&deep);
    assert_eq!(e.kind, ErrorKind::TooDeep);
    assert_eq!(e.offset, MAX_DEPTH);
    // Very deep input fails cleanly instead of overflowing the stack.
    let e = err(&"[".repeat(100_000));
    assert_eq!(e.kind, ErrorKind::TooDeep);
}

#[test]
fn error_positions_and_messages() {
    let e = err("'abc");
    assert_eq!(e.kind, ErrorKind::UnterminatedString);
    assert_eq!((e.offset, e.line, e.column), (0, 1, 1));
    assert_eq!(
        e.to_string(),
        "unterminated string starting at offset 0 (line 1, column 1)"
    );

    let src = "{'airport': 'x', 'name': 'Santiago}";
    let e = err(src);
    assert_eq!(e.kind, ErrorKind::UnterminatedString);
    assert_eq!(e.offset, 25);
    assert_eq!(
        e.to_string(),
        "unterminated string starting at offset 25 (line 1, column 26)"
    );

    let e = err("[\n  1,\n  x\n]");
    assert_eq!(e.kind, ErrorKind::UnknownName("x".into()));
    assert_eq!((e.offset, e.line, e.column), (9, 3, 3));

    // Columns count characters, not bytes.
    let e = err("['é', x]");
    assert_eq!((e.offset, e.line, e.column), (7, 1, 7));

    let e = err("[1 2]");
    assert_eq!(
        e.kind,
        ErrorKind::UnexpectedChar {
            found: '2',
            expected: "',' or ']'"
        }
    );
    assert_eq!(e.offset, 3);
    assert_eq!(
        e.to_string(),
        "unexpected '2', expected ',' or ']' at offset 3 (line 1, column 4)"
    );

    let e = err("[1, 2");
    assert_eq!((&e.kind, e.offset), (&ErrorKind::Unclosed('['), 0));
    assert_eq!(e.to_string(), "unclosed '[' at offset 0 (line 1, column 1)");
}

#[test]
fn errors() {
    use ErrorKind::*;
    let eof = |expected| UnexpectedEnd { expected };
    let ch = |found, expected| UnexpectedChar { found, expected };
    let cases: Vec<(&str, ErrorKind, usize)> = vec![
        ("", eof("a value"), 0),
        ("   \n", eof("a value"), 4),
        ("'abc", UnterminatedString, 0),
        ("'a\nb'", UnterminatedString, 0),
        ("'a\rb'", UnterminatedString, 0),
        ("[1, 'a\\", UnterminatedString, 4),
        ("r'a\\", UnterminatedString, 1),
        ("'''abc''", UnterminatedString, 0),
        ("\"\"\"abc'''", UnterminatedString, 0),
        ("[1, 2", Unclosed('['), 0),
        ("[1, 2,", Unclosed('['), 0),
        ("[", Unclosed('['), 0),
        ("(1, 2", Unclosed('('), 0),
        ("(1", Unclosed('('), 0),
        ("(", Unclosed('('), 0),
        ("{'a': 1", Unclosed('{'), 0),
        ("{'a':", Unclosed('{'), 0),
        ("{'a'", Unclosed('{'), 0),
        ("{'a': 1, 'b'", Unclosed('{'), 0),
        ("{1, 2", Unclosed('{'), 0),
        ("[{'a': (1, [2", Unclosed('['), 11),
        ("{'a' 1}", ch('1', "':', ',' or '}'"), 5),
        ("{'a': 1 'b': 2}", ch('\'', "',' or '}'"), 8),
        ("{'a': 1, 2}", ch('}', "':'"), 10),
        ("{'a': }", ch('}', "a value"), 6),
        ("{1: 2, 3}", ch('}', "':'"), 8),
        ("{1, 2: 3}", ch(':', "',' or '}'"), 5),
        ("[1 2]", ch('2', "',' or ']'"), 3),
        ("(1 2)", ch('2', "',' or ')'"), 3),
        ("[1,,2]", ch(',', "a value"), 3),
        ("[,]", ch(',', "a value"), 1),
        ("(,)", ch(',', "a value"), 1),
        ("{,}", ch(',', "a value"), 1),
        ("]", ch(']', "a value"), 0),
        ("...", ch('.', "a value"), 0),
        ("@", ch('@', "a value"), 0),
        ("-'a'", ch('\'', "a number after the sign"), 1),
        ("--1", ch('-', "a number after the sign"), 1),
        ("-True", ch('T', "a number after the sign"), 1),
        ("-", eof("a number after the sign"), 1),
        ("-infinity", ch('i', "a number after the sign"), 1),
        ("{[1]: 2}", Unhashable("list"), 1),
        ("{{'a': 1}: 2}", Unhashable("dict"), 1),
        ("{'a': 1, set(): 2}", Unhashable("set"), 9),
        ("{1, [2]}", Unhashable("list"), 4),
        ("{{1: 2}, 3}", Unhashable("dict"), 1),
        ("[1] x", TrailingCharacters, 4),
        ("1 2", TrailingCharacters, 2),
        ("'a' 'b' c", TrailingCharacters, 8),
        ("{} {}", TrailingCharacters, 3),
        ("1, 2 3", TrailingCharacters, 5),
        ("'a' +", TrailingCharacters, 4),
        ("1 + 2j", TrailingCharacters, 2),
        ("foo", UnknownName("foo".into()), 0),
        ("true", UnknownName("true".into()), 0),
        ("null", UnknownName("null".into()), 0),
        ("[NaN]", UnknownName("NaN".into()), 1),
        ("_1", UnknownName("_1".into()), 0),
        ("print(1)", UnknownName("print".into()), 0),
        ("Ω", UnknownName("Ω".into()), 0),
        ("set(1)", Unsupported("calls other than set()"), 0),
        ("set", Unsupported("calls other than set()"), 0),
        ("b'x'", Unsupported("bytes literals"), 0),
        ("'a' b'x'", Unsupported("bytes literals"), 4),
        ("rb'x'", Unsupported("bytes literals"), 0),
        ("f'x'", Unsupported("f-strings"), 0),
        ("Rf'x'", Unsupported("f-strings"), 0),
        ("1j", Unsupported("complex numbers"), 0),
        ("[2.5J]", Unsupported("complex numbers"), 1),
        (r"'\N{EM DASH}'", Unsupported("\\N{...} escapes"), 1),
        ("01", InvalidNumber("leading zeros in a decimal integer"), 0),
        (
            "-0_1",
            InvalidNumber("leading zeros in a decimal integer"),
            1,
        ),
        ("1__0", InvalidNumber("misplaced underscore"), 1),
        ("1_", InvalidNumber("misplaced underscore"), 1),
        ("1_.5", InvalidNumber("misplaced underscore"), 1),
        ("1._5", InvalidNumber("misplaced underscore"), 2),
        ("1e", InvalidNumber("invalid decimal literal"), 0),
        ("1e+", InvalidNumber("invalid decimal literal"), 0),
        ("1.2.3", InvalidNumber("invalid decimal literal"), 0),
        ("12abc", InvalidNumber("invalid decimal literal"), 0),
        ("1.5x", InvalidNumber("invalid decimal literal"), 0),
        (
            "0x",
            InvalidNumber("invalid digit for the integer's base"),
            0,
        ),
        (
            "0b2",
            InvalidNumber("invalid digit for the integer's base"),
            0,
        ),
        (
            "0o8",
            InvalidNumber("invalid digit for the integer's base"),
            0,
        ),
        (
            "0x1g",
            InvalidNumber("invalid digit for the integer's base"),
            0,
        ),
        ("0x__1", InvalidNumber("misplaced underscore"), 3),
        (r"'\x4'", InvalidEscape("truncated \\xXX escape"), 1),
        (r"'\xg0'", InvalidEscape("truncated \\xXX escape"), 1),
        (r"'\u12'", InvalidEscape("truncated \\uXXXX escape"), 1),
        (
            r"'\U1234'",
            InvalidEscape("truncated \\UXXXXXXXX escape"),
            1,
        ),
        (
            r"'\U00110000'",
            InvalidEscape("illegal Unicode character"),
            1,
        ),
        (
            r"'\UFFFFFFFF'",
            InvalidEscape("illegal Unicode character"),
            1,
        ),
    ];
    for (src, want, offset) in cases {
        let e = err(src);
        assert_eq!((&e.kind, e.offset), (&want, offset), "source: {src:?}: {e}");
        // Every error also reads as a sentence with its place.
        assert!(
            e.to_string().contains(&format!("offset {offset} (line ")),
            "{e}"
        );
        assert_eq!(parse(src).unwrap_err(), e);
    }
}

// ------------------------------------------------------------------ property-ish tests

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const TRICKY: &[char] = &[
    'a',
    'Z',
    '0',
    ' ',
    '\'',
    '"',
    '\\',
    '\n',
    '\r',
    '\t',
    '\0',
    '\u{1}',
    '\u{1f}',
    '\u{7f}',
    '\u{85}',
    'é',
    'ñ',
    'ø',
    '日',
    '€',
    '😀',
    '\u{2028}',
    '\u{fffd}',
    '\u{10ffff}',
    '{',
    '}',
    ':',
    ',',
    '#',
    'N',
    'u',
    'x',
    '7',
];

fn random_string(rng: &mut Rng) -> String {
    let len = rng.below(12);
    (0..len).map(|_| TRICKY[rng.below(TRICKY.len())]).collect()
}

/// A Python string literal for `s`, in one of the many spellings Python accepts: repr()'s
/// quoting rule or the other quote, escapes of every kind, triple quotes, adjacent pieces.
fn python_literal(s: &str, rng: &mut Rng) -> String {
    let q = if (s.contains('\'') && !s.contains('"')) || rng.chance(20) {
        '"'
    } else {
        '\''
    };
    let quotes = if rng.chance(20) { 3 } else { 1 };
    let triple = quotes == 3;
    let open = |lit: &mut String, rng: &mut Rng| {
        if rng.chance(10) {
            lit.push(if rng.chance(50) { 'u' } else { 'U' });
        }
        lit.extend(std::iter::repeat_n(q, quotes));
    };
    let mut lit = String::new();
    open(&mut lit, rng);
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && rng.chance(10) {
            // Close and open again: adjacent literals concatenate.
            lit.extend(std::iter::repeat_n(q, quotes));
            lit.push_str(if rng.chance(50) { " " } else { "\n" });
            open(&mut lit, rng);
        }
        if rng.chance(5) {
            lit.push_str("\\\n"); // a line continuation adds nothing
        }
        let next_is_octal = chars.get(i + 1).is_some_and(|n| ('0'..='7').contains(n));
        let v = c as u32;
        match rng.below(6) {
            0 if v < 0x100 => lit.push_str(&format!("\\x{v:02x}")),
            1 if v < 0x10000 => lit.push_str(&format!("\\u{v:04X}")),
            2 => lit.push_str(&format!("\\U{v:08x}")),
            3 if v < 0o400 => lit.push_str(&format!("\\{v:03o}")),
            4 if v < 8 && !next_is_octal => lit.push_str(&format!("\\{v:o}")),
            _ => match c {
                '\\' => lit.push_str("\\\\"),
                '\n' if triple && rng.chance(50) => lit.push('\n'),
                '\n' => lit.push_str("\\n"),
                '\r' => lit.push_str("\\r"),
                '\t' if rng.chance(50) => lit.push('\t'),
                '\t' => lit.push_str("\\t"),
                c if c == q => {
                    lit.push('\\');
                    lit.push(c);
                }
                c if c.is_control() => lit.push_str(&format!("\\x{v:02x}")),
                c => lit.push(c),
            },
        }
    }
    lit.extend(std::iter::repeat_n(q, quotes));
    lit
}

#[test]
fn tricky_strings_round_trip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..20_000 {
        let s = random_string(&mut rng);
        let lit = python_literal(&s, &mut rng);
        let got = j(&lit);
        assert_eq!(
            got,
            serde_json::to_string(&s).unwrap(),
            "literal {lit:?} of {s:?}"
        );
        assert_eq!(parse(&lit).unwrap(), Value::String(s));
    }
}

/// A random Python value as (source text, expected JSON value).
fn random_value(rng: &mut Rng, depth: usize) -> (String, Value) {
    let ws = |rng: &mut Rng| match rng.below(8) {
        0 => " ",
        1 => "\n  ",
        2 => "  ",
        _ => "",
    };
    let pick = if depth > 4 {
        rng.below(5)
    } else {
        rng.below(10)
    };
    match pick {
        0 => {
            let s = random_string(rng);
            (python_literal(&s, rng), Value::String(s))
        }
        1 => {
            let n = (rng.next() as i64) >> rng.below(64);
            (n.to_string(), json!(n))
        }
        2 => {
            let f = (rng.next() as i64 >> 20) as f64 / 1024.0;
            (format!("{f:?}"), json!(f))
        }
        3 => match rng.below(3) {
            0 => ("True".into(), json!(true)),
            1 => ("False".into(), json!(false)),
            _ => ("None".into(), Value::Null),
        },
        4 => ("'x'".into(), json!("x")),
        5..=7 => {
            let n = rng.below(5);
            let (open, close) = match pick {
                5 => ("[", "]"),
                6 => ("(", ")"),
                _ => ("{", "}"),
            };
            if pick == 7 && n == 0 {
                return ("set()".into(), json!([]));
            }
            let mut src = String::from(open);
            let mut items = Vec::new();
            for i in 0..n {
                let (s, v) = if pick == 7 {
                    // Sets: hashable elements only.
                    let n = rng.below(1000);
                    (n.to_string(), json!(n))
                } else {
                    random_value(rng, depth + 1)
                };
                if i > 0 {
                    src.push(',');
                }
                src.push_str(ws(rng));
                src.push_str(&s);
                src.push_str(ws(rng));
                items.push(v);
            }
            if (n == 1 && pick == 6) || (n > 0 && rng.chance(30)) {
                src.push(',');
            }
            src.push_str(close);
            (src, Value::Array(items))
        }
        _ => {
            let n = rng.below(5);
            let mut src = String::from("{");
            let mut map = serde_json::Map::new();
            for i in 0..n {
                let key = format!("k{i}{}", random_string(rng));
                let (s, v) = random_value(rng, depth + 1);
                if i > 0 {
                    src.push(',');
                    src.push_str(ws(rng));
                }
                src.push_str(&python_literal(&key, rng));
                src.push_str(ws(rng));
                src.push(':');
                src.push_str(ws(rng));
                src.push_str(&s);
                map.insert(key, v);
            }
            if n > 0 && rng.chance(30) {
                src.push(',');
            }
            src.push('}');
            (src, Value::Object(map))
        }
    }
}

#[test]
fn random_nested_values() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let (src, want) = random_value(&mut rng, 0);
        let got = parse(&src).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert_eq!(got, want, "source: {src}");
        // Key order is kept, not only the content.
        assert_eq!(got.to_string(), want.to_string(), "source: {src}");
    }
}
