-- The default model's risk bands (seed ml_risk_bands) cover [0, 1] without gap or overlap:
-- the first starts at 0, each next one where the one before it stops, the last stops above 1.
with

bands as (
    select
        risk_band,
        min_probability,
        max_probability,
        lag(max_probability) over (order by band_order) as previous_max,
        row_number() over (order by band_order) as band_number,
        count(*) over () as bands
    from {{ ref('ml_risk_bands') }}
)

select risk_band
from bands
where
    min_probability >= max_probability
    or (band_number = 1 and min_probability <> 0)
    or (band_number > 1 and min_probability <> previous_max)
    or (band_number = bands and max_probability <= 1)
