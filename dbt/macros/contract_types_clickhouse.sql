{#- Enforced contracts on ClickHouse. The .yml files declare each column's type once, in the portable
    SQL spelling DuckDB uses (varchar, double, bigint, varchar[], ...); dbt-clickhouse compares and
    creates types by their literal ClickHouse names. These two macros put the declared type through
    `clickhouse_type` so the same contract is enforced on both engines: names, count and types must
    match, columns are Nullable (a contract declares no not-null constraint), array elements are not.
    pipelines/clickhouse.py CONTRACT_TYPES is the same table for the model outputs it writes. -#}

{#- dbt-clickhouse hands some declared types over already translated (integer -> Int32, timestamp ->
    DateTime): those names are in the table too. -#}
{% macro clickhouse_type(declared, nullable=true) -%}
    {%- set t = declared | trim | lower -%}
    {%- if t.endswith('[]') -%}
        Array({{ clickhouse_type(t[:-2], false) }})
    {%- else -%}
        {%- set names = {'varchar': 'String', 'text': 'String', 'double': 'Float64', 'float': 'Float32',
                         'integer': 'Int32', 'int': 'Int32', 'bigint': 'Int64', 'smallint': 'Int16',
                         'tinyint': 'Int8', 'uinteger': 'UInt32', 'ubigint': 'UInt64', 'boolean': 'Bool',
                         'date': 'Date32', 'timestamp': 'DateTime64(6)',
                         'string': 'String', 'float64': 'Float64', 'int32': 'Int32', 'int64': 'Int64',
                         'int8': 'Int8', 'uint32': 'UInt32', 'bool': 'Bool', 'datetime': 'DateTime64(6)'} -%}
        {%- if t in names -%}
            {{ 'Nullable(' ~ names[t] ~ ')' if nullable else names[t] }}
        {%- else -%}
            {{ exceptions.raise_compiler_error("no ClickHouse type for the contract type '" ~ declared ~ "'") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro clickhouse__get_assert_columns_equivalent(sql) -%}
    {%- set declared = model['columns'].values() | list -%}
    {%- set built = adapter.format_columns(adapter.get_column_schema_from_query(sql)) -%}
    {%- set ns = namespace(ok=(declared | length) == (built | length) and (declared | length) > 0) -%}
    {%- for column in built -%}
        {%- set match = declared | selectattr('name', 'equalto', column['name']) | list -%}
        {%- if not match or clickhouse_type(match[0]['data_type']) | trim != column['data_type'] -%}
            {%- set ns.ok = false -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not ns.ok -%}
        {%- do exceptions.raise_contract_error(declared, built) -%}
    {%- endif -%}
{%- endmacro %}

{% macro clickhouse__get_table_columns_and_constraints() -%}
    ({%- for column in model['columns'].values() -%}
        {{ adapter.quote(column['name']) }} {{ clickhouse_type(column['data_type']) }}{{ ", " if not loop.last }}
    {%- endfor -%})
{%- endmacro %}
