//! `ingest::store::CloudStore` against a real S3-compatible server (moto's,
//! on 127.0.0.1: see `testkit::s3`), and the landing zone on top of it.
//! The server's address and the test key reach the store the way a user's
//! do: through the environment, which is set once for this whole binary.

use std::sync::{Arc, Once};

use ingest::landing::{Durability, Observation};
use ingest::store::{self, Store};
use ingest::{Endpoint, LandingMeta, LandingZone};
use testkit::s3::S3Server;

/// The tests of this file share one server (the store reads its endpoint
/// from the environment, which is process-wide).
fn server() -> Option<&'static S3Server> {
    static SERVER: std::sync::OnceLock<Option<S3Server>> = std::sync::OnceLock::new();
    static ENV: Once = Once::new();
    let s = SERVER
        .get_or_init(|| S3Server::start("store_s3"))
        .as_ref()?;
    ENV.call_once(|| {
        for (k, v) in s.env() {
            // SAFETY: set before any store of this binary reads it; every
            // test goes through this Once first.
            unsafe { std::env::set_var(k, v) };
        }
    });
    Some(s)
}

fn bucket(s: &S3Server, name: &str) -> Arc<dyn Store> {
    s.create_bucket(name);
    store::open(&format!("s3://{name}/some/prefix")).unwrap()
}

#[test]
fn conditional_writes_reads_listings_and_logs() {
    let Some(s) = server() else { return };
    let st = bucket(s, "store-basics");
    assert!(st.location().starts_with("s3://store-basics"));
    assert!(st.local_root().is_none());

    // create once: the second writer is told, and the first body stays
    assert!(st
        .put_new("a/b=1/x.json.zst", b"first", Durability::Now)
        .unwrap());
    assert!(!st
        .put_new("a/b=1/x.json.zst", b"second", Durability::Now)
        .unwrap());
    assert_eq!(st.get("a/b=1/x.json.zst").unwrap().unwrap(), b"first");
    assert_eq!(st.get_head("a/b=1/x.json.zst", 3).unwrap().unwrap(), b"fir");
    assert!(st.exists("a/b=1/x.json.zst").unwrap());
    assert!(!st.exists("a/none").unwrap());
    assert_eq!(st.get("a/none").unwrap(), None);
    // the prefix of the URL holds everything
    assert_eq!(
        s.keys("store-basics", ""),
        vec!["some/prefix/a/b=1/x.json.zst".to_string()]
    );

    st.put("a/c", b"1", Durability::Now).unwrap();
    st.put("a/c", b"22", Durability::Now).unwrap();
    st.put("other/d", b"3", Durability::Now).unwrap();
    let mut listed: Vec<(String, u64)> = st
        .list("a")
        .unwrap()
        .into_iter()
        .map(|l| (l.rel, l.size))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![("a/b=1/x.json.zst".into(), 5), ("a/c".into(), 2)]
    );
    assert_eq!(st.list("").unwrap().len(), 3);
    let heads = st
        .get_heads(&["a/c".into(), "a/gone".into(), "other/d".into()], 1)
        .unwrap();
    assert_eq!(heads, vec![Some(b"2".to_vec()), None, Some(b"3".to_vec())]);

    st.rename("a/c", "moved/c").unwrap();
    assert_eq!(st.get("a/c").unwrap(), None);
    assert_eq!(st.get("moved/c").unwrap().unwrap(), b"22");
    st.delete("moved/c").unwrap();
    st.delete("moved/c").unwrap();

    st.append("_ledger/ledger", b"{\"n\":1}").unwrap();
    st.append("_ledger/ledger", b"{\"n\":2}").unwrap();
    assert_eq!(
        st.read_log("_ledger/ledger").unwrap(),
        vec![b"{\"n\":1}".to_vec(), b"{\"n\":2}".to_vec()]
    );
    st.sync().unwrap();
}

#[test]
fn racing_writers_create_one_object() {
    let Some(s) = server() else { return };
    let st = bucket(s, "store-race");
    let winners: usize = (0..8)
        .map(|i| {
            let st = st.clone();
            std::thread::spawn(move || {
                st.put_new("race/obj", format!("{i}").as_bytes(), Durability::Now)
                    .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert_eq!(winners, 1);
}

#[test]
fn a_landing_zone_in_a_bucket() {
    let Some(s) = server() else { return };
    s.create_bucket("store-zone");
    let zone = LandingZone::connect("s3://store-zone/z").unwrap();
    let meta = LandingMeta {
        window: Some("1200-2359".into()),
        request: Some("http://x/historical?access_key=***".into()),
        http_status: Some(200),
        fetched_at: Some("2025-03-02T01:00:00Z".parse().unwrap()),
        ..LandingMeta::api(
            Endpoint::Historical,
            "BOG",
            flightlabs::Direction::Departure,
            "2025-03-01".parse().unwrap(),
        )
    };
    let body = br#"{"success":true,"data":[]}"#;
    let f = zone.land(meta.clone(), body).unwrap().unwrap();
    assert!(zone.land(meta.clone(), body).unwrap().is_none());
    let again = zone
        .land_with(meta, body, Durability::Now, Observation::Another)
        .unwrap()
        .unwrap();
    assert!(again.rel.ends_with(".obs=2.json.zst"), "{}", again.rel);
    let listed = zone.list(None, None).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], f);
    assert_eq!(zone.read_body(&listed[1]).unwrap(), body);
    zone.mark_day("BOG", f.meta.date, vec![f.rel.clone()])
        .unwrap();
    assert_eq!(zone.landed_days("BOG").unwrap(), vec![f.meta.date]);
    assert_eq!(zone.airports().unwrap(), vec!["BOG".to_string()]);
    let moved = zone.quarantine(&again.rel, "test").unwrap();
    assert!(
        moved.starts_with("s3://store-zone/z/_rejected/landing/"),
        "{moved}"
    );
    assert_eq!(zone.list(None, None).unwrap(), vec![f]);
}

#[test]
fn a_missing_bucket_is_named() {
    let Some(_) = server() else { return };
    let st = store::open("s3://no-such-bucket/x").unwrap();
    let e = st.put("a", b"1", Durability::Now).unwrap_err().to_string();
    assert!(e.contains("the bucket does not exist"), "{e}");
    assert!(e.contains("s3://no-such-bucket/x/a"), "{e}");
    assert!(!e.contains(testkit::s3::SECRET_ACCESS_KEY), "{e}");
}
