{#- The sums behind marts.portfolio_daily (docs/interfaces.md §5): per date x segment (the
    borrower's current branch, product, loan officer), for every date from the segment's first
    disbursement to the as-of date, the loans' daily figures added up: active loans and borrowers,
    GLP (outstanding principal), PAR1/30/60/90 amounts and outstanding principal per DPD bucket.
    Each loan-day's figures are defined once, in int_loans__delinquency (docs/metrics.md
    "Delinquency and portfolio quality"); this model only sums them.

    Incremental, restated by segment: a run recomputes every date of each segment holding a loan
    whose daily delinquency was restated since the last run (its source_changed_at: the RAW change
    time it reflects, so this model follows what the delinquency model holds even when run on its
    own) and of each segment whose membership changed (a loan moved to another officer, a borrower
    to another branch: caught by the segment's loan count and loan id checksum), and appends the new
    days of every segment when the as-of date moves. Dates no longer in a segment's span, and
    segments left empty, are removed afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key=['branch_code', 'product', 'loan_officer_id', 'as_of_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {
                'columns': ['branch_code', 'product', 'loan_officer_id', 'as_of_date'],
                'unique': True,
            },
        ],
        post_hook=[
            "{% if is_incremental() %}{{ remove_segment_days_out_of_span() }}
             {% else %}select 1{% endif %}",
            "{{ key_statistics(['branch_code', 'product', 'loan_officer_id', 'as_of_date']) }}",
        ],
    )
}}

-- (its incremental run reads the loans' change times)
-- depends_on: {{ ref('int_loans__source_changes') }}
with

daily as (
    select * from {{ ref('int_loans__daily_delinquency') }}
),

loans as (
    select * from {{ ref('stg_oltp__loans') }}
),

users as (
    select * from {{ ref('stg_oltp__users') }}
),

calendar as (
    select * from {{ ref('int_calendar__days') }}
),

loan_dimensions as (
    select
        loans.loan_id,
        loans.borrower_id,
        loans.loan_officer_id,
        loans.product,
        loans.principal,
        users.branch_code,
        cast(loans.disbursed_at as date) as disbursed_date
    from loans
    left join users on loans.borrower_id = users.user_id
    where loans.disbursed_at is not null and cast(loans.disbursed_at as date) <= {{ as_of_date() }}
),

segments as (
    select
        branch_code,
        product,
        loan_officer_id,
        min(disbursed_date) as first_disbursed_date,
        count(*) as segment_loans,
        sum(loan_id) as segment_loan_checksum
    from loan_dimensions
    group by branch_code, product, loan_officer_id
),

-- straight from the model (its source_changed_at index), not through the `daily` CTE, which
-- PostgreSQL would then materialize whole
source_watermark as (
    select max(source_changed_at) as source_changed_at
    from {{ ref('int_loans__daily_delinquency') }}
),

{% if is_incremental() %}
    computed_segments as {{ materialized_cte() }} (
        select
            branch_code,
            product,
            loan_officer_id,
            max(segment_loans) as segment_loans,
            max(segment_loan_checksum) as segment_loan_checksum,
            max(source_changed_at) as source_changed_at,
            max(as_of_date) as last_day
        from {{ this }}
        group by branch_code, product, loan_officer_id
    ),

    computed as (
        select
            max(source_changed_at) as source_changed_at,
            max(last_day) as last_day
        from computed_segments
    ),

    -- the loans restated since, and those whose rows left the delinquency model since
    -- (their window emptied: closed on the day they were disbursed), by their change time
    restated_loans as (
        select restated.loan_id
        from {{ ref('int_loans__daily_delinquency') }} as restated
        cross join computed
        where restated.source_changed_at > computed.source_changed_at
        union
        select emptied.loan_id
        from {{ ref('int_loans__source_changes') }} as emptied
        cross join computed
        where
            emptied.changed_at > computed.source_changed_at
            and {{ in_small_set('emptied.loan_id', loans_with_empty_windows()) }}
    ),

    segments_with_changed_loans as (
        select distinct
            loan_dimensions.branch_code,
            loan_dimensions.product,
            loan_dimensions.loan_officer_id
        from loan_dimensions
        inner join restated_loans on loan_dimensions.loan_id = restated_loans.loan_id
    ),

    segments_to_compute as {{ materialized_cte() }} (
        select
            segments.*,
            case
                when
                    computed_segments.branch_code is null
                    or computed_segments.segment_loans <> segments.segment_loans
                    or computed_segments.segment_loan_checksum <> segments.segment_loan_checksum
                    or segments_with_changed_loans.branch_code is not null
                    then segments.first_disbursed_date
                else cast({{ dbt.dateadd('day', 1, 'computed.last_day') }} as date)
            end as from_date
        from segments
        cross join computed
        left join computed_segments
            on
                segments.branch_code = computed_segments.branch_code
                and segments.product = computed_segments.product
                and segments.loan_officer_id = computed_segments.loan_officer_id
        left join segments_with_changed_loans
            on
                segments.branch_code = segments_with_changed_loans.branch_code
                and segments.product = segments_with_changed_loans.product
                and segments.loan_officer_id = segments_with_changed_loans.loan_officer_id
    ),
{% else %}
    segments_to_compute as (
        select
            segments.*,
            segments.first_disbursed_date as from_date
        from segments
    ),
{% endif %}

spine as (
    select
        calendar.calendar_date as as_of_date,
        segments_to_compute.branch_code,
        segments_to_compute.product,
        segments_to_compute.loan_officer_id,
        segments_to_compute.segment_loans,
        segments_to_compute.segment_loan_checksum
    from segments_to_compute
    inner join calendar
        on
            segments_to_compute.from_date <= calendar.calendar_date
            and calendar.calendar_date <= {{ as_of_date() }}
    -- (segments with nothing to compute leave before the join with the calendar)
    where segments_to_compute.from_date <= {{ as_of_date() }}
),

loans_to_compute as (
    select
        loan_dimensions.*,
        segments_to_compute.from_date
    from loan_dimensions
    inner join segments_to_compute
        on
            loan_dimensions.branch_code = segments_to_compute.branch_code
            and loan_dimensions.product = segments_to_compute.product
            and loan_dimensions.loan_officer_id = segments_to_compute.loan_officer_id
    where segments_to_compute.from_date <= {{ as_of_date() }}
),

quality as (
    select
        daily.as_of_date,
        loans_to_compute.branch_code,
        loans_to_compute.product,
        loans_to_compute.loan_officer_id,
        count(case when daily.is_active then 1 end) as active_loans,
        count(distinct case when daily.is_active then loans_to_compute.borrower_id end)
            as active_borrowers,
        sum(daily.outstanding_principal) as gross_loan_portfolio,
        sum(daily.par1_amount) as par1_amount,
        sum(daily.par30_amount) as par30_amount,
        sum(daily.par60_amount) as par60_amount,
        sum(daily.par90_amount) as par90_amount,
        sum(case when daily.dpd_bucket = 'current' then daily.outstanding_principal else 0 end)
            as current_amount,
        sum(case when daily.dpd_bucket = '1-30' then daily.outstanding_principal else 0 end)
            as dpd_1_30_amount,
        sum(case when daily.dpd_bucket = '31-60' then daily.outstanding_principal else 0 end)
            as dpd_31_60_amount,
        sum(case when daily.dpd_bucket = '61-90' then daily.outstanding_principal else 0 end)
            as dpd_61_90_amount,
        sum(case when daily.dpd_bucket = '91-180' then daily.outstanding_principal else 0 end)
            as dpd_91_180_amount,
        sum(case when daily.dpd_bucket = '181+' then daily.outstanding_principal else 0 end)
            as dpd_181_plus_amount
    from daily
    inner join loans_to_compute on daily.loan_id = loans_to_compute.loan_id
    where daily.as_of_date >= loans_to_compute.from_date and daily.as_of_date <= {{ as_of_date() }}
    group by
        daily.as_of_date,
        loans_to_compute.branch_code,
        loans_to_compute.product,
        loans_to_compute.loan_officer_id
),

disbursements as (
    select
        disbursed_date as as_of_date,
        branch_code,
        product,
        loan_officer_id,
        count(*) as loans_disbursed,
        sum(principal) as disbursed_amount
    from loans_to_compute
    where disbursed_date >= from_date
    group by disbursed_date, branch_code, product, loan_officer_id
),

final as (
    select
        spine.as_of_date,
        spine.branch_code,
        spine.product,
        spine.loan_officer_id,
        cast(coalesce(quality.active_loans, 0) as bigint) as active_loans,
        cast(coalesce(quality.active_borrowers, 0) as bigint) as active_borrowers,
        cast(coalesce(quality.gross_loan_portfolio, 0) as numeric(18, 2)) as gross_loan_portfolio,
        cast(coalesce(quality.par1_amount, 0) as numeric(18, 2)) as par1_amount,
        cast(coalesce(quality.par30_amount, 0) as numeric(18, 2)) as par30_amount,
        cast(coalesce(quality.par60_amount, 0) as numeric(18, 2)) as par60_amount,
        cast(coalesce(quality.par90_amount, 0) as numeric(18, 2)) as par90_amount,
        cast(coalesce(quality.current_amount, 0) as numeric(18, 2)) as current_amount,
        cast(coalesce(quality.dpd_1_30_amount, 0) as numeric(18, 2)) as dpd_1_30_amount,
        cast(coalesce(quality.dpd_31_60_amount, 0) as numeric(18, 2)) as dpd_31_60_amount,
        cast(coalesce(quality.dpd_61_90_amount, 0) as numeric(18, 2)) as dpd_61_90_amount,
        cast(coalesce(quality.dpd_91_180_amount, 0) as numeric(18, 2)) as dpd_91_180_amount,
        cast(coalesce(quality.dpd_181_plus_amount, 0) as numeric(18, 2)) as dpd_181_plus_amount,
        cast(coalesce(disbursements.loans_disbursed, 0) as bigint) as loans_disbursed,
        cast(coalesce(disbursements.disbursed_amount, 0) as numeric(18, 2)) as disbursed_amount,
        cast(spine.segment_loans as bigint) as segment_loans,
        cast(spine.segment_loan_checksum as bigint) as segment_loan_checksum,
        source_watermark.source_changed_at
    from spine
    cross join source_watermark
    left join quality
        on
            spine.as_of_date = quality.as_of_date
            and spine.branch_code = quality.branch_code
            and spine.product = quality.product
            and spine.loan_officer_id = quality.loan_officer_id
    left join disbursements
        on
            spine.as_of_date = disbursements.as_of_date
            and spine.branch_code = disbursements.branch_code
            and spine.product = disbursements.product
            and spine.loan_officer_id = disbursements.loan_officer_id
)

select * from final
