{# Generic test: every non-null value of the column is one of ``values`` (strings, quotes escaped,
   unlike accepted_values: an RFM segment is called "Can't Lose Them"). #}
{% test one_of(model, column_name, values) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null
  and {{ column_name }} not in (
    {%- for v in values %}'{{ v | replace("'", "''") }}'{{ "," if not loop.last }}{% endfor -%}
  )
{% endtest %}
