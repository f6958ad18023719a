-- finhouse Snowflake setup, step 1: one warehouse per workload.
-- Idempotent: CREATE … IF NOT EXISTS, then ALTER to the configured settings (so a changed
-- size is applied on the next run). Sizes and auto-suspend seconds are variables
-- (&{name}, SnowSQL's syntax; `finhouse snowflake apply` substitutes them).
use role sysadmin;

create warehouse if not exists loading
    warehouse_size = '&{loading_warehouse_size}'
    auto_suspend = &{loading_auto_suspend}
    auto_resume = true
    initially_suspended = true
    comment = 'finhouse ingestion: PUT, COPY INTO, MERGE into RAW';
alter warehouse loading set
    warehouse_size = '&{loading_warehouse_size}',
    auto_suspend = &{loading_auto_suspend},
    auto_resume = true;

create warehouse if not exists transforming
    warehouse_size = '&{transforming_warehouse_size}'
    auto_suspend = &{transforming_auto_suspend}
    auto_resume = true
    initially_suspended = true
    comment = 'finhouse dbt: staging, intermediate, marts';
alter warehouse transforming set
    warehouse_size = '&{transforming_warehouse_size}',
    auto_suspend = &{transforming_auto_suspend},
    auto_resume = true;

create warehouse if not exists reporting
    warehouse_size = '&{reporting_warehouse_size}'
    auto_suspend = &{reporting_auto_suspend}
    auto_resume = true
    initially_suspended = true
    comment = 'finhouse Superset: reads MARTS';
alter warehouse reporting set
    warehouse_size = '&{reporting_warehouse_size}',
    auto_suspend = &{reporting_auto_suspend},
    auto_resume = true;
