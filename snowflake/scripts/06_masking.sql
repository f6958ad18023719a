-- finhouse Snowflake setup, step 6: tag-based masking of PII.
-- The loader sets the tag `pii` on RAW's PII columns when it creates them (RAW tables
-- persist, so the tag does too); dbt post-hooks re-apply it to the STAGING views, which
-- `create or replace` recreates on every build. One policy per data type hangs on the tag:
-- a tagged column shows its value only to sessions holding PII_READER (TRANSFORMER inherits
-- it); everyone else sees a constant. FORCE makes re-running replace rather than fail.
use role sysadmin;

create tag if not exists &{database}.governance.pii
    allowed_values 'name', 'email', 'phone', 'national_id', 'date_of_birth'
    comment = 'personally identifiable information: masked unless PII_READER';

create masking policy if not exists &{database}.governance.pii_string
    as (val string) returns string ->
    case when is_role_in_session('PII_READER') then val else '***MASKED***' end
    comment = 'PII text: visible to PII_READER only';
alter masking policy &{database}.governance.pii_string set body ->
    case when is_role_in_session('PII_READER') then val else '***MASKED***' end;

create masking policy if not exists &{database}.governance.pii_date
    as (val date) returns date ->
    case when is_role_in_session('PII_READER') then val else null end
    comment = 'PII dates: visible to PII_READER only';
alter masking policy &{database}.governance.pii_date set body ->
    case when is_role_in_session('PII_READER') then val else null end;

alter tag &{database}.governance.pii set
    masking policy &{database}.governance.pii_string,
    masking policy &{database}.governance.pii_date
    force;

use role securityadmin;

grant usage on schema &{database}.governance to role loader;
grant usage on schema &{database}.governance to role transformer;
grant apply on tag &{database}.governance.pii to role loader;
grant apply on tag &{database}.governance.pii to role transformer;
