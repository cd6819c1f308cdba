-- One row per shipment or pickup of an API order, with how long the order took to reach the shopper.
select
    s.shipment_id as shipment_id,
    s.order_id as order_id,
    o.customer_id as customer_id,
    o.channel as channel,
    o.fulfillment as fulfillment,
    s.location_id as location_id,
    s.carrier as carrier,
    s.waybill as waybill,
    s.status as status,
    s.tracking_status as tracking_status,
    o.created_at as ordered_at,
    s.updated_at as last_update_at,
    cast(o.created_at as date) as order_date,
    case
        when s.status in ('delivered', 'picked_up')
            then {{ dbt.datediff('o.created_at', 's.updated_at', 'minute') }} / 60.0
    end as hours_to_shopper
from {{ ref('stg_commerce_shipments') }} as s
left join {{ ref('stg_commerce_orders') }} as o on o.order_id = s.order_id
