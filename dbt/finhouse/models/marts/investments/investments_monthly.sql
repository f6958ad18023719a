{#- docs/metrics.md "Savings, flows and investments" - **Investment book at month-end**: for every
    month up to the as-of month and each product, the investments in the book at the month's end
    (the last day of the month; the as-of date for the as-of month, partially elapsed) valued as
    investments_current values them (simple interest: principal × (1 + annual_rate × days held /
    365), rounded to cents, days held to the period end capped at maturity_date), and the month's
    movements: started, matured (paid out on maturity_date) and withdrawn (on the UTC date of the
    last update, the withdrawal, as investments_current; the OLTP keeps no withdrawal date).

    An investment is in the book at a period end when it started on or before it and has not
    ended by it; an active investment past its maturity is still owed, so still in the book.
    The book rolls forward: principal at the month's end = at the previous month's end +
    started - matured - withdrawn (a data test). Status and product are the current ones
    (restated, not frozen). -#}
with

investments as (
    select * from {{ ref('stg_oltp__investments') }}
),

calendar_days as (
    select * from {{ ref('int_calendar__days') }}
),

investments_started as (
    select
        investment_id,
        investment_product,
        investment_status,
        principal,
        annual_rate,
        start_date,
        maturity_date,
        case
            when investment_status = 'matured' then maturity_date
            when investment_status = 'withdrawn'
                then greatest(start_date, least(cast(updated_at as date), maturity_date))
        end as ended_date
    from investments
    where start_date <= {{ as_of_date() }}
),

-- an end after the as-of date has not happened as of it
investment_ends as (
    select
        *,
        case when ended_date <= {{ as_of_date() }} then ended_date end as end_date
    from investments_started
),

period_ends as (
    select calendar_date as period_end_date
    from calendar_days
    where
        calendar_date >= (
            select min(first_started.start_date) from investment_ends as first_started
        )
        and (
            calendar_date = cast({{ dbt.last_day('calendar_date', 'month') }} as date)
            or calendar_date = {{ as_of_date() }}
        )
),

periods as (
    select
        cast({{ dbt.date_trunc('month', 'period_end_date') }} as date) as month_start,
        period_end_date
    from period_ends
),

products as (
    select distinct investment_product from investment_ends
),

in_book as (
    select
        periods.period_end_date,
        investment_ends.investment_product,
        count(*) as investment_count,
        sum(investment_ends.principal) as principal,
        sum(
            round(
                investment_ends.principal
                + cast(
                    investment_ends.principal
                    * investment_ends.annual_rate
                    * (
                        least(periods.period_end_date, investment_ends.maturity_date)
                        - investment_ends.start_date
                    )
                    as numeric(38, 18)
                )
                / 365,
                2
            )
        ) as accrued_value,
        sum(investment_ends.principal * investment_ends.annual_rate) as principal_times_rate
    from periods
    inner join investment_ends
        on
            periods.period_end_date >= investment_ends.start_date
            and (
                investment_ends.end_date is null
                or periods.period_end_date < investment_ends.end_date
            )
    group by periods.period_end_date, investment_ends.investment_product
),

-- each investment started or ended in a month, with what it did that month
month_movements as (
    select
        periods.period_end_date,
        investment_ends.investment_product,
        investment_ends.principal,
        investment_ends.start_date
        between periods.month_start and periods.period_end_date as is_started,
        investment_ends.investment_status = 'matured'
        and investment_ends.end_date
        between periods.month_start and periods.period_end_date as is_matured,
        investment_ends.investment_status = 'withdrawn'
        and investment_ends.end_date
        between periods.month_start and periods.period_end_date as is_withdrawn
    from periods
    inner join investment_ends
        on
            investment_ends.start_date between periods.month_start and periods.period_end_date
            or investment_ends.end_date between periods.month_start and periods.period_end_date
),

movements as (
    select
        period_end_date,
        investment_product,
        sum(case when is_started then 1 else 0 end) as started_count,
        sum(case when is_started then principal else 0 end) as started_principal,
        sum(case when is_matured then 1 else 0 end) as matured_count,
        sum(case when is_matured then principal else 0 end) as matured_principal,
        sum(case when is_withdrawn then 1 else 0 end) as withdrawn_count,
        sum(case when is_withdrawn then principal else 0 end) as withdrawn_principal
    from month_movements
    group by period_end_date, investment_product
),

per_product_month as (
    select
        products.investment_product
        || '|' || cast(periods.month_start as {{ dbt.type_string() }}) as product_month_key,
        periods.month_start,
        periods.period_end_date,
        periods.period_end_date
        = cast({{ dbt.last_day('periods.period_end_date', 'month') }} as date)
            as is_month_complete,
        cast(products.investment_product as text) as investment_product,
        cast(coalesce(in_book.investment_count, 0) as bigint) as investment_count,
        cast(coalesce(in_book.principal, 0) as numeric(38, 2)) as principal,
        cast(coalesce(in_book.accrued_value, 0) as numeric(38, 2)) as accrued_value,
        cast(coalesce(in_book.accrued_value - in_book.principal, 0) as numeric(38, 2))
            as accrued_return,
        cast(
            case
                when in_book.principal > 0
                    then round(in_book.principal_times_rate / in_book.principal, 6)
            end as numeric(38, 6)
        ) as weighted_annual_rate,
        cast(coalesce(movements.started_count, 0) as bigint) as started_count,
        cast(coalesce(movements.started_principal, 0) as numeric(38, 2)) as started_principal,
        cast(coalesce(movements.matured_count, 0) as bigint) as matured_count,
        cast(coalesce(movements.matured_principal, 0) as numeric(38, 2)) as matured_principal,
        cast(coalesce(movements.withdrawn_count, 0) as bigint) as withdrawn_count,
        cast(coalesce(movements.withdrawn_principal, 0) as numeric(38, 2))
            as withdrawn_principal,
        {{ as_of_date() }} as as_of_date
    from periods
    cross join products
    left join in_book
        on
            periods.period_end_date = in_book.period_end_date
            and products.investment_product = in_book.investment_product
    left join movements
        on
            periods.period_end_date = movements.period_end_date
            and products.investment_product = movements.investment_product
),

final as (
    select
        product_month_key,
        month_start,
        period_end_date,
        is_month_complete,
        investment_product,
        cast(
            coalesce(
                lag(principal) over (partition by investment_product order by month_start), 0
            ) as numeric(38, 2)
        ) as opening_principal,
        started_count,
        started_principal,
        matured_count,
        matured_principal,
        withdrawn_count,
        withdrawn_principal,
        investment_count,
        principal,
        accrued_value,
        accrued_return,
        weighted_annual_rate,
        as_of_date
    from per_product_month
)

select * from final
