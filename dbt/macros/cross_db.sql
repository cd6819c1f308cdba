{#- SQL that differs between the engines (DuckDB, ClickHouse), dispatched on the adapter: every model
    is one file for both. dbt's own cross-database macros (dbt.datediff, dbt.dateadd, dbt.cast, ...)
    come first; these are what they do not cover. -#}

{#- One row per day from start_date to end_date (dates, both included): an expression for a select
    list, which repeats its row once per day; empty when end_date is before start_date. -#}
{% macro day_series(start_date, end_date) %}
    {{- return(adapter.dispatch('day_series')(start_date, end_date)) -}}
{% endmacro %}

{% macro default__day_series(start_date, end_date) -%}
    unnest(generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day))
{%- endmacro %}

{% macro clickhouse__day_series(start_date, end_date) -%}
    arrayJoin(arrayMap(i -> addDays(toDate32({{ start_date }}), i), range(toUInt32(greatest(
        dateDiff('day', toDate32({{ start_date }}), toDate32({{ end_date }})) + 1, 0)))))
{%- endmacro %}

{#- The value of the first row in the order given (a comma list of columns), NULL included: DuckDB's
    first(value order by ...). -#}
{% macro first_by(value, order_by) %}
    {{- return(adapter.dispatch('first_by')(value, order_by)) -}}
{% endmacro %}

{% macro default__first_by(value, order_by) -%}
    first({{ value }} order by {{ order_by }})
{%- endmacro %}

{% macro clickhouse__first_by(value, order_by) -%}
    {#- a tuple is never NULL, so a NULL value is still picked (argMin alone skips NULLs) -#}
    argMin(tuple({{ value }}), tuple({{ order_by }})).1
{%- endmacro %}

{#- value at the row where `by` is largest -#}
{% macro arg_max(value, by) %}{{ return(adapter.dispatch('arg_max')(value, by)) }}{% endmacro %}
{% macro default__arg_max(value, by) %}arg_max({{ value }}, {{ by }}){% endmacro %}
{% macro clickhouse__arg_max(value, by) %}argMax({{ value }}, {{ by }}){% endmacro %}

{#- true when the condition holds for any row -#}
{% macro bool_or(condition) %}{{ return(adapter.dispatch('bool_or')(condition)) }}{% endmacro %}
{% macro default__bool_or(condition) %}bool_or({{ condition }}){% endmacro %}
{% macro clickhouse__bool_or(condition) %}max(toBool({{ condition }})){% endmacro %}

{#- the exact median, halfway between the two middle values of an even count (ClickHouse's median
    is a sampled estimate) -#}
{% macro median(value) %}{{ return(adapter.dispatch('median')(value)) }}{% endmacro %}
{% macro default__median(value) %}median({{ value }}){% endmacro %}
{% macro clickhouse__median(value) %}quantileExactInclusive(0.5)({{ value }}){% endmacro %}

{#- every column of `relation` but those listed: `t.* exclude (...)` -#}
{% macro star_except(relation, columns) %}{{ return(adapter.dispatch('star_except')(relation, columns)) }}{% endmacro %}
{% macro default__star_except(relation, columns) %}{{ relation }}.* exclude ({{ columns | join(', ') }}){% endmacro %}
{% macro clickhouse__star_except(relation, columns) %}{{ relation }}.* except ({{ columns | join(', ') }}){% endmacro %}

{#- the most frequent value (ties: either engine picks one); ClickHouse's topK is exact while a
    group has fewer distinct values than its table size (channels, a handful) -#}
{% macro mode(value) %}{{ return(adapter.dispatch('mode')(value)) }}{% endmacro %}
{% macro default__mode(value) %}mode({{ value }}){% endmacro %}
{% macro clickhouse__mode(value) %}topK(1)({{ value }})[1]{% endmacro %}

{#- Not macros, but the rules the models keep for ClickHouse: a boolean column is cast(... as boolean)
    (a comparison is UInt8 there); a column selected as alias.column where the other side of a join has
    the same name is named again (alias.column as column: ClickHouse would keep the prefix); the same
    columns in the same order in a union (no `union by name`). The profile's settings (dbt/profiles.yml)
    give ClickHouse standard SQL's NULLs in outer joins, casts and aggregates over nothing. -#}

{#- An amount of money as an exact decimal, rounded half away from zero to the nearest millionth.
    Through a decimal of ten places first: DuckDB's cast of a double rounds where ClickHouse's truncates
    (3 x 21.33 would be 63.989999 there), and ClickHouse rounds a double's ties to even but a decimal's
    away from zero, as DuckDB does. -#}
{% macro money(amount) -%}
    cast(round(cast({{ amount }} as decimal(38, 10)), 6) as decimal(38, 6))
{%- endmacro %}
