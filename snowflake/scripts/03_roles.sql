-- finhouse Snowflake setup, step 3: the role matrix (docs/architecture.md, principle 6) as a functional
-- hierarchy under SYSADMIN, plus PII_READER, the only role that sees PII unmasked.
--   LOADER       writes RAW and FINHOUSE_META (ingestion)
--   TRANSFORMER  reads RAW and FINHOUSE_META, owns STAGING, INTERMEDIATE, MARTS (dbt);
--                inherits PII_READER, so models can still derive from PII (e.g. age)
--   REPORTER     reads MARTS only (Superset)
use role useradmin;

create role if not exists loader comment = 'finhouse ingestion: writes RAW, FINHOUSE_META';
create role if not exists transformer comment = 'finhouse dbt: reads RAW, owns the modelled schemas';
create role if not exists reporter comment = 'finhouse Superset: reads MARTS only';
create role if not exists pii_reader comment = 'sees PII columns unmasked';

use role securityadmin;

grant role pii_reader to role transformer;
grant role loader to role sysadmin;
grant role transformer to role sysadmin;
grant role reporter to role sysadmin;
