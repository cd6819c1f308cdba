select
    sku,
    coalesce(product_id, sku) as product_id,
    coalesce(name, sku) as product_name,
    coalesce(category, 'Uncategorised') as category,
    subcategory,
    coalesce(brand, 'unknown') as brand,
    supplier_id,
    spec,
    price as list_price,
    cost,
    coalesce(listed, true) as is_listed
from {{ source('raw', 'products') }}
