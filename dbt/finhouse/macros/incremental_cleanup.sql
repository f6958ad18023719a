{#- Post-hook of the incremental int_accounts__daily_balances: days before an account's
    (possibly later, after a deletion) first ledger day, and accounts whose every ledger row
    was deleted, leave the model. The ledger is append-only, so only an account with a
    deleted ledger row in RAW can be in either case: both deletes look at those accounts only
    and find their rows through the model's (account_id, balance_date) index. One statement
    each (Snowflake runs one per call). -#}
{% macro accounts_with_deleted_ledger_rows() -%}
    select account_id
    from {{ ref('stg_oltp__transactions_versions') }}
    where {{ raw_deleted() }}
{%- endmacro %}

{% macro remove_balances_before_first_ledger_day() -%}
    delete from {{ this }}
    using (
        select
            account_id,
            min(cast(occurred_at as date)) as first_day
        from {{ ref('stg_oltp__transactions') }}
        where account_id in ({{ accounts_with_deleted_ledger_rows() }})
        group by account_id
    ) as first_days
    where
        {{ this }}.account_id = first_days.account_id
        and {{ this }}.balance_date < first_days.first_day
{%- endmacro %}

{% macro remove_balances_of_accounts_without_ledger() -%}
    delete from {{ this }}
    where account_id in (
        {{ accounts_with_deleted_ledger_rows() }}
        except
        select account_id from {{ ref('stg_oltp__transactions') }}
        where account_id in ({{ accounts_with_deleted_ledger_rows() }})
    )
{%- endmacro %}

{#- Post-hook of the incremental int_portfolio__segment_days: days before a segment's first
    disbursement, after the as-of date, or of segments left without loans leave the model. -#}
{% macro remove_segment_days_out_of_span() -%}
    {{ return(adapter.dispatch('remove_segment_days_out_of_span', 'finhouse')()) }}
{%- endmacro %}

{% macro segment_spans() -%}
    select
        users.branch_code,
        loans.product,
        loans.loan_officer_id,
        min(cast(loans.disbursed_at as date)) as first_day
    from {{ ref('stg_oltp__loans') }} as loans
    left join {{ ref('stg_oltp__users') }} as users on loans.borrower_id = users.user_id
    where loans.disbursed_at is not null
    group by users.branch_code, loans.product, loans.loan_officer_id
{%- endmacro %}

{#- One hash join of the model with the segments' spans (PostgreSQL's index-driven form:
    postgres_performance/remove_segment_days_out_of_span.sql). -#}
{% macro default__remove_segment_days_out_of_span() -%}
    delete from {{ this }}
    using (
        select
            segment_days.branch_code,
            segment_days.product,
            segment_days.loan_officer_id,
            segment_days.as_of_date
        from {{ this }} as segment_days
        left join (
            {{ segment_spans() }}
        ) as spans
            on
                segment_days.branch_code = spans.branch_code
                and segment_days.product = spans.product
                and segment_days.loan_officer_id = spans.loan_officer_id
        where
            spans.first_day is null
            or segment_days.as_of_date < spans.first_day
            or segment_days.as_of_date > {{ as_of_date() }}
    ) as stale
    where
        {{ this }}.branch_code = stale.branch_code
        and {{ this }}.product = stale.product
        and {{ this }}.loan_officer_id = stale.loan_officer_id
        and {{ this }}.as_of_date = stale.as_of_date
{%- endmacro %}

{#- Post-hook of the incremental int_accounts__savings_interest: months left without daily
    balances, and accounts no longer interest-bearing, leave the model. Balances disappear
    only for an account with a deleted ledger row (see above), so only those accounts' months
    are looked up in the balances (through their (account_id, balance_date) index). -#}
{% macro remove_savings_interest_without_balances() -%}
    delete from {{ this }}
    where
        (
            account_id in ({{ accounts_with_deleted_ledger_rows() }})
            and not exists (
                select 1
                from {{ ref('int_accounts__daily_balances') }} as daily_balances
                where
                    daily_balances.account_id = {{ this }}.account_id
                    and daily_balances.balance_date >= {{ this }}.month_start
                    and daily_balances.balance_date
                    < cast({{ dbt.dateadd('month', 1, this ~ '.month_start') }} as date)
            )
        )
        or account_id not in (
            select accounts.account_id
            from {{ ref('stg_oltp__accounts') }} as accounts
            where accounts.interest_rate > 0
        )
{%- endmacro %}

{#- Post-hook of the per-loan incremental models (schedule, repayment steps, delinquency, and
    with by_as_of_date the loan features at disbursement, which hold loans disbursed by the
    as-of date only): loans no longer disbursed (or deleted in RAW) leave the model. The
    candidates are the loans RAW knows that are not (or no longer) disbursed, a few thousand;
    their rows are found through the model's loan_id index rather than by a scan of a
    multi-million-row model for loans missing from staging. -#}
{% macro remove_loans_no_longer_disbursed(by_as_of_date=false) -%}
    {%- set by_as_of = 'and cast(disbursed_at as date) <= ' ~ as_of_date() if by_as_of_date -%}
    {%- set candidates -%}
        select loan_id from {{ ref('stg_oltp__loans_versions') }}
        except
        select loan_id from {{ ref('stg_oltp__loans') }}
        where disbursed_at is not null {{ by_as_of or '' }}
    {%- endset -%}
    delete from {{ this }}
    where {{ in_small_set('loan_id', candidates) }}
{%- endmacro %}

{#- Post-hooks of the incremental int_accounts__monthly_branch_flows. Every month with a ledger
    row deleted since the last run was recomputed, so its rows carry the new ledger watermark;
    a month whose rows still carry an older one than a deletion in it had no ledger rows left
    to recompute, and leaves the model. So do months after the as-of date (a rebuild as of an
    earlier date). -#}
{% macro remove_monthly_flows_emptied_by_deletions() -%}
    delete from {{ this }}
    using (
        select computed_months.month_start
        from (
            select
                month_start,
                max(ledger_changed_at) as ledger_changed_at
            from {{ this }}
            group by month_start
        ) as computed_months
        inner join (
            select
                cast({{ dbt.date_trunc('month', 'cast(occurred_at as date)') }} as date)
                    as month_start,
                max(deleted_at) as deleted_at
            from {{ ref('stg_oltp__transactions_versions') }}
            where {{ raw_deleted() }}
            group by 1
        ) as deletions
            on
                computed_months.month_start = deletions.month_start
                and deletions.deleted_at > computed_months.ledger_changed_at
    ) as emptied
    where {{ this }}.month_start = emptied.month_start
{%- endmacro %}

{% macro remove_monthly_flows_after_as_of_date() -%}
    delete from {{ this }}
    where month_start > cast({{ dbt.date_trunc('month', as_of_date()) }} as date)
{%- endmacro %}

{#- Post-hook of int_loans__daily_delinquency and int_loans__month_boundary_days: a loan
    whose portfolio window is empty - closed or written off on the day it was disbursed, or
    disbursed after the as-of date - has no rows to restate it with, and delete+insert
    (keyed by loan) deletes only the loans it inserts: its earlier rows (a day in the
    portfolio, computed before the closure landed) would stay and count in the portfolio.
    They leave here; the candidates are such loans only, found through the loan_id index.
    The models that read those rows restate such a loan from its change time instead
    (int_portfolio__segment_days, int_customers__loan_default_labels). -#}
{% macro loans_with_empty_windows() -%}
    select loan_id from {{ ref('stg_oltp__loans') }}
    where
        disbursed_at is not null
        and (
            cast(disbursed_at as date) > {{ as_of_date() }}
            or cast(closed_at as date) <= cast(disbursed_at as date)
            or cast(written_off_at as date) <= cast(disbursed_at as date)
        )
{%- endmacro %}

{% macro remove_loans_with_empty_windows() -%}
    delete from {{ this }}
    where {{ in_small_set('loan_id', loans_with_empty_windows()) }}
{%- endmacro %}
