"""Market alerts: the staff-written alert files, subscriptions and publishing."""
