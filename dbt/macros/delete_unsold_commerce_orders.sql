{#- After an incremental run of fct_order_lines: the lines of a commerce API order that is no longer
    a sale (cancelled since it was read as paid) go. Its new version has no lines in staging, so the
    delete+insert by batch alone would keep the old ones. -#}
{% macro delete_unsold_commerce_orders() %}
{% if is_incremental() %}
delete from {{ this }} where _batch in (
    select 'commerce:' || order_id from {{ source('raw', 'commerce_orders') }}
    where status not in {{ "('" ~ var('commerce_sold_statuses') | join("', '") ~ "')" }}
)
{% else %}
select 1
{% endif %}
{% endmacro %}
