-- One SELECT without WITH (docs/transformation.md, "Views without WITH").
select
    loan_id,
    cast(default_probability as numeric(9, 6)) as default_probability,
    model_version,
    scored_at
from {{ source('ml', 'loan_default_scores') }}
