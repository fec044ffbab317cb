//! One table of the warehouse published as one Iceberg commit.
//!
//! For each table:
//! 1. its columns are mapped to an Iceberg schema ([`crate::types`]); a new
//!    column evolves the published schema, a type change that is not an
//!    Iceberg promotion is an error before anything is written;
//! 2. DuckDB computes, per partition, a digest of the rows (count, sum and
//!    xor of row hashes, and the written schema);
//! 3. the partitions whose digest no published file carries are written as
//!    Parquet by DuckDB (with Iceberg field ids), each file named by its
//!    digest: a rerun after a crash writes the same names again;
//! 4. one manifest lists the new files as added, the files of unchanged
//!    partitions as existing and those of changed or gone partitions as
//!    deleted; a manifest list and a snapshot point at it;
//! 5. the new metadata file is written, then the catalog's pointer moves to
//!    it in one statement ([`crate::catalog::Catalog::swap`]). Until then
//!    readers see the previous snapshot; after, the new one.
//!
//! Snapshots beyond the retention are removed in the same commit, and the
//! files only they referenced are deleted after it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use iceberg::io::FileIO;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, ManifestListWriter,
    ManifestStatus, ManifestWriterBuilder, NestedField, NestedFieldRef, Operation,
    PrimitiveLiteral, Schema, Snapshot, SnapshotReference, SnapshotRetention, Struct, Summary,
    TableMetadata, TableMetadataBuilder, Transform, Type, UnboundPartitionSpec,
};
use iceberg::{MetadataLocation, TableCreation};
use sha2::{Digest, Sha256};
use warehouse::duckdb;

use crate::catalog::Catalog;
use crate::error::{LakeError, Result};
use crate::storage::Location;
use crate::types::{self, quote_ident, quote_string, DuckType};

/// How a table is partitioned: Iceberg transforms of its columns, as dbt
/// adapters for Iceberg spell them in a model's `partitioned_by` config:
/// `day(col)`, `month(col)`, `year(col)`, `hour(col)`, or `col` (identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionField {
    pub column: String,
    pub transform: Transform,
}

impl PartitionField {
    pub fn parse(text: &str) -> Result<PartitionField> {
        let text = text.trim();
        let (transform, column) = match text.split_once('(') {
            Some((name, rest)) => {
                let column = rest
                    .strip_suffix(')')
                    .ok_or_else(|| LakeError::Config(format!("partition `{text}`: missing `)`")))?;
                let t = match name.trim().to_ascii_lowercase().as_str() {
                    "day" | "days" => Transform::Day,
                    "month" | "months" => Transform::Month,
                    "year" | "years" => Transform::Year,
                    "hour" | "hours" => Transform::Hour,
                    "identity" => Transform::Identity,
                    other => {
                        return Err(LakeError::Config(format!(
                            "partition `{text}`: transform `{other}` is not supported \
                             (day, month, year, hour, identity)"
                        )))
                    }
                };
                (t, column.trim())
            }
            None => (Transform::Identity, text),
        };
        if column.is_empty() {
            return Err(LakeError::Config(format!("partition `{text}`: no column")));
        }
        Ok(PartitionField {
            column: column.trim_matches('"').to_string(),
            transform,
        })
    }

    fn name(&self) -> String {
        match self.transform {
            Transform::Identity => self.column.clone(),
            t => format!("{}_{}", self.column, t.to_string().to_ascii_lowercase()),
        }
    }

    /// The partition value in DuckDB, as Iceberg computes it: days, months,
    /// years and hours since 1970 of the UTC instant (a timestamp without
    /// zone is taken as is).
    fn sql(&self, ty: &DuckType) -> Result<String> {
        let c = quote_ident(&self.column);
        if self.transform == Transform::Identity {
            return match ty {
                // Iceberg's date partition value is days since 1970
                DuckType::Date => Ok(format!("CAST({c} - DATE '1970-01-01' AS INTEGER)")),
                DuckType::SmallInt(_)
                | DuckType::Integer
                | DuckType::BigIntLike(_)
                | DuckType::BigInt
                | DuckType::Varchar(_)
                | DuckType::Boolean => Ok(format!("{c}::{}", ty.written())),
                _ => Err(LakeError::Config(format!(
                    "partition {}: identity partitions take integer, string, boolean or date columns",
                    self.name()
                ))),
            };
        }
        let us = match ty {
            DuckType::Date | DuckType::Timestamp | DuckType::TimestampCoarse(_) => {
                format!("epoch_us({c}::TIMESTAMP)")
            }
            DuckType::TimestampTz => format!("epoch_us({c})"),
            _ => {
                return Err(LakeError::Config(format!(
                    "partition {}: {} applies to dates and timestamps",
                    self.name(),
                    self.transform
                )))
            }
        };
        Ok(match self.transform {
            Transform::Hour => format!("CAST(floor({us} / 3600000000) AS INTEGER)"),
            Transform::Day => format!("CAST(floor({us} / 86400000000) AS INTEGER)"),
            Transform::Month => format!(
                "CAST((year(make_timestamp({us})) - 1970) * 12 + month(make_timestamp({us})) - 1 AS INTEGER)"
            ),
            Transform::Year => format!("CAST(year(make_timestamp({us})) - 1970 AS INTEGER)"),
            _ => unreachable!("parse accepts no other transform"),
        })
    }
}

/// Which snapshots a publish keeps: every snapshot younger than `max_age`,
/// and the newest `min_keep` whatever their age. Written into each table's
/// properties under Iceberg's own names, so engines that expire snapshots
/// (Spark's `expire_snapshots`) apply the same policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub min_keep: usize,
    pub max_age: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            min_keep: 5,
            max_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// One table to publish.
pub struct TableSpec {
    pub namespace: String,
    pub name: String,
    pub partition_by: Vec<PartitionField>,
}

/// What a publish did to one table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableReport {
    pub table: String,
    /// `created`, `updated` or `unchanged`.
    pub outcome: &'static str,
    pub rows: u64,
    pub files_added: usize,
    pub files_removed: usize,
    pub partitions_changed: usize,
    pub snapshot_id: Option<i64>,
    pub snapshots_expired: usize,
}

pub(crate) struct Ctx<'a> {
    pub conn: &'a duckdb::Connection,
    pub catalog: &'a mut Catalog,
    pub catalog_name: &'a str,
    pub location: &'a Location,
    pub rt: &'a tokio::runtime::Runtime,
    pub retention: Retention,
    /// Local folder DuckDB writes Parquet into before it is moved or sent.
    pub staging: &'a std::path::Path,
}

/// A published data file: where, which partition, how many rows.
struct Published {
    file: DataFile,
    snapshot_id: i64,
    sequence_number: i64,
    file_sequence_number: Option<i64>,
}

const META: &str = "metadata";

/// What a table's publish builds on, read and checked before any write.
struct Prepared {
    full: String,
    qualified: String,
    columns: Vec<(String, DuckType)>,
    registered: bool,
    base: TableMetadata,
    base_location: Option<String>,
    schema: Schema,
    evolved: bool,
    table_location: String,
}

fn prepare(ctx: &mut Ctx<'_>, spec: &TableSpec) -> Result<Prepared> {
    let full = format!("{}.{}", spec.namespace, spec.name);
    let qualified = format!(
        "{}.{}",
        quote_ident(&spec.namespace),
        quote_ident(&spec.name)
    );
    let columns = describe(ctx.conn, &spec.namespace, &spec.name, &full)?;
    for (name, t) in &columns {
        if let Some((duck, advice)) = t.unsupported() {
            return Err(LakeError::Unsupported {
                table: full.clone(),
                column: name.clone(),
                duck: duck.to_string(),
                advice,
            });
        }
    }
    for p in &spec.partition_by {
        let Some((_, t)) = columns.iter().find(|(n, _)| n == &p.column) else {
            return Err(LakeError::Config(format!(
                "{full}: partition column `{}` is not a column of the table",
                p.column
            )));
        };
        p.sql(t)?;
    }
    ctx.catalog
        .ensure_namespace(ctx.catalog_name, &spec.namespace)?;
    let pointer = ctx
        .catalog
        .load(ctx.catalog_name, &spec.namespace, &spec.name)?;
    let table_location = format!("{}/{}/{}", ctx.location.root, spec.namespace, spec.name);
    // the metadata the new snapshot builds on: the current one, or a new
    // table's first (not yet registered: table and snapshot land together)
    let (base, base_location) = match &pointer {
        Some(p) => {
            let m = ctx
                .rt
                .block_on(TableMetadata::read_from(
                    &ctx.location.io,
                    &p.metadata_location,
                ))
                .map_err(|e| LakeError::iceberg(&full, e))?;
            (m, Some(p.metadata_location.clone()))
        }
        None => (
            new_table(
                &full,
                &table_location,
                &columns,
                &spec.partition_by,
                ctx.retention,
            )?,
            None,
        ),
    };
    // schema: the published one, evolved by added columns
    let (schema, evolved) = evolve(
        &full,
        base.current_schema(),
        base.last_column_id(),
        &columns,
    )?;
    check_partitioning(
        &full,
        base.default_partition_spec(),
        base.current_schema(),
        &spec.partition_by,
    )?;
    Ok(Prepared {
        full,
        qualified,
        columns,
        registered: pointer.is_some(),
        base,
        base_location,
        schema,
        evolved,
        table_location,
    })
}

/// Everything that can refuse a table, without writing anything.
pub(crate) fn check_table(ctx: &mut Ctx<'_>, spec: &TableSpec) -> Result<()> {
    prepare(ctx, spec).map(|_| ())
}

pub(crate) fn publish_table(ctx: &mut Ctx<'_>, spec: &TableSpec) -> Result<TableReport> {
    let Prepared {
        full,
        qualified,
        columns,
        registered,
        base,
        base_location,
        schema,
        evolved,
        table_location,
    } = prepare(ctx, spec)?;
    let io = ctx.location.io.clone();
    let mut builder = TableMetadataBuilder::new_from_metadata(base.clone(), base_location.clone());
    if evolved {
        builder = builder
            .add_current_schema(schema.clone())
            .map_err(|e| LakeError::iceberg(&full, e))?;
    }
    let spec_now = base.default_partition_spec().clone();

    // the schema a file is written with, fingerprinted into every digest
    let fields: Vec<(String, DuckType, NestedFieldRef)> = columns
        .iter()
        .map(|(name, t)| {
            let f = schema
                .field_by_name(name)
                .cloned()
                .expect("evolve names every column");
            (name.clone(), t.clone(), f)
        })
        .collect();
    let fingerprint = {
        let mut h = Sha256::new();
        for (name, t, f) in &fields {
            h.update(format!("{}:{}:{}:{};", f.id, name, t.written(), f.field_type).as_bytes());
        }
        for p in &spec.partition_by {
            h.update(format!("{}({});", p.transform, p.column).as_bytes());
        }
        hex(&h.finalize()[..8])
    };

    // partitions and their digests
    let part_sql: Vec<String> = spec
        .partition_by
        .iter()
        .map(|p| {
            let t = &columns
                .iter()
                .find(|(n, _)| n == &p.column)
                .expect("checked")
                .1;
            p.sql(t)
        })
        .collect::<Result<_>>()?;
    let row_hash = format!(
        "hash({})",
        columns
            .iter()
            .map(|(n, _)| quote_ident(n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let parts_select: String = part_sql
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{s} AS __p{i}, "))
        .collect();
    let group = if part_sql.is_empty() {
        String::new()
    } else {
        format!(
            " GROUP BY {}",
            (0..part_sql.len())
                .map(|i| format!("__p{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let digest_sql = format!(
        "SELECT {}count(*), sum({row_hash}::HUGEINT)::VARCHAR, bit_xor({row_hash})::VARCHAR \
         FROM (SELECT {parts_select}* FROM {qualified}){group}",
        (0..part_sql.len())
            .map(|i| format!("__p{i}::VARCHAR, "))
            .collect::<String>(),
    );
    let partition_types: Vec<Type> = {
        let bound = spec_now
            .partition_type(&schema)
            .map_err(|e| LakeError::iceberg(&full, e))?;
        bound
            .fields()
            .iter()
            .map(|f| (*f.field_type).clone())
            .collect()
    };
    let mut wanted: BTreeMap<Vec<Option<String>>, (u64, String)> = BTreeMap::new();
    {
        let mut stmt = ctx
            .conn
            .prepare(&digest_sql)
            .map_err(|e| query_err(&full, e))?;
        let mut rows = stmt.query([]).map_err(|e| query_err(&full, e))?;
        let n = part_sql.len();
        while let Some(r) = rows.next().map_err(|e| query_err(&full, e))? {
            let key: Vec<Option<String>> = (0..n)
                .map(|i| r.get(i))
                .collect::<duckdb::Result<_>>()
                .map_err(|e| query_err(&full, e))?;
            let count: i64 = r.get(n).map_err(|e| query_err(&full, e))?;
            if count == 0 {
                continue;
            }
            let sum: Option<String> = r.get(n + 1).map_err(|e| query_err(&full, e))?;
            let xor: Option<String> = r.get(n + 2).map_err(|e| query_err(&full, e))?;
            let mut h = Sha256::new();
            h.update(format!("{fingerprint}|{count}|{sum:?}|{xor:?}").as_bytes());
            wanted.insert(key, (count as u64, hex(&h.finalize()[..8])));
        }
    }

    // what the current snapshot holds
    let current = match base.current_snapshot() {
        Some(snap) => live_files(ctx.rt, &io, &base, snap.manifest_list(), &full)?,
        None => Vec::new(),
    };
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    let mut have: HashSet<(Vec<Option<String>>, String)> = HashSet::new();
    for f in current {
        let key = partition_key(f.file.partition());
        let digest = digest_of(f.file.file_path());
        match (wanted.get(&key), digest) {
            (Some((_, want)), Some(d)) if *want == d => {
                have.insert((key, d));
                kept.push(f);
            }
            _ => removed.push(f),
        }
    }
    let changed: Vec<(&Vec<Option<String>>, &String)> = wanted
        .iter()
        .filter(|(k, (_, d))| !have.contains(&((*k).clone(), d.clone())))
        .map(|(k, (_, d))| (k, d))
        .collect();

    let total_rows: u64 = wanted.values().map(|(n, _)| n).sum();
    if changed.is_empty() && removed.is_empty() && !evolved && registered {
        return Ok(TableReport {
            table: full,
            outcome: "unchanged",
            rows: total_rows,
            files_added: 0,
            files_removed: 0,
            partitions_changed: 0,
            snapshot_id: base.current_snapshot_id(),
            snapshots_expired: 0,
        });
    }

    // write the changed partitions
    let written = write_partitions(
        ctx,
        &full,
        &qualified,
        &fields,
        &part_sql,
        &partition_types,
        &spec.partition_by,
        &changed,
        changed.len() == wanted.len(),
        &table_location,
        spec_now.spec_id(),
    )?;

    // the snapshot
    let snapshot_id = new_snapshot_id(&base);
    let sequence_number = base.next_sequence_number();
    let parent = base.current_snapshot_id();
    let commit_id = uuid::Uuid::new_v4();
    let manifest_path = format!("{table_location}/{META}/{commit_id}-m0.avro");
    let list_path = format!("{table_location}/{META}/snap-{snapshot_id}-0-{commit_id}.avro");
    let schema_ref = Arc::new(schema.clone());
    let added_rows: u64 = written.iter().map(|f| f.record_count()).sum();
    let deleted_rows: u64 = removed.iter().map(|f| f.file.record_count()).sum();
    let (files_added, files_removed) = (written.len(), removed.len());
    let total_files = kept.len() + written.len();
    let manifest = {
        let out = io
            .new_output(&manifest_path)
            .map_err(|e| LakeError::iceberg(&full, e))?;
        let mut w = ManifestWriterBuilder::new(
            out,
            Some(snapshot_id),
            schema_ref.clone(),
            spec_now.as_ref().clone(),
        )
        .build_v2_data();
        for f in written {
            w.add_file(f, sequence_number)
                .map_err(|e| LakeError::iceberg(&full, e))?;
        }
        for f in &kept {
            w.add_existing_file(
                f.file.clone(),
                f.snapshot_id,
                f.sequence_number,
                f.file_sequence_number,
            )
            .map_err(|e| LakeError::iceberg(&full, e))?;
        }
        for f in &removed {
            w.add_delete_file(f.file.clone(), f.sequence_number, f.file_sequence_number)
                .map_err(|e| LakeError::iceberg(&full, e))?;
        }
        ctx.rt
            .block_on(w.write_manifest_file())
            .map_err(|e| LakeError::iceberg(&full, e))?
    };
    ctx.rt
        .block_on(async {
            let out = io.new_output(&list_path)?.writer().await?;
            let mut list = ManifestListWriter::v2(out, snapshot_id, parent, sequence_number);
            list.add_manifests(std::iter::once(manifest))?;
            list.close().await
        })
        .map_err(|e| LakeError::iceberg(&full, e))?;
    let previous_total: u64 = base
        .current_snapshot()
        .and_then(|s| s.summary().additional_properties.get("total-records"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let _ = previous_total;
    let operation = if files_removed == 0 {
        Operation::Append
    } else {
        Operation::Overwrite
    };
    let summary = Summary {
        operation,
        additional_properties: HashMap::from([
            ("added-data-files".to_string(), files_added.to_string()),
            ("deleted-data-files".to_string(), files_removed.to_string()),
            ("added-records".to_string(), added_rows.to_string()),
            ("deleted-records".to_string(), deleted_rows.to_string()),
            ("total-records".to_string(), total_rows.to_string()),
            ("total-data-files".to_string(), total_files.to_string()),
            ("total-delete-files".to_string(), "0".to_string()),
            (
                "changed-partition-count".to_string(),
                changed.len().max(removed.len()).to_string(),
            ),
            (
                "tarmac.published-by".to_string(),
                format!("tarmac {}", env!("CARGO_PKG_VERSION")),
            ),
        ]),
    };
    let now_ms = chrono::Utc::now().timestamp_millis();
    let snapshot = Snapshot::builder()
        .with_manifest_list(list_path)
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent)
        .with_sequence_number(sequence_number)
        .with_summary(summary)
        .with_schema_id(schema.schema_id())
        .with_timestamp_ms(now_ms)
        .build();
    let expired = expiring(&base, ctx.retention, now_ms);
    let result = builder
        .add_snapshot(snapshot)
        .and_then(|b| {
            b.set_ref(
                "main",
                SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
            )
        })
        .map(|b| b.remove_snapshots(&expired))
        .and_then(|b| b.build())
        .map_err(|e| LakeError::iceberg(&full, e))?;
    let metadata = result.metadata;

    // the commit
    let new_location = match &base_location {
        Some(loc) => MetadataLocation::from_str(loc)
            .map_err(|e| LakeError::iceberg(&full, e))?
            .with_next_version()
            .with_new_metadata(&metadata),
        None => MetadataLocation::new_with_metadata(&table_location, &metadata),
    };
    ctx.rt
        .block_on(metadata.write_to(&io, &new_location))
        .map_err(|e| LakeError::iceberg(&full, e))?;
    let new_location = new_location.to_string();
    let committed = match &base_location {
        Some(from) => ctx.catalog.swap(
            ctx.catalog_name,
            &spec.namespace,
            &spec.name,
            from,
            &new_location,
        )?,
        None => ctx
            .catalog
            .create(ctx.catalog_name, &spec.namespace, &spec.name, &new_location)?,
    };
    if !committed {
        return Err(LakeError::Conflict { table: full });
    }

    // after the commit: files nothing reachable refers to any more
    if !expired.is_empty() || !result.expired_metadata_logs.is_empty() {
        if let Err(e) = remove_unreachable(ctx.rt, &io, &base, &metadata, &expired) {
            tracing::warn!("{full}: expired snapshots' files not all removed: {e}");
        }
        for log in &result.expired_metadata_logs {
            let _ = ctx.rt.block_on(io.delete(&log.metadata_file));
        }
    }

    Ok(TableReport {
        table: full,
        outcome: if registered { "updated" } else { "created" },
        rows: total_rows,
        files_added,
        files_removed,
        partitions_changed: changed.len(),
        snapshot_id: Some(snapshot_id),
        snapshots_expired: expired.len(),
    })
}

/// The table's columns and their types, in order.
fn describe(
    conn: &duckdb::Connection,
    schema: &str,
    table: &str,
    full: &str,
) -> Result<Vec<(String, DuckType)>> {
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        )
        .map_err(|e| query_err(full, e))?;
    let rows = stmt
        .query_map([schema, table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(|e| query_err(full, e))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, ty) = row.map_err(|e| query_err(full, e))?;
        let t = types::parse(&ty).map_err(|message| LakeError::Query {
            table: full.to_string(),
            message,
        })?;
        out.push((name, t));
    }
    if out.is_empty() {
        return Err(LakeError::Query {
            table: full.to_string(),
            message: "no such table in the warehouse".into(),
        });
    }
    Ok(out)
}

fn query_err(table: &str, e: duckdb::Error) -> LakeError {
    LakeError::Query {
        table: table.to_string(),
        message: warehouse::bounded(e.to_string().lines().next().unwrap_or_default(), 500)
            .to_string(),
    }
}

/// A new table's metadata: schema, partition spec, retention properties.
fn new_table(
    full: &str,
    location: &str,
    columns: &[(String, DuckType)],
    partition_by: &[PartitionField],
    retention: Retention,
) -> Result<TableMetadata> {
    let mut next = columns.len() as i32;
    let fields: Vec<NestedFieldRef> = columns
        .iter()
        .enumerate()
        .map(|(i, (name, t))| {
            NestedField::optional(i as i32 + 1, name, t.iceberg(&mut next)).into()
        })
        .collect();
    let schema = Schema::builder()
        .with_fields(fields)
        .build()
        .map_err(|e| LakeError::iceberg(full, e))?;
    let mut unbound = UnboundPartitionSpec::builder();
    for p in partition_by {
        let source = schema
            .field_by_name(&p.column)
            .map(|f| f.id)
            .expect("checked against the columns");
        unbound = unbound
            .add_partition_field(source, p.name(), p.transform)
            .map_err(|e| LakeError::iceberg(full, e))?;
    }
    let creation = TableCreation::builder()
        .name(full.rsplit('.').next().unwrap_or(full).to_string())
        .location(location.to_string())
        .schema(schema)
        .partition_spec(unbound.build())
        .properties([
            ("write.format.default".to_string(), "parquet".to_string()),
            (
                "write.parquet.compression-codec".to_string(),
                "zstd".to_string(),
            ),
            (
                "history.expire.min-snapshots-to-keep".to_string(),
                retention.min_keep.to_string(),
            ),
            (
                "history.expire.max-snapshot-age-ms".to_string(),
                retention.max_age.as_millis().to_string(),
            ),
            (
                "write.metadata.delete-after-commit.enabled".to_string(),
                "true".to_string(),
            ),
            (
                "write.metadata.previous-versions-max".to_string(),
                "10".to_string(),
            ),
        ])
        .build();
    Ok(TableMetadataBuilder::from_table_creation(creation)
        .and_then(|b| b.build())
        .map_err(|e| LakeError::iceberg(full, e))?
        .metadata)
}

/// The published schema with the warehouse's columns: the same field ids by
/// name, promotions applied, new columns added with fresh ids. A column the
/// warehouse no longer has, or a type that is not a promotion, is refused.
fn evolve(
    full: &str,
    published: &Schema,
    last_column_id: i32,
    columns: &[(String, DuckType)],
) -> Result<(Schema, bool)> {
    let mut next = last_column_id.max(published.highest_field_id());
    let mut fields: Vec<NestedFieldRef> = Vec::new();
    let mut changed = false;
    let names: BTreeSet<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    for f in published.as_struct().fields() {
        if !names.contains(f.name.as_str()) {
            return Err(LakeError::Incompatible {
                table: full.to_string(),
                message: format!(
                    "column `{}` is published but no longer in the warehouse (Iceberg readers \
                     would lose it); dropping a column is not done by a publish",
                    f.name
                ),
            });
        }
    }
    for (name, t) in columns {
        match published.field_by_name(name) {
            Some(old) => {
                // the new type numbered like the old one, to compare
                let mut probe = 0;
                let new_type = renumber(&t.iceberg(&mut probe), &old.field_type);
                if new_type == *old.field_type {
                    fields.push(old.clone());
                } else if types::promotes(&old.field_type, &new_type) {
                    changed = true;
                    fields.push(NestedField::optional(old.id, name, new_type).into());
                } else {
                    return Err(LakeError::Incompatible {
                        table: full.to_string(),
                        message: format!(
                            "column `{name}` was published as {} and is now {} in the warehouse, \
                             which Iceberg cannot promote",
                            old.field_type,
                            t.iceberg(&mut 0)
                        ),
                    });
                }
            }
            None => {
                changed = true;
                next += 1;
                let id = next;
                let ty = t.iceberg(&mut next);
                fields.push(NestedField::optional(id, name, ty).into());
            }
        }
    }
    if !changed {
        return Ok((published.clone(), false));
    }
    let schema = Schema::builder()
        .with_schema_id(published.schema_id() + 1)
        .with_fields(fields)
        .build()
        .map_err(|e| LakeError::iceberg(full, e))?;
    Ok((schema, true))
}

/// `new` with the nested field ids of `old` where the shapes match, so
/// that equal types compare equal whatever ids a fresh numbering gave.
fn renumber(new: &Type, old: &Type) -> Type {
    use iceberg::spec::{ListType, MapType, StructType};
    match (new, old) {
        (Type::List(n), Type::List(o)) => Type::List(ListType::new(
            NestedField::list_element(
                o.element_field.id,
                renumber(&n.element_field.field_type, &o.element_field.field_type),
                false,
            )
            .into(),
        )),
        (Type::Map(n), Type::Map(o)) => Type::Map(MapType::new(
            NestedField::map_key_element(
                o.key_field.id,
                renumber(&n.key_field.field_type, &o.key_field.field_type),
            )
            .into(),
            NestedField::map_value_element(
                o.value_field.id,
                renumber(&n.value_field.field_type, &o.value_field.field_type),
                false,
            )
            .into(),
        )),
        (Type::Struct(n), Type::Struct(o)) if n.fields().len() == o.fields().len() => {
            Type::Struct(StructType::new(
                n.fields()
                    .iter()
                    .zip(o.fields())
                    .map(|(nf, of)| {
                        NestedField::optional(
                            of.id,
                            &nf.name,
                            renumber(&nf.field_type, &of.field_type),
                        )
                        .into()
                    })
                    .collect(),
            ))
        }
        _ => new.clone(),
    }
}

/// The published partitioning must be the configured one: a table is not
/// repartitioned by a publish.
fn check_partitioning(
    full: &str,
    spec: &iceberg::spec::PartitionSpec,
    schema: &Schema,
    wanted: &[PartitionField],
) -> Result<()> {
    let have: Vec<(String, Transform)> = spec
        .fields()
        .iter()
        .map(|f| {
            let col = schema
                .field_by_id(f.source_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            (col, f.transform)
        })
        .collect();
    let want: Vec<(String, Transform)> = wanted
        .iter()
        .map(|p| (p.column.clone(), p.transform))
        .collect();
    if have != want {
        let show = |v: &[(String, Transform)]| {
            if v.is_empty() {
                "unpartitioned".to_string()
            } else {
                v.iter()
                    .map(|(c, t)| format!("{t}({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        return Err(LakeError::Incompatible {
            table: full.to_string(),
            message: format!(
                "the table is published {} but configured {}; a publish does not repartition a table",
                show(&have),
                show(&want)
            ),
        });
    }
    Ok(())
}

/// The live data files of a snapshot.
fn live_files(
    rt: &tokio::runtime::Runtime,
    io: &FileIO,
    meta: &TableMetadata,
    manifest_list: &str,
    full: &str,
) -> Result<Vec<Published>> {
    rt.block_on(async {
        let bytes = io.new_input(manifest_list)?.read().await?;
        let list = iceberg::spec::ManifestList::parse_with_version(&bytes, meta.format_version())?;
        let mut out = Vec::new();
        for mf in list.entries() {
            let manifest = mf.load_manifest(io).await?;
            for e in manifest.entries() {
                if e.status() == ManifestStatus::Deleted {
                    continue;
                }
                out.push(Published {
                    file: e.data_file().clone(),
                    snapshot_id: e.snapshot_id().unwrap_or(0),
                    sequence_number: e.sequence_number().unwrap_or(0),
                    file_sequence_number: e.file_sequence_number,
                });
            }
        }
        Ok::<_, iceberg::Error>(out)
    })
    .map_err(|e| LakeError::iceberg(full, e))
}

/// Every file a snapshot refers to: its manifest list, manifests, and the
/// data files its manifests list (deleted entries included: a reader of an
/// older snapshot may still need them).
fn files_of(
    rt: &tokio::runtime::Runtime,
    io: &FileIO,
    meta: &TableMetadata,
    snap: &Snapshot,
) -> iceberg::Result<BTreeSet<String>> {
    rt.block_on(async {
        let mut out = BTreeSet::new();
        out.insert(snap.manifest_list().to_string());
        let bytes = io.new_input(snap.manifest_list())?.read().await?;
        let list = iceberg::spec::ManifestList::parse_with_version(&bytes, meta.format_version())?;
        for mf in list.entries() {
            out.insert(mf.manifest_path.clone());
            let manifest = mf.load_manifest(io).await?;
            for e in manifest.entries() {
                if e.status() != ManifestStatus::Deleted {
                    out.insert(e.file_path().to_string());
                }
            }
        }
        Ok(out)
    })
}

/// Deletes the files only expired snapshots referred to.
fn remove_unreachable(
    rt: &tokio::runtime::Runtime,
    io: &FileIO,
    before: &TableMetadata,
    after: &TableMetadata,
    expired: &[i64],
) -> iceberg::Result<()> {
    let mut keep = BTreeSet::new();
    for s in after.snapshots() {
        keep.extend(files_of(rt, io, after, s)?);
    }
    let mut gone = BTreeSet::new();
    for id in expired {
        if let Some(s) = before.snapshot_by_id(*id) {
            gone.extend(files_of(rt, io, before, s)?);
        }
    }
    for path in gone.difference(&keep) {
        rt.block_on(io.delete(path))?;
    }
    Ok(())
}

/// Snapshots the retention lets go: not the current one, not among the
/// newest `min_keep`, and older than `max_age`.
fn expiring(meta: &TableMetadata, retention: Retention, now_ms: i64) -> Vec<i64> {
    let mut snaps: Vec<(i64, i64)> = meta
        .snapshots()
        .map(|s| (s.timestamp_ms(), s.snapshot_id()))
        .collect();
    snaps.sort_unstable_by(|a, b| b.cmp(a));
    let current = meta.current_snapshot_id();
    // the new snapshot counts as one of the kept
    let keep_old = retention.min_keep.saturating_sub(1);
    let cutoff = now_ms - retention.max_age.as_millis() as i64;
    snaps
        .into_iter()
        .enumerate()
        .filter(|(i, (ts, id))| *i >= keep_old && *ts < cutoff && Some(*id) != current)
        .map(|(_, (_, id))| id)
        .collect()
}

fn new_snapshot_id(meta: &TableMetadata) -> i64 {
    loop {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((a ^ b) >> 1) as i64;
        if id > 0 && meta.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// A partition tuple as the strings DuckDB gives for it (`None`: null).
fn partition_key(p: &Struct) -> Vec<Option<String>> {
    p.iter()
        .map(|v| {
            v.map(|lit| match lit {
                Literal::Primitive(PrimitiveLiteral::Int(i)) => i.to_string(),
                Literal::Primitive(PrimitiveLiteral::Long(i)) => i.to_string(),
                Literal::Primitive(PrimitiveLiteral::String(s)) => s.clone(),
                Literal::Primitive(PrimitiveLiteral::Boolean(b)) => b.to_string(),
                other => format!("{other:?}"),
            })
        })
        .collect()
}

/// The digest a data file's name carries (`…/<digest>-<n>.parquet`).
fn digest_of(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let stem = name.strip_suffix(".parquet")?;
    let (digest, _) = stem.rsplit_once('-')?;
    Some(digest.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Iceberg literal of a partition value DuckDB gave as text.
fn literal(text: &str, ty: &Type) -> Option<Literal> {
    use iceberg::spec::PrimitiveType as P;
    match ty {
        Type::Primitive(P::Int) => text.parse::<i32>().ok().map(Literal::int),
        Type::Primitive(P::Date) => text.parse::<i32>().ok().map(Literal::date),
        Type::Primitive(P::Long) => text.parse::<i64>().ok().map(Literal::long),
        Type::Primitive(P::String) => Some(Literal::string(text)),
        Type::Primitive(P::Boolean) => text.parse::<bool>().ok().map(Literal::bool),
        _ => None,
    }
}

/// Writes the changed partitions as Parquet and places them in the table's
/// `data/` folder; returns their data-file entries.
#[allow(clippy::too_many_arguments)]
fn write_partitions(
    ctx: &mut Ctx<'_>,
    full: &str,
    qualified: &str,
    fields: &[(String, DuckType, NestedFieldRef)],
    part_sql: &[String],
    partition_types: &[Type],
    partition_by: &[PartitionField],
    changed: &[(&Vec<Option<String>>, &String)],
    every_partition: bool,
    table_location: &str,
    spec_id: i32,
) -> Result<Vec<DataFile>> {
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let select: Vec<String> = fields
        .iter()
        .map(|(name, t, _)| {
            if t.needs_cast() {
                format!(
                    "CAST({} AS {}) AS {}",
                    quote_ident(name),
                    t.written(),
                    quote_ident(name)
                )
            } else {
                quote_ident(name)
            }
        })
        .collect();
    let ids: Vec<String> = fields
        .iter()
        .map(|(name, _, f)| {
            format!(
                "{}: {}",
                quote_string(name),
                types::field_ids(f.id, &f.field_type)
            )
        })
        .collect();
    let stage = ctx
        .staging
        .join(format!("{}-{}", full, uuid::Uuid::new_v4()));
    let _cleanup = RemoveOnDrop(stage.clone());
    let options = format!(
        "FORMAT parquet, COMPRESSION zstd, FIELD_IDS {{{}}}",
        ids.join(", ")
    );
    let mut staged: Vec<(std::path::PathBuf, String, Struct)> = Vec::new();
    std::fs::create_dir_all(&stage)
        .map_err(|e| LakeError::Store(format!("{}: {e}", stage.display())))?;
    if part_sql.is_empty() {
        let file = stage.join("part.parquet");
        let sql = format!(
            "COPY (SELECT {} FROM {qualified}) TO {} ({options})",
            select.join(", "),
            quote_string(&file.to_string_lossy())
        );
        ctx.conn
            .execute_batch(&sql)
            .map_err(|e| query_err(full, e))?;
        let (_, digest) = changed[0];
        let staged = vec![(
            file,
            format!("{table_location}/data/{digest}-0.parquet"),
            Struct::empty(),
        )];
        return place_all(ctx, full, &stage, staged, spec_id);
    }
    // one COPY for all changed partitions, split by DuckDB into folders
    let n = part_sql.len();
    let parts_select: String = part_sql
        .iter()
        .enumerate()
        .map(|(i, s)| format!(", {s} AS __p{i}"))
        .collect();
    // which rows to write: all of them for a new or wholly changed table
    // (no filter to evaluate per row), else the changed partitions' keys,
    // as one IN list when there is one partition column (a hash lookup,
    // not a chain of comparisons per row)
    let filter = if every_partition {
        "true".to_string()
    } else if n == 1 {
        let values: Vec<String> = changed
            .iter()
            .filter_map(|(key, _)| key[0].as_deref().map(quote_string))
            .collect();
        let mut parts = Vec::new();
        if !values.is_empty() {
            parts.push(format!("__p0::VARCHAR IN ({})", values.join(", ")));
        }
        if changed.iter().any(|(key, _)| key[0].is_none()) {
            parts.push("__p0 IS NULL".to_string());
        }
        parts.join(" OR ")
    } else {
        changed
            .iter()
            .map(|(key, _)| {
                let conds: Vec<String> = key
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Some(v) => format!("__p{i}::VARCHAR = {}", quote_string(v)),
                        None => format!("__p{i} IS NULL"),
                    })
                    .collect();
                format!("({})", conds.join(" AND "))
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let part_cols: Vec<String> = (0..n).map(|i| format!("__p{i}")).collect();
    let sql = format!(
        "COPY (SELECT * FROM (SELECT {}{parts_select} FROM {qualified}) WHERE {}) TO {} \
         ({options}, PARTITION_BY ({}), OVERWRITE_OR_IGNORE, FILENAME_PATTERN 'f{{i}}')",
        select.join(", "),
        filter,
        quote_string(&stage.to_string_lossy()),
        part_cols.join(", ")
    );
    ctx.conn
        .execute_batch(&sql)
        .map_err(|e| query_err(full, e))?;
    for (key, digest) in changed {
        // DuckDB's folder for this tuple: __p0=v/__p1=w (NULL as its text)
        let mut dir = stage.clone();
        for (i, v) in key.iter().enumerate() {
            dir.push(format!("__p{i}={}", v.as_deref().unwrap_or("NULL")));
        }
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| LakeError::Store(format!("{}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        files.sort();
        let partition: Struct = key
            .iter()
            .zip(partition_types)
            .map(|(v, t)| v.as_deref().and_then(|v| literal(v, t)))
            .collect();
        let folder: Vec<String> = key
            .iter()
            .zip(partition_by)
            .map(|(v, p)| format!("{}={}", p.name(), v.as_deref().unwrap_or("null")))
            .collect();
        for (i, file) in files.into_iter().enumerate() {
            let url = format!(
                "{table_location}/data/{}/{digest}-{i}.parquet",
                folder.join("/")
            );
            staged.push((file, url, partition.clone()));
        }
    }
    place_all(ctx, full, &stage, staged, spec_id)
}

/// Moves (a folder lake: renamed, then one `syncfs` so every file is on
/// disk before the commit names it) or sends (a bucket: one PUT each, eight
/// at a time) the staged files to their URLs; returns their data-file
/// entries with the row counts Parquet's footers give.
fn place_all(
    ctx: &mut Ctx<'_>,
    full: &str,
    stage: &std::path::Path,
    staged: Vec<(std::path::PathBuf, String, Struct)>,
    spec_id: i32,
) -> Result<Vec<DataFile>> {
    let mut rows: HashMap<String, i64> = HashMap::new();
    {
        let glob = stage.join("**").join("*.parquet");
        let mut stmt = ctx
            .conn
            .prepare("SELECT file_name, sum(num_rows)::BIGINT FROM parquet_file_metadata(?) GROUP BY ALL")
            .map_err(|e| query_err(full, e))?;
        let found = stmt
            .query_map([glob.to_string_lossy().to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .and_then(|it| it.collect::<duckdb::Result<Vec<_>>>())
            .map_err(|e| query_err(full, e))?;
        rows.extend(found);
    }
    let mut out = Vec::with_capacity(staged.len());
    for (file, url, partition) in &staged {
        let records = rows
            .get(&file.to_string_lossy().to_string())
            .copied()
            .ok_or_else(|| {
                LakeError::Store(format!("{}: DuckDB wrote no such file", file.display()))
            })?;
        let size = std::fs::metadata(file)
            .map_err(|e| LakeError::Store(format!("{}: {e}", file.display())))?
            .len();
        out.push(
            DataFileBuilder::default()
                .content(DataContentType::Data)
                .file_path(url.clone())
                .file_format(DataFileFormat::Parquet)
                .partition(partition.clone())
                .partition_spec_id(spec_id)
                .record_count(records as u64)
                .file_size_in_bytes(size)
                .build()
                .map_err(|e| LakeError::Iceberg {
                    table: full.to_string(),
                    message: e.to_string(),
                })?,
        );
    }
    match &ctx.location.local {
        Some(root) => {
            for (file, url, _) in &staged {
                let dest = ctx
                    .location
                    .local_path(url)
                    .expect("a folder lake names local files");
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| LakeError::Store(format!("{}: {e}", dir.display())))?;
                }
                std::fs::rename(file, &dest)
                    .map_err(|e| LakeError::Store(format!("{}: {e}", dest.display())))?;
            }
            ingest::store::sync_filesystem(root).map_err(|e| LakeError::Store(e.to_string()))?;
        }
        None => {
            use futures::StreamExt;
            let io = ctx.location.io.clone();
            let sends = staged.iter().map(|(file, url, _)| {
                let io = io.clone();
                let (file, url) = (file.clone(), url.clone());
                async move {
                    let bytes = tokio::fs::read(&file).await.map_err(|e| {
                        iceberg::Error::new(
                            iceberg::ErrorKind::Unexpected,
                            format!("{}: {e}", file.display()),
                        )
                    })?;
                    io.new_output(&url)?.write(bytes.into()).await
                }
            });
            let results: Vec<iceberg::Result<()>> = ctx
                .rt
                .block_on(futures::stream::iter(sends).buffer_unordered(8).collect());
            for r in results {
                r.map_err(|e| LakeError::iceberg(full, e))?;
            }
        }
    }
    Ok(out)
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_fields_parse_as_dbt_adapters_write_them() {
        let p = PartitionField::parse("day(scheduled_time_utc)").unwrap();
        assert_eq!(p.transform, Transform::Day);
        assert_eq!(p.column, "scheduled_time_utc");
        assert_eq!(p.name(), "scheduled_time_utc_day");
        assert_eq!(
            PartitionField::parse("airport_iata").unwrap().transform,
            Transform::Identity
        );
        assert!(PartitionField::parse("bucket(16, id)").is_err());
        assert!(PartitionField::parse("day()").is_err());
    }

    #[test]
    fn digests_come_back_from_file_names() {
        assert_eq!(
            digest_of("s3://b/lake/silver/flights/data/d=1/0123abcd-0.parquet").as_deref(),
            Some("0123abcd")
        );
        assert_eq!(digest_of("x.avro"), None);
    }
}
