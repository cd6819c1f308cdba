with sales as (
    select sku, min(ordered_at) as first_sold_at, max(ordered_at) as last_sold_at,
           sum(quantity) filter (where quantity > 0) as units_sold,
           {{ median('unit_price') }} filter (where quantity > 0) as median_unit_price
    from {{ ref('stg_transactions') }}
    group by sku
),
catalogue as (
    select p.*, s.first_sold_at as first_sold_at, s.last_sold_at as last_sold_at, s.units_sold as units_sold, s.median_unit_price as median_unit_price
    from {{ ref('stg_products') }} p
    left join sales s using (sku)
)
select sku, product_id, product_name, category, subcategory, brand, supplier_id, spec,
       coalesce(list_price, median_unit_price) as list_price, cost, is_listed,
       first_sold_at, last_sold_at, coalesce(units_sold, 0) as units_sold
from catalogue
union all
-- SKUs sold but absent from the catalogue (sources without a product file)
select s.sku, s.sku, s.sku, 'Uncategorised', null, 'unknown', null, null, s.median_unit_price, null, true,
       s.first_sold_at, s.last_sold_at, coalesce(s.units_sold, 0)
from sales s
where s.sku not in (select sku from {{ ref('stg_products') }})
