select source_table, _batch, _source_file as source_file, source_row, rule, reason, record, _ingested_at
from {{ source('raw', 'quarantine') }}
