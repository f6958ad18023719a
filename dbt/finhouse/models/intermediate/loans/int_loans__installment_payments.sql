{#- docs/metrics.md "Collections and income" - **On-time collection rate**: per scheduled
    installment, how much of its principal + interest was covered by completed payments, settling
    installments oldest first.

    Each completed payment's principal_paid + interest_paid (penalties excluded) is applied
    in paid_at order (payment_id breaks ties) to the installments in order of
    cumulative_total_due: installment k is covered by the part of the running paid total
    that lies between cumulative_total_due - total_due and cumulative_total_due. Reversed and
    pending payments never count; only payments paid (UTC date) on or before the as-of date
    count at all.
    - paid_on_time: covered by payments paid on or before the installment's due date;
    - paid_total_by_as_of: covered by payments paid on or before the as-of date;
    - fully_paid_date: the payment date at which the running total first reaches
      cumulative_total_due (null while not fully paid by the as-of date).

    Incremental: a loan is recomputed when its terms or payments changed in RAW since it was
    last computed (int_loans__source_changes, however old the change), when it is disbursed
    and was not computed yet, or when the as-of date moved past one of its payments; loans
    that left the schedule are removed afterwards. -#}
{{
    config(
        materialized='incremental',
        unique_key='loan_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[{'columns': ['loan_id', 'installment_no'], 'unique': True}],
        post_hook=[
            "{% if is_incremental() %}delete from {{ this }} where loan_id not in
             (select loan_id from {{ ref('int_loans__schedule') }})
             {% else %}select 1{% endif %}",
        ],
    )
}}

with

all_schedules as (
    select * from {{ ref('int_loans__schedule') }}
),

-- (read for the loans to compute only: never materialized whole)
payments as {{ inlined_cte() }} (
    select * from {{ ref('stg_oltp__payments') }}
),

changes as (
    select * from {{ ref('int_loans__source_changes') }}
),

{% if is_incremental() %}
    computed as (
        select
            loan_id,
            max(source_changed_at) as source_changed_at,
            max(computed_as_of) as computed_as_of
        from {{ this }}
        group by loan_id
    ),

    -- loans computed as of another date with a payment after the earlier of the two dates
    -- (one join, and none at all while every loan was computed as of this date)
    as_of_moved_loans as (
        select distinct computed.loan_id
        from computed
        inner join payments on computed.loan_id = payments.loan_id
        where
            exists (
                select 1
                from computed as any_computed
                where any_computed.computed_as_of <> {{ as_of_date() }}
            )
            and computed.computed_as_of <> {{ as_of_date() }}
            and cast(payments.paid_at as date)
            > least(computed.computed_as_of, {{ as_of_date() }})
    ),

    loans_to_compute as {{ materialized_cte() }} (
        select
            changes.loan_id,
            changes.changed_at as source_changed_at
        from changes
        left join computed on changes.loan_id = computed.loan_id
        where
            -- (only disbursed loans are scheduled)
            (computed.loan_id is null and changes.is_disbursed)
            or changes.changed_at > computed.source_changed_at
            or changes.loan_id in (select as_of_moved_loans.loan_id from as_of_moved_loans)
    ),
{% else %}
    loans_to_compute as (
        select
            loan_id,
            changed_at as source_changed_at
        from changes
    ),
{% endif %}

schedule as (
    select
        all_schedules.loan_id,
        all_schedules.installment_no,
        all_schedules.due_date,
        all_schedules.principal_due,
        all_schedules.interest_due,
        all_schedules.total_due,
        all_schedules.cumulative_total_due,
        loans_to_compute.source_changed_at
    from all_schedules
    inner join loans_to_compute on all_schedules.loan_id = loans_to_compute.loan_id
),

counted_payments as (
    select
        payments.payment_id,
        payments.loan_id,
        payments.paid_at,
        cast(payments.paid_at as date) as paid_date,
        payments.principal_paid + payments.interest_paid as amount_applied
    from payments
    inner join loans_to_compute on payments.loan_id = loans_to_compute.loan_id
    where
        payments.payment_status = 'completed'
        and payments.paid_at is not null
        and cast(payments.paid_at as date) <= {{ as_of_date() }}
),

payments_running_total as (
    select
        loan_id,
        paid_date,
        sum(amount_applied) over (
            partition by loan_id
            order by paid_at, payment_id
            rows unbounded preceding
        ) as running_amount_paid
    from counted_payments
),

paid_on_or_before_due_date as (
    select
        schedule.loan_id,
        schedule.installment_no,
        sum(counted_payments.amount_applied) as amount_paid_by_due_date
    from schedule
    inner join counted_payments
        on
            schedule.loan_id = counted_payments.loan_id
            and schedule.due_date >= counted_payments.paid_date
    group by schedule.loan_id, schedule.installment_no
),

paid_by_as_of as (
    select
        loan_id,
        sum(amount_applied) as amount_paid_by_as_of
    from counted_payments
    group by loan_id
),

fully_paid as (
    select
        schedule.loan_id,
        schedule.installment_no,
        min(payments_running_total.paid_date) as fully_paid_date
    from schedule
    inner join payments_running_total
        on
            schedule.loan_id = payments_running_total.loan_id
            and schedule.cumulative_total_due <= payments_running_total.running_amount_paid
    group by schedule.loan_id, schedule.installment_no
),

installment_coverage as (
    select
        schedule.loan_id,
        schedule.installment_no,
        schedule.due_date,
        schedule.principal_due,
        schedule.interest_due,
        schedule.total_due,
        schedule.source_changed_at,
        fully_paid.fully_paid_date,
        schedule.cumulative_total_due - schedule.total_due as total_due_before,
        coalesce(paid_on_or_before_due_date.amount_paid_by_due_date, 0)
            as amount_paid_by_due_date,
        coalesce(paid_by_as_of.amount_paid_by_as_of, 0) as amount_paid_by_as_of
    from schedule
    left join paid_on_or_before_due_date
        on
            schedule.loan_id = paid_on_or_before_due_date.loan_id
            and schedule.installment_no = paid_on_or_before_due_date.installment_no
    left join paid_by_as_of
        on schedule.loan_id = paid_by_as_of.loan_id
    left join fully_paid
        on
            schedule.loan_id = fully_paid.loan_id
            and schedule.installment_no = fully_paid.installment_no
),

final as (
    select
        loan_id,
        installment_no,
        due_date,
        cast(principal_due as numeric(18, 2)) as principal_due,
        cast(interest_due as numeric(18, 2)) as interest_due,
        cast(total_due as numeric(18, 2)) as total_due,
        cast(
            case
                when amount_paid_by_due_date <= total_due_before then 0
                when amount_paid_by_due_date >= total_due_before + total_due then total_due
                else amount_paid_by_due_date - total_due_before
            end as numeric(18, 2)
        ) as paid_on_time,
        cast(
            case
                when amount_paid_by_as_of <= total_due_before then 0
                when amount_paid_by_as_of >= total_due_before + total_due then total_due
                else amount_paid_by_as_of - total_due_before
            end as numeric(18, 2)
        ) as paid_total_by_as_of,
        fully_paid_date,
        source_changed_at,
        {{ as_of_date() }} as computed_as_of
    from installment_coverage
)

select * from final
