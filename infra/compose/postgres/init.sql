-- One database per service, each owned by a role of its own: neither service can read or change
-- the other's tables. Run once by the postgres image, on an empty data volume
-- (/docker-entrypoint-initdb.d). The passwords are for this local stack only; the services'
-- DATABASE_URL in infra/compose/*-service.env must match them.
CREATE ROLE order_service LOGIN PASSWORD 'order_service';
CREATE DATABASE orders OWNER order_service;
REVOKE ALL ON DATABASE orders FROM PUBLIC;

CREATE ROLE payment_service LOGIN PASSWORD 'payment_service';
CREATE DATABASE payments OWNER payment_service;
REVOKE ALL ON DATABASE payments FROM PUBLIC;
