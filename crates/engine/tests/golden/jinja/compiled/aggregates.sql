select
    
    string_agg(
        label,
        ','
        order by id
        ) as labels,
    arbitrary(id) is not null as has_any,
    bool_or(flag) as any_flag,
    count(*) as n
from "jinja"."main"."amounts"


    except


select null, null, null, -1