-- Fails when more than var('max_quarantine_share') of the records bronze
-- received were rejected, by ingestion (bronze.quarantine) or by typing
-- (silver.quarantine_flights). Raise the share with
-- `--vars '{max_quarantine_share: 0.05}'` to accept a worse day.
with counts as (

    select
        (select count(*) from {{ source('bronze', 'flightlabs_historical') }}) as accepted,
        -- bronze.quarantine also holds rejected real-time positions (/flights)
        (select count(*) from {{ source('bronze', 'quarantine') }}
          where landing_file like '%historical/%') as rejected_by_ingestion,
        (select count(*) from {{ ref('quarantine_flights') }}) as rejected_by_typing

)

select
    *,
    (rejected_by_ingestion + rejected_by_typing) / (accepted + rejected_by_ingestion) as rejected_share
from counts
where accepted + rejected_by_ingestion > 0
  and (rejected_by_ingestion + rejected_by_typing) / (accepted + rejected_by_ingestion)
      > {{ var('max_quarantine_share', 0.01) }}
