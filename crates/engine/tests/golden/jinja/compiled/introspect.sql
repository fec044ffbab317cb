select
    'id,day,amount,label,flag' as column_names,
    'INTEGER,DATE,DOUBLE,character varying(256),BOOLEAN' as column_types,
    '"jinja"."main"."amounts"' as rel_text,
    'table' as found_type,
    
    'day,amount,label,flag,id' as q_cols,
    '2024-01-15|10.5|None|True|2' as q_first_values,
    '3' as q_col_len,
    
    'abc' as re_sub,
    '2024/01/31' as date_fmt,
    'x+y' as yaml_list,
    'k: v' as yaml_text,
    '{"k": [1, 2]}' as json_text,
    'amounts' as graph_seeds,
    '3' as summed,
    True as var_flag,
    '"x"' as quoted_ident,
    'duckdb' as adapter_type,
    'introspect' as this_ident