-- One SELECT without WITH (docs/transformation.md, "Views without WITH").
select
    model_version,
    model,
    bin,
    loans,
    cast(mean_predicted as numeric(9, 6)) as mean_predicted,
    cast(observed_rate as numeric(9, 6)) as observed_rate
from {{ source('ml', 'model_calibration') }}
