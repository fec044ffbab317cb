select
    id,
    date_trunc('month', day) as month_start,
    

    (day + cast(7 as bigint) * interval 1 day) as next_week,
    
        (date_diff('day', day::timestamp, '2024-01-01'::date::timestamp ))
     as days_since,
    cast(
        

    (

    (date_trunc('month', day) + cast(1 as bigint) * interval 1 month) + cast(-1 as bigint) * interval 1 day)
        as date) as month_end,
    
    string_split(label, '|')[ 2 ]
 as second_part,
    label || '-' || id as joined,
    md5(cast(label as TEXT)) as label_hash,
    
    
    cast(amount as numeric(28,6))
 as amount_num,
    cast(id as varchar) as id_text,
    cast(id as bigint) as id_big,
    cast(amount as float) as amount_float,
    cast(flag as boolean) as flag_bool,
    
  
    cast(flag as TEXT)

 as flag_text,
    

    position(
        '|' in label
    ) as bar_pos,
    

    replace(
        label,
        '|',
        '/'
    )


 as slashed,
    

    right(
        label,
        1
    ) as last_char,
    

    length(
        label
    ) as label_len,
    'its' as quoted,
    'it''s' as escaped,
    
    array[ 1 , 2 ]
     as arr,
    'hi ' || 'dbt' as greet
from "jinja"."main"."amounts"