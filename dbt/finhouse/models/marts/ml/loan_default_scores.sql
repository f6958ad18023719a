{#- docs/ml.md "Scores and expected loss": every active loan (outstanding principal > 0 in
    loans_current) the serving default model scored in its latest run, with its risk band (seed
    ml_risk_bands) and expected loss = probability of default x outstanding principal, rounded
    to cents, and the 5-point step of PD it falls in (the score's distribution). A view: it
    shows a scoring run as soon as it is written. -#}
{{ config(materialized='view') }}

with

scores as (
    select * from {{ ref('stg_ml__loan_default_scores') }}
),

loans_current as (
    select * from {{ ref('loans_current') }}
),

bands as (
    select * from {{ ref('ml_risk_bands') }}
),

final as (
    select
        scores.loan_id,
        loans_current.branch_code,
        loans_current.product,
        loans_current.loan_officer_id,
        loans_current.outstanding_principal,
        loans_current.days_past_due,
        loans_current.dpd_bucket,
        scores.default_probability,
        -- the score's distribution: the 5-point step of PD the loan is in, by its start (0, 5..95)
        cast(
            least(floor(scores.default_probability * 20), 19) * 5 as integer
        ) as default_probability_step,
        bands.risk_band,
        bands.band_order as risk_band_order,
        cast(
            round(scores.default_probability * loans_current.outstanding_principal, 2)
            as numeric(18, 2)
        ) as expected_loss,
        scores.model_version,
        scores.scored_at,
        loans_current.as_of_date
    from scores
    inner join loans_current on scores.loan_id = loans_current.loan_id
    left join bands
        on
            scores.default_probability >= bands.min_probability
            and scores.default_probability < bands.max_probability
    where loans_current.outstanding_principal > 0
)

select * from final
