-- One SELECT without WITH (docs/transformation.md, "Views without WITH").
select
    model_version,
    feature,
    cast(importance as numeric(9, 6)) as importance,
    rank as importance_rank
from {{ source('ml', 'feature_importance') }}
