-- Members of the imported files, and those who joined through the commerce API since (a member the
-- files hold keeps the files' row).
with imported as (
    select customer_id, signup_at, signup_channel, region, home_store_id, birthday, gender, account_type, tier
    from {{ source('raw', 'customers') }}
),

joined_in_the_shop as (
    select
        customer_id, created_at as signup_at, null as signup_channel, region, home_store_id, birthday,
        null as gender, null as account_type, case when tier = 'member' then null else tier end as tier
    from {{ source('raw', 'commerce_customers') }}
    where customer_id not in (select customer_id from imported where customer_id is not null)
)

select
    customer_id,
    signup_at,
    signup_channel,
    coalesce(region, 'unknown') as region,
    home_store_id,
    birthday,
    gender,
    account_type,
    coalesce(tier, 'silver') as tier
from (select * from imported union all select * from joined_in_the_shop)  -- the same columns in the same order
