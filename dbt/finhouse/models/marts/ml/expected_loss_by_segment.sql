{#- docs/ml.md "Scores and expected loss": expected loss (sum over the active loans scored of
    PD x outstanding principal) by branch, product and loan officer, beside the outstanding
    principal, the expected-loss rate (expected loss / outstanding) and the mean PD. A view
    over loan_default_scores. -#}
{{ config(materialized='view') }}

with

scores as (
    select * from {{ ref('loan_default_scores') }}
),

segments as (
    select
        'branch' as segment_type,
        coalesce(branch_code, 'unknown') as segment,
        outstanding_principal,
        expected_loss,
        default_probability
    from scores
    union all
    select
        'product' as segment_type,
        product as segment,
        outstanding_principal,
        expected_loss,
        default_probability
    from scores
    union all
    select
        'loan_officer' as segment_type,
        cast(loan_officer_id as {{ dbt.type_string() }}) as segment,
        outstanding_principal,
        expected_loss,
        default_probability
    from scores
),

per_segment as (
    select
        segment_type,
        segment,
        count(*) as loans,
        sum(outstanding_principal) as outstanding_principal,
        sum(expected_loss) as expected_loss,
        avg(default_probability) as mean_default_probability
    from segments
    group by segment_type, segment
),

final as (
    select
        segment_type,
        segment,
        cast(loans as bigint) as loans,
        cast(outstanding_principal as numeric(18, 2)) as outstanding_principal,
        cast(expected_loss as numeric(18, 2)) as expected_loss,
        cast(
            case
                when outstanding_principal > 0 then expected_loss / outstanding_principal
            end as numeric(9, 6)
        ) as expected_loss_rate,
        cast(mean_default_probability as numeric(9, 6)) as mean_default_probability,
        segment_type || '|' || segment as segment_key
    from per_segment
)

select * from final
