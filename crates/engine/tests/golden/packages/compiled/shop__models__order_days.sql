





with rawdata as (

    



with
    p as (
        select 0 as generated_number
        union all
        select 1
    ),
    unioned as (

        select

            
            p0.generated_number * power(2, 0)
             + 
            
            p1.generated_number * power(2, 1)
             + 
            
            p2.generated_number * power(2, 2)
             + 
            
            p3.generated_number * power(2, 3)
            
             + 1 as generated_number

        from

        
            p as p0  cross join 
        
            p as p1  cross join 
        
            p as p2  cross join 
        
            p as p3 
        

    )

select *
from unioned
where generated_number <= 9
order by generated_number



),

all_periods as (

    select (
        

    (cast('2024-01-01' as date) + cast(row_number() over (order by generated_number) - 1 as bigint) * interval 1 day)
    ) as date_day
    from rawdata

),

filtered as (

    select *
    from all_periods
    where date_day <= cast('2024-01-10' as date)

)

select * from filtered

