-- The weekly forecasts spread over the days by the series' own weekday profile over the full weeks
-- of sales history, else its location's, else flat.
with bounds as (
    select
        min(sale_date) + cast((8 - extract(isodow from min(sale_date))) % 7 as integer) as first_monday,
        max(sale_date) - cast(extract(isodow from max(sale_date)) % 7 as integer) as last_sunday
    from {{ ref('fct_sales_daily') }}
),
history as (
    select sku, store_id as location_id, extract(isodow from sale_date) as dow, sum(units_sold)::double as units
    from {{ ref('fct_sales_daily') }}, bounds
    where sale_date between first_monday and last_sunday
    group by all
),
dows as (  -- ISO weekdays, Monday = 1
    {%- for day in range(1, 8) %}
    select {{ day }} as dow{{ ' union all' if not loop.last }}
    {%- endfor %}
),
series_share as (  -- every weekday of a series with history, 0 where it never sold that day
    select k.sku as sku, k.location_id as location_id, d.dow as dow,
           coalesce(h.units, 0) / nullif(sum(coalesce(h.units, 0)) over (partition by k.sku, k.location_id), 0)
               as share
    from (select distinct sku, location_id from history) k cross join dows d
    left join history h on h.sku = k.sku and h.location_id = k.location_id and h.dow = d.dow
),
location_share as (
    select k.location_id as location_id, d.dow as dow,
           coalesce(sum(h.units), 0) / nullif(sum(coalesce(sum(h.units), 0)) over (partition by k.location_id), 0)
               as share
    from (select distinct location_id from history) k cross join dows d
    left join history h on h.location_id = k.location_id and h.dow = d.dow
    group by k.location_id, d.dow
),
days as (select f.*, d.dow from {{ ref('forecasts') }} f cross join dows d)
select
    d.sku as sku,
    d.location_id as location_id,
    cast({{ dbt.dateadd('day', 'd.dow - 1', 'd.week_start') }} as date) as forecast_date,
    d.forecast_units * coalesce(s.share, l.share, 1.0 / 7) as forecast_units
from days d
left join series_share s using (sku, location_id, dow)
left join location_share l on l.location_id = d.location_id and l.dow = d.dow
