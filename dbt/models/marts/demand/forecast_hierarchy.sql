-- Bottom-up sums of the weekly forecasts: SKU x location, location, region, category, SKU, all.
with f as (
    select f.sku as sku, f.location_id as location_id, f.week_start as week_start, f.forecast_units as forecast_units,
           s.region as region, p.category as category
    from {{ ref('forecasts') }} f
    left join {{ ref('dim_store') }} s on s.store_id = f.location_id
    left join {{ ref('dim_product') }} p on p.sku = f.sku
)
select 'sku_location' as level, sku || '@' || location_id as key, week_start, forecast_units from f
union all select 'location', location_id, week_start, sum(forecast_units) from f group by all
union all select 'region', coalesce(region, 'unknown'), week_start, sum(forecast_units) from f group by all
union all select 'category', coalesce(category, 'unknown'), week_start, sum(forecast_units) from f group by all
union all select 'sku', sku, week_start, sum(forecast_units) from f group by all
union all select 'all', 'all', week_start, sum(forecast_units) from f group by all
