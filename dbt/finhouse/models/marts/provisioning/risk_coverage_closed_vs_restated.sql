{#- docs/operations.md "Month-end closes" - per month x branch, the month-end risk figures as
    closed (the month's latest close, closes.risk_coverage_as_closed) beside the same figures as
    restated today (risk_coverage_monthly): GLP, PAR30, loan-loss reserve, risk coverage ratio
    and write-offs. Every month and branch of risk_coverage_monthly; the closed figures are null
    for months not closed (and everywhere before the first close). A view: a new close shows at
    once (the first one after the next build, which finds the closes schema). -#}
{{ config(materialized='view') }}

{%- set closed_relation = closes_relation('risk_coverage_as_closed') %}

with

restated as (
    select * from {{ ref('risk_coverage_monthly') }}
),

closed as (
    {%- if closed_relation is not none %}
        select
            close_id,
            month_start,
            branch_code,
            gross_loan_portfolio,
            par30_amount,
            loan_loss_reserve,
            risk_coverage_ratio,
            written_off_amount
        from {{ closed_relation }}
    {%- else %}
        -- no close yet: no row (the columns typed as the closes' are)
        select
            cast(null as text) as close_id,
            cast(null as date) as month_start,
            cast(null as text) as branch_code,
            cast(null as numeric(18, 2)) as gross_loan_portfolio,
            cast(null as numeric(18, 2)) as par30_amount,
            cast(null as numeric(18, 2)) as loan_loss_reserve,
            cast(null as numeric(38, 10)) as risk_coverage_ratio,
            cast(null as numeric(18, 2)) as written_off_amount
        where false
    {%- endif %}
),

final as (
    select
        restated.month_start,
        restated.branch_code,
        restated.is_month_complete,
        closed.close_id,
        closed.gross_loan_portfolio as gross_loan_portfolio_as_closed,
        restated.gross_loan_portfolio as gross_loan_portfolio_as_restated,
        closed.par30_amount as par30_amount_as_closed,
        restated.par30_amount as par30_amount_as_restated,
        closed.loan_loss_reserve as loan_loss_reserve_as_closed,
        restated.loan_loss_reserve as loan_loss_reserve_as_restated,
        closed.risk_coverage_ratio as risk_coverage_ratio_as_closed,
        restated.risk_coverage_ratio as risk_coverage_ratio_as_restated,
        closed.written_off_amount as written_off_amount_as_closed,
        restated.written_off_amount as written_off_amount_as_restated,
        restated.as_of_date
    from restated
    left join closed
        on
            restated.month_start = closed.month_start
            and restated.branch_code = closed.branch_code
)

select * from final
