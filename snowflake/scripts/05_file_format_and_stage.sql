-- finhouse Snowflake setup, step 5: the Parquet file format and the internal stage the
-- loader PUTs its files to (names unique per run; removed after a successful MERGE).
use role sysadmin;

create file format if not exists &{database}.finhouse_meta.parquet_format
    type = parquet
    binary_as_text = false
    comment = 'finhouse loader: one Parquet file per ~128 MB of extract';

create stage if not exists &{database}.finhouse_meta.load_stage
    file_format = &{database}.finhouse_meta.parquet_format
    comment = 'finhouse loader: run-scoped Parquet files';

grant usage on file format &{database}.finhouse_meta.parquet_format to role loader;
grant read, write on stage &{database}.finhouse_meta.load_stage to role loader;
