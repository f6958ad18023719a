-- One SELECT without WITH (docs/transformation.md, "Views without WITH").
select
    feature,
    cast(psi as numeric(12, 6)) as psi,
    verdict,
    model_version,
    computed_at
from {{ source('ml', 'feature_drift') }}
