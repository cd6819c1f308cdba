{{ config(meta={'dagster': {'ref': {'name': 'fct_sales_daily'}}}) }}
-- Revenue in the daily sales mart equals the revenue of the accepted raw lines, to the cent.
with mart as (select coalesce(sum(revenue), 0) as r from {{ ref('fct_sales_daily') }}),
raw as (select coalesce(sum(quantity * unit_price), 0) as r from {{ source('raw', 'transactions') }})
select mart.r as mart_revenue, raw.r as raw_revenue from mart, raw where abs(mart.r - raw.r) > 0.01
