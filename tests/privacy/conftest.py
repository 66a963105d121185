from tests.payments.conftest import run_jobs

__all__ = ["run_jobs"]
