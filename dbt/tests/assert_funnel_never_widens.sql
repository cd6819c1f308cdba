-- A later funnel step can never have more sessions than the step before it.
select * from {{ ref('fct_funnel_daily') }}
where added_to_cart > viewed_product
   or started_checkout > added_to_cart
   or entered_payment > started_checkout
   or completed_order > entered_payment
