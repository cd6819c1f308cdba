-- Store sensor alerts per device and day: cold-chain temperature outside its range, and smart
-- shelves at or below the low-stock level. One row per (alert, device, sku, day) with the first
-- and last reading out of bounds and the worst value.
with readings as (
    select * from {{ ref('stg_iot_readings') }}
),

temperature as (
    select
        'temperature_excursion' as alert,
        store_id,
        device_id,
        cast(null as varchar) as sku,
        read_date as alert_date,
        min(read_at) as first_at,
        max(read_at) as last_at,
        count(*) as readings,
        case
            when max(value) > {{ var('cold_chain_max_celsius') }} then max(value)
            else min(value)
        end as worst_value,
        'degrees Celsius outside ' || {{ var('cold_chain_min_celsius') }} || '..' || {{ var('cold_chain_max_celsius') }} as detail
    from readings
    where reading_kind = 'temperature'
      and (value > {{ var('cold_chain_max_celsius') }} or value < {{ var('cold_chain_min_celsius') }})
    group by all
),

shelf as (
    select
        'shelf_low' as alert,
        store_id,
        device_id,
        sku,
        read_date as alert_date,
        min(read_at) as first_at,
        max(read_at) as last_at,
        count(*) as readings,
        min(value) as worst_value,
        'units on the shelf at or below ' || {{ var('shelf_low_units') }} as detail
    from readings
    where reading_kind = 'shelf_stock' and value <= {{ var('shelf_low_units') }}
    group by all
)

select * from temperature
union all  -- the same columns in the same order
select * from shelf
