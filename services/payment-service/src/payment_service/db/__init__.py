"""payment-service's database: the tables (`tables`) and the payments repository (`payments`)."""
