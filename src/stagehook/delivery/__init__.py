"""Delivery: sign, guard and send outbox events to webhook URLs."""
