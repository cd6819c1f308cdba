{{ config(meta={'dagster': {'ref': {'name': 'fct_sales_daily'}}}) }}
-- Revenue in the daily sales mart equals the revenue of the accepted raw lines, to the cent
-- (both summed as exact decimals: a double sum over millions of lines drifts by cents): the imported
-- lines, and the lines of the commerce API's orders that sold (less their returned units).
with mart as (select coalesce(sum(revenue), 0) as r from {{ ref('fct_sales_daily') }}),
imported as (
    select coalesce(sum({{ money('quantity * unit_price') }}), 0) as r
    from {{ source('raw', 'transactions') }}
),
api as (
    select coalesce(sum({{ money('(l.quantity - l.returned_quantity) * (l.unit_price / 100.0)') }}), 0) as r
    from {{ source('raw', 'commerce_orders') }} as o
    inner join {{ source('raw', 'commerce_order_lines') }} as l using (order_id)
    where o.status in {{ "('" ~ var('commerce_sold_statuses') | join("', '") ~ "')" }}
)
select mart.r as mart_revenue, imported.r + api.r as raw_revenue
from mart, imported, api
where abs(mart.r - (imported.r + api.r)) > 0.01
