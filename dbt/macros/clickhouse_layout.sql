{#
  How a big mart is laid out on ClickHouse, from one model config (DuckDB gets its materialization only):
    {{ config(**clickhouse_layout(order_by=['sale_date', 'store_id'], partition_by='toYYYYMM(sale_date)',
                                  sharding_key='cityHash64(sku)')) }}
  - order_by: the MergeTree sort key, led by the column the dashboards and models filter on;
  - partition_by: by month of the mart's date, so a period's query reads its months only;
  - sharding_key: with a cluster name in CLICKHOUSE_URL the mart is Distributed over ReplicatedMergeTree
    shards split by this key (dbt-clickhouse's distributed_table, or distributed_incremental for an
    incremental mart), else one table.
  Key columns may be Nullable (the contracts declare NOT NULL only where a test proves it), hence
  allow_nullable_key. A mart without this config is small: on a cluster every node holds it whole
  (ReplicatedMergeTree, dbt_project.yml).
#}
{% macro clickhouse_layout(order_by, partition_by=none, sharding_key=none, materialized='table') -%}
  {%- set layout = {'materialized': materialized} -%}
  {%- if target.type != 'clickhouse' -%}
    {{ return(layout) }}
  {%- endif -%}
  {%- do layout.update({'order_by': order_by, 'settings': {'allow_nullable_key': 1}}) -%}
  {%- if partition_by -%}
    {%- do layout.update({'partition_by': partition_by}) -%}
  {%- endif -%}
  {%- if target.get('cluster') and sharding_key -%}
    {%- do layout.update({'materialized': 'distributed_' ~ materialized, 'sharding_key': sharding_key}) -%}
  {%- endif -%}
  {{ return(layout) }}
{%- endmacro %}
