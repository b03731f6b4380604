"""payment-service: consumes order events, charges a payment provider, reports the results.

One payment per order at most: an inbox de-duplicates events, a unique order id guards the
payments table, and results leave through a transactional outbox.
"""
