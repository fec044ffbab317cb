{#- Tarmac's snapshot SQL, following dbt-core 1.10's snapshot helpers
    (default__build_snapshot_table, default__snapshot_staging_table) and
    dbt-duckdb's duckdb__snapshot_merge_sql. Rendered by `snapshot.rs` with
    `s` (the strategy), `c` (meta column names), `cfg` (the node's config),
    and for new_record deletes `snapshotted_cols` and `source_cols`. -#}

{% macro hash_args(args) -%}
    md5({%- for arg in args -%}
        coalesce(cast({{ arg }} as varchar ), '')
        {% if not loop.last %} || '|' || {% endif %}
    {%- endfor -%})
{%- endmacro %}

{% macro valid_to_current(s, c) -%}
  coalesce(nullif({{ s.updated_at }}, {{ s.updated_at }}), {{ cfg.dbt_valid_to_current or "null" }})
  as {{ c.dbt_valid_to }}
{% endmacro %}

{% macro unique_key_fields(unique_key) %}
    {% if unique_key is sequence and unique_key is not string %}
        {% for key in unique_key %}
            {{ key }} as dbt_unique_key_{{ loop.index }}
            {%- if not loop.last %} , {%- endif %}
        {% endfor %}
    {% else %}
        {{ unique_key }} as dbt_unique_key
    {% endif %}
{% endmacro %}

{% macro unique_key_join_on(unique_key, identifier, from_identifier) %}
    {% if unique_key is sequence and unique_key is not string %}
        {% for key in unique_key %}
            ({{ identifier }}.dbt_unique_key_{{ loop.index }} = {{ from_identifier }}.dbt_unique_key_{{ loop.index }})
            {%- if not loop.last %} and {%- endif %}
        {% endfor %}
    {% else %}
        {{ identifier }}.dbt_unique_key = {{ from_identifier }}.dbt_unique_key
    {% endif %}
{% endmacro %}

{% macro unique_key_is_null(unique_key, identifier) %}
    {% if unique_key is sequence and unique_key is not string %}
        {{ identifier }}.dbt_unique_key_1 is null
    {% else %}
        {{ identifier }}.dbt_unique_key is null
    {% endif %}
{% endmacro %}

{% macro unique_key_is_not_null(unique_key, identifier) %}
    {% if unique_key is sequence and unique_key is not string %}
        {{ identifier }}.dbt_unique_key_1 is not null
    {% else %}
        {{ identifier }}.dbt_unique_key is not null
    {% endif %}
{% endmacro %}

{% macro is_current(col) -%}
    {% if cfg.dbt_valid_to_current -%}
        ( ({{ col }} = {{ cfg.dbt_valid_to_current }}) or {{ col }} is null )
    {%- else -%}
        {{ col }} is null
    {%- endif %}
{%- endmacro %}

{% macro build_snapshot_table(s, sql) %}
    select *,
        {{ s.scd_id }} as {{ c.dbt_scd_id }},
        {{ s.updated_at }} as {{ c.dbt_updated_at }},
        {{ s.updated_at }} as {{ c.dbt_valid_from }},
        {{ valid_to_current(s, c) }}
      {% if s.hard_deletes == 'new_record' -%}
        , 'False' as {{ c.dbt_is_deleted }}
      {% endif -%}
    from (
        {{ sql }}
    ) sbq
{% endmacro %}

{% macro snapshot_staging_table(s, source_sql, target) -%}
    {% if s.hard_deletes == 'new_record' %}
        {% set new_scd_id = hash_args([c.dbt_scd_id, now]) %}
    {% endif %}
    with snapshot_query as (

        {{ source_sql }}

    ),

    snapshotted_data as (

        select *, {{ unique_key_fields(s.unique_key) }}
        from {{ target }}
        where
            {{ is_current(c.dbt_valid_to) }}

    ),

    insertions_source_data as (

        select *, {{ unique_key_fields(s.unique_key) }},
            {{ s.updated_at }} as {{ c.dbt_updated_at }},
            {{ s.updated_at }} as {{ c.dbt_valid_from }},
            {{ valid_to_current(s, c) }},
            {{ s.scd_id }} as {{ c.dbt_scd_id }}

        from snapshot_query
    ),

    updates_source_data as (

        select *, {{ unique_key_fields(s.unique_key) }},
            {{ s.updated_at }} as {{ c.dbt_updated_at }},
            {{ s.updated_at }} as {{ c.dbt_valid_from }},
            {{ s.updated_at }} as {{ c.dbt_valid_to }}

        from snapshot_query
    ),

    {%- if s.hard_deletes == 'invalidate' or s.hard_deletes == 'new_record' %}

    deletes_source_data as (

        select *, {{ unique_key_fields(s.unique_key) }}
        from snapshot_query
    ),
    {% endif %}

    insertions as (

        select
            'insert' as dbt_change_type,
            source_data.*
          {%- if s.hard_deletes == 'new_record' -%}
            ,'False' as {{ c.dbt_is_deleted }}
          {%- endif %}

        from insertions_source_data as source_data
        left outer join snapshotted_data
            on {{ unique_key_join_on(s.unique_key, "snapshotted_data", "source_data") }}
            where {{ unique_key_is_null(s.unique_key, "snapshotted_data") }}
            or ({{ unique_key_is_not_null(s.unique_key, "snapshotted_data") }} and (
               {{ s.row_changed }} {%- if s.hard_deletes == 'new_record' -%} or snapshotted_data.{{ c.dbt_is_deleted }} = 'True' {% endif %}
            )

        )

    ),

    updates as (

        select
            'update' as dbt_change_type,
            source_data.*,
            snapshotted_data.{{ c.dbt_scd_id }}
          {%- if s.hard_deletes == 'new_record' -%}
            , snapshotted_data.{{ c.dbt_is_deleted }}
          {%- endif %}

        from updates_source_data as source_data
        join snapshotted_data
            on {{ unique_key_join_on(s.unique_key, "snapshotted_data", "source_data") }}
        where (
            {{ s.row_changed }}  {%- if s.hard_deletes == 'new_record' -%} or snapshotted_data.{{ c.dbt_is_deleted }} = 'True' {% endif %}
        )
    )

    {%- if s.hard_deletes == 'invalidate' or s.hard_deletes == 'new_record' %}
    ,
    deletes as (

        select
            'delete' as dbt_change_type,
            source_data.*,
            {{ now }} as {{ c.dbt_valid_from }},
            {{ now }} as {{ c.dbt_updated_at }},
            {{ now }} as {{ c.dbt_valid_to }},
            snapshotted_data.{{ c.dbt_scd_id }}
          {%- if s.hard_deletes == 'new_record' -%}
            , snapshotted_data.{{ c.dbt_is_deleted }}
          {%- endif %}
        from snapshotted_data
        left join deletes_source_data as source_data
            on {{ unique_key_join_on(s.unique_key, "snapshotted_data", "source_data") }}
            where {{ unique_key_is_null(s.unique_key, "source_data") }}

            {%- if s.hard_deletes == 'new_record' %}
            and not (
                --avoid updating the record's valid_to if the latest entry is marked as deleted
                snapshotted_data.{{ c.dbt_is_deleted }} = 'True'
                and
                {% if cfg.dbt_valid_to_current -%}
                    snapshotted_data.{{ c.dbt_valid_to }} = {{ cfg.dbt_valid_to_current }}
                {%- else -%}
                    snapshotted_data.{{ c.dbt_valid_to }} is null
                {%- endif %}
            )
            {%- endif %}
    )
    {%- endif %}

    {%- if s.hard_deletes == 'new_record' %}
    ,
    deletion_records as (

        select
            'insert' as dbt_change_type,
            {%- for col_name in source_cols -%}
            {%- if col_name in snapshotted_cols -%}
            snapshotted_data.{{ col_name | quote }},
            {%- else -%}
            source_data.{{ col_name | quote }},
            {%- endif -%}
            {% endfor -%}
            {%- if s.unique_key is sequence and s.unique_key is not string -%}
                {%- for key in s.unique_key -%}
            snapshotted_data.{{ key }} as dbt_unique_key_{{ loop.index }},
                {% endfor -%}
            {%- else -%}
            snapshotted_data.dbt_unique_key as dbt_unique_key,
            {% endif -%}
            {{ now }} as {{ c.dbt_valid_from }},
            {{ now }} as {{ c.dbt_updated_at }},
            snapshotted_data.{{ c.dbt_valid_to }} as {{ c.dbt_valid_to }},
            {{ new_scd_id }} as {{ c.dbt_scd_id }},
            'True' as {{ c.dbt_is_deleted }}
        from snapshotted_data
        left join deletes_source_data as source_data
            on {{ unique_key_join_on(s.unique_key, "snapshotted_data", "source_data") }}
        where {{ unique_key_is_null(s.unique_key, "source_data") }}
        and not (
            --avoid inserting a new record if the latest one is marked as deleted
            snapshotted_data.{{ c.dbt_is_deleted }} = 'True'
            and
            {% if cfg.dbt_valid_to_current -%}
                snapshotted_data.{{ c.dbt_valid_to }} = {{ cfg.dbt_valid_to_current }}
            {%- else -%}
                snapshotted_data.{{ c.dbt_valid_to }} is null
            {%- endif %}
            )

    )
    {%- endif %}

    select * from insertions
    union all
    select * from updates
    {%- if s.hard_deletes == 'invalidate' or s.hard_deletes == 'new_record' %}
    union all
    select * from deletes
    {%- endif %}
    {%- if s.hard_deletes == 'new_record' %}
    union all
    select * from deletion_records
    {%- endif %}
{%- endmacro %}

{% macro snapshot_merge_sql(target, source, insert_cols) -%}
    {%- set insert_cols_csv = insert_cols | join(', ') -%}
    update {{ target }} as DBT_INTERNAL_TARGET
    set {{ c.dbt_valid_to }} = DBT_INTERNAL_SOURCE.{{ c.dbt_valid_to }}
    from {{ source }} as DBT_INTERNAL_SOURCE
    where DBT_INTERNAL_SOURCE.{{ c.dbt_scd_id }}::text = DBT_INTERNAL_TARGET.{{ c.dbt_scd_id }}::text
      and DBT_INTERNAL_SOURCE.dbt_change_type::text in ('update'::text, 'delete'::text)
      {% if cfg.dbt_valid_to_current %}
        and (DBT_INTERNAL_TARGET.{{ c.dbt_valid_to }} = {{ cfg.dbt_valid_to_current }} or DBT_INTERNAL_TARGET.{{ c.dbt_valid_to }} is null);
      {% else %}
        and DBT_INTERNAL_TARGET.{{ c.dbt_valid_to }} is null;
      {% endif %}

    insert into {{ target }} ({{ insert_cols_csv }})
    select {% for column in insert_cols -%}
        DBT_INTERNAL_SOURCE.{{ column }} {%- if not loop.last %}, {%- endif %}
    {%- endfor %}
    from {{ source }} as DBT_INTERNAL_SOURCE
    where DBT_INTERNAL_SOURCE.dbt_change_type::text = 'insert'::text;
{% endmacro %}
