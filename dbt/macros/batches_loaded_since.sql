{#- Feed days (``_batch``) of a raw table loaded since this incremental model last ran: the
    model deletes and re-inserts exactly those days, so a re-ingested day replaces itself. -#}
{% macro batches_loaded_since(source_table) %}
_batch in (
    select _batch from {{ source('raw', 'ingest_log') }}
    where source_table = '{{ source_table }}'
      and _ingested_at > (select coalesce(max(_ingested_at), timestamp '1900-01-01') from {{ this }})
)
{% endmacro %}
