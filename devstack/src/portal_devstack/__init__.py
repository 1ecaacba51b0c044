"""The embedded development stack started by ``make run``. Never used in production."""
