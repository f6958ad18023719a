-- finhouse Snowflake setup, step 7: one service user per role (key-pair auth, no
-- passwords), session time zone UTC. The public keys are variables: generate the pairs
-- (see snowflake/README.md) and pass them, e.g.
--   finhouse snowflake apply --var loader_rsa_public_key="$(sed '1d;$d' loader.pub | tr -d '\n')"
-- Nothing secret lives here: a public key is public; private keys stay with the services.
use role useradmin;

create user if not exists finhouse_loader
    type = service
    default_role = loader
    default_warehouse = loading
    comment = 'finhouse ingestion (Airflow)';
alter user finhouse_loader set
    default_role = loader, default_warehouse = loading, timezone = 'UTC';
alter user finhouse_loader set rsa_public_key = '&{loader_rsa_public_key}';

create user if not exists finhouse_transformer
    type = service
    default_role = transformer
    default_warehouse = transforming
    comment = 'finhouse dbt (Airflow, Cosmos)';
alter user finhouse_transformer set
    default_role = transformer, default_warehouse = transforming, timezone = 'UTC';
alter user finhouse_transformer set rsa_public_key = '&{transformer_rsa_public_key}';

create user if not exists finhouse_reporter
    type = service
    default_role = reporter
    default_warehouse = reporting
    comment = 'finhouse Superset';
alter user finhouse_reporter set
    default_role = reporter, default_warehouse = reporting, timezone = 'UTC';
alter user finhouse_reporter set rsa_public_key = '&{reporter_rsa_public_key}';

use role securityadmin;

grant role loader to user finhouse_loader;
grant role transformer to user finhouse_transformer;
grant role reporter to user finhouse_reporter;
