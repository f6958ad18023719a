{#- The principal parts of every schedule sum exactly to the loan's principal. -#}
with

schedule_totals as (
    select
        loan_id,
        sum(principal_due) as scheduled_principal
    from {{ ref('int_loans__schedule') }}
    group by loan_id
)

select
    schedule_totals.loan_id,
    schedule_totals.scheduled_principal,
    loans.principal
from schedule_totals
inner join {{ ref('stg_oltp__loans') }} as loans on schedule_totals.loan_id = loans.loan_id
where schedule_totals.scheduled_principal <> loans.principal
