{#- The CTE `loans_to_compute (loan_id, source_changed_at)` of a per-loan incremental model
    whose rows depend only on a loan's terms and payments: on an incremental run, every loan
    whose terms or payments changed in RAW since the model last computed it
    (int_loans__source_changes: RAW's change time, however old the change), and every
    disbursed loan it holds no rows of (only disbursed loans have rows: its post-hook
    remove_loans_no_longer_disbursed removes the others' rows); on a full build, every
    loan. The model stores source_changed_at on each row. Ends with a comma: place it
    among the model's CTEs. -#}
{% macro loans_to_compute() %}
    {% if is_incremental() %}
        computed_loans as (
            select
                loan_id,
                max(source_changed_at) as source_changed_at
            from {{ this }}
            group by loan_id
        ),

        loans_to_compute as {{ materialized_cte() }} (
            select
                loan_changes.loan_id,
                loan_changes.changed_at as source_changed_at
            from {{ ref('int_loans__source_changes') }} as loan_changes
            left join computed_loans on loan_changes.loan_id = computed_loans.loan_id
            where
                (computed_loans.loan_id is null and loan_changes.is_disbursed)
                or loan_changes.changed_at > computed_loans.source_changed_at
        ),
    {% else %}
        loans_to_compute as (
            select
                loan_id,
                changed_at as source_changed_at
            from {{ ref('int_loans__source_changes') }}
        ),
    {% endif %}
{% endmacro %}
