from order_service.db.tables import metadata
from orderflow_servicekit import run_env

run_env(metadata)
