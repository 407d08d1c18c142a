"""Points seen from the app: balances, history, adjustments, the price table (API and pages)."""
