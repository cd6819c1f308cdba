-- Written by the Python model (pipelines/); published here under its contract (the .yml beside this file).
select * from {{ source('model_outputs', 'similar_items') }}
