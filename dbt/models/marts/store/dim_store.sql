with located as (
    select s.*, h.regional_warehouse_id as regional_warehouse_id, h.central_warehouse_id as central_warehouse_id
    from {{ ref('stg_stores') }} s
    join {{ ref('int_location_hierarchy') }} h using (store_id)
),
seen as (
    -- locations that only appear in transactions (e.g. ONLINE for a web-only shop)
    select distinct store_id from {{ ref('stg_transactions') }}
    where store_id not in (select store_id from located)
)
select store_id, store_name, location_kind, region, city, parent_id, regional_warehouse_id,
       central_warehouse_id, latitude, longitude, opened_at
from located
union all
select store_id, store_id, case when store_id = 'ONLINE' then 'online' else 'store' end, 'unknown', null, null,
       null, null, null, null, null
from seen
