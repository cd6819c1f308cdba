{{ config(meta={'dagster': {'ref': {'name': 'stg_quarantine'}}}) }}
-- Every landed record was either accepted or quarantined; the counts agree with the tables.
with log as (
    select source_table, sum(accepted) as accepted, sum(quarantined) as quarantined, sum(rows_in) as rows_in
    from {{ source('raw', 'ingest_log') }} group by 1
),
q as (select source_table, count(*) as n from {{ source('raw', 'quarantine') }} group by 1)
select log.* from log left join q using (source_table)
where log.rows_in <> log.accepted + log.quarantined or coalesce(q.n, 0) <> log.quarantined
