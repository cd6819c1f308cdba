-- Walks the replenishment tree: store -> regional warehouse -> central warehouse.
with s as (select * from {{ ref('stg_stores') }})
select
    s.store_id as store_id,
    case s.location_kind
        when 'store' then s.parent_id
        when 'regional_warehouse' then s.store_id
    end as regional_warehouse_id,
    case s.location_kind
        when 'store' then p.parent_id
        when 'regional_warehouse' then s.parent_id
        when 'central_warehouse' then s.store_id
    end as central_warehouse_id
from s
left join s as p on p.store_id = s.parent_id
